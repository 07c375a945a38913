"""``python -m meshpos.bench.beat_parts --json``: where a receipt's CPU goes in each device's synchronizer.

docs/benchmarks.md (the fourteenth session's part ``recv``). ``meshpos bench mesh --nodes 50`` reports
one figure, CPU per device per receipt, and needs 50 processes on a machine its other users keep busy.
This runs ``meshpos.bench.beat_bytes``' in-memory venue (the sans-I/O synchronizers of ``--nodes``
strict devices signing their attestations with real keys, seeded, simulated time: no TLS, no store,
no model) and times a few of the synchronizer's parts with the thread's CPU clock: after a warm-up of
sales (every device's certificate and every author's tree met once), ``--seconds`` of sales at
``--rate``, then as long idle. Each part's figure is its CPU while selling less its CPU idle over
the same time, per receipt and device (nested parts: each includes those it calls); idle, per device
and second. Counts: word checks, signatures verified and made, per receipt and device.

One process holds every device: ``sync._topology.tree`` keeps the trees of one graph, so the
devices' forwarding and attestations compute trees a real device keeps (read ``_forward`` and
``_send_beats`` as upper bounds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshpos.bench.beat_bytes import SETTLE_S, STEP, _Keys, _Selling
from meshpos.sync._synchronizer import Synchronizer
from meshpos.trust.device_word import DeviceWordChecker

#: the parts timed (methods of ``Synchronizer``; nested: receiving holds the rest of the intake)
PARTS = (
    "receive_data",
    "_on_heartbeat",
    "_check_words",
    "_learn_held",
    "_learn_far",
    "_on_doc",
    "_forward",
    "tick",
    "_send_beats",
)


class _Timed:
    """Each part's thread CPU, and the word checks made, while installed."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.checks = 0
        self._undo: list[tuple[type, str, Any]] = []

    def install(self) -> None:
        for name in PARTS:
            self._wrap(Synchronizer, name, self._timing(name, getattr(Synchronizer, name)))
        check = DeviceWordChecker.__call__

        def counted(checker: DeviceWordChecker, word: Any) -> str:
            self.checks += 1
            return check(checker, word)

        self._wrap(DeviceWordChecker, "__call__", counted)

    def remove(self) -> None:
        for owner, name, original in reversed(self._undo):
            if original is None:  # (a mixin's method: the class's own attribute goes)
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._undo.clear()

    def _wrap(self, owner: type, name: str, replacement: Callable[..., Any]) -> None:
        self._undo.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)

    def _timing(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        spent = self.spent

        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - begin

        return timed


def run_beat_parts(
    nodes: int, rate: float, seconds: float, warmup: float, seed: int
) -> dict[str, Any]:
    timed = _Timed()
    windows: dict[str, tuple[dict[str, float], int, float, tuple[int, int], int]] = {}
    with tempfile.TemporaryDirectory() as directory:
        selling = _Selling(nodes, seed, _Keys(Path(directory)))
        selling.venue.net.tap = None  # (beat_bytes' field count: the bench's own JSON work)
        selling.venue.net.advance(SETTLE_S, step=STEP)
        selling.phase(warmup, rate)
        timed.install()
        try:
            for name, offered in (("sale", rate), ("idle", 0.0)):
                timed.spent.clear()
                timed.checks = 0
                receipts = selling.phase(seconds, offered)[3]
                windows[name] = (
                    dict(timed.spent),
                    timed.checks,
                    selling.last_cpu,
                    selling.last_signs,
                    receipts,
                )
        finally:
            timed.remove()
    sale, idle = windows["sale"], windows["idle"]
    per = max(sale[4], 1) * nodes / 1000  # ms per receipt and device
    node_s = seconds * nodes / 1000  # ms per device and second
    return {
        "nodes": nodes,
        "rate": rate,
        "seconds": seconds,
        "receipts": sale[4],
        "process_cpu_ms_per_receipt_per_node": round((sale[2] - idle[2]) / per, 3),
        "idle_process_cpu_ms_per_s_per_node": round(idle[2] / node_s, 3),
        "parts_ms_per_receipt_per_node": {
            part: round((sale[0].get(part, 0.0) - idle[0].get(part, 0.0)) / per, 3)
            for part in PARTS
        },
        "idle_parts_ms_per_s_per_node": {
            part: round(idle[0].get(part, 0.0) / node_s, 3) for part in PARTS
        },
        "checks_per_receipt_per_node": round(sale[1] / per / 1000, 3),
        "verified_per_receipt_per_node": round(sale[3][1] / per / 1000, 3),
        "signed_per_receipt_per_node": round(sale[3][0] / per / 1000, 3),
        "idle_checks_per_s_per_node": round(idle[1] / node_s / 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.beat_parts", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nodes", type=int, default=50, help="devices in the venue")
    parser.add_argument("--rate", type=float, default=5.0, help="receipts/s, all registers")
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds per window")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="simulated seconds of sales first"
    )
    parser.add_argument("--seed", type=int, default=1, help="the random generator's seed")
    args = parser.parse_args(argv)
    if args.nodes < 2 or args.rate <= 0 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--nodes at least 2, --rate and --seconds above 0, --warmup not below 0")
    report = run_beat_parts(args.nodes, args.rate, args.seconds, args.warmup, args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        parts = report["parts_ms_per_receipt_per_node"]
        print(
            f"{report['nodes']} devices: {report['process_cpu_ms_per_receipt_per_node']} ms per "
            f"receipt and device; by part {parts}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
