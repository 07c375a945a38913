"""``python -m meshpos.bench.beat_bytes``: what a receipt adds to the heartbeats, field by field (issue 18).

docs/benchmarks.md (beat bytes). At a venue's real rate (a sale every few seconds per register) the
heartbeats are a large part of what every device sends, and part of them moves with the sales: the
attestations of who holds what (``held``), the pending counts, and the console's state and report
counts passed on beyond the relay's links. ``meshpos bench mesh`` runs no console, so it cannot show the
last; this runs the sans-I/O core on the in-memory network (``meshpos.bench.sim``'s venue: simulated
time, seeded, the same figures on a loaded machine) with a console that takes every sale: every half
second the relay learns the console's state vector and report counts of everything sold so far, as
``relay/service.py`` tells it. It sells at ``--rate`` receipts/s for ``--seconds``, then idles as long,
and prints the heartbeat bytes per receipt of each field while selling, net of the idle rate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from pycrdt import Map

from meshpos.bench.sim import DOC, Venue
from meshpos.errors import InvalidInput
from meshpos.model.replica import decode_state_vector
from meshpos.sync._codec import HEARTBEAT

#: how often the console's state reaches the relay (simulated seconds)
CONSOLE_EVERY = 0.5
STEP = 0.05
SETTLE_S = 30.0


class _Fields:
    """A tap on the in-memory network: heartbeat bytes per JSON field (each field's value, encoded)."""

    def __init__(self) -> None:
        self.by_field: Counter[str] = Counter()
        self.bytes = 0
        self.beats = 0

    def __call__(self, sender: str, receiver: str, data: bytes) -> None:
        if data[:1] != bytes([HEARTBEAT]):
            return
        self.beats += 1
        self.bytes += len(data)
        for field, value in json.loads(data[1:]).items():
            self.by_field[field] += len(json.dumps(value, separators=(",", ":")))


class _Selling:
    def __init__(self, nodes: int, seed: int) -> None:
        self.venue = Venue(nodes, seed)
        self.fields = _Fields()
        tap = self.venue.net.tap
        fields = self.fields

        def both(sender: str, receiver: str, data: bytes) -> None:
            if tap is not None:
                tap(sender, receiver, data)
            fields(sender, receiver, data)

        self.venue.net.tap = both
        self.sold: Counter[str] = Counter()
        self.count = 0

    def _sell(self) -> None:
        names = sorted(self.venue.net.nodes)
        name = names[self.count % len(names)]
        doc = self.venue.net.nodes[name].docs[DOC]
        with doc.transaction():
            doc.get("sim", type=Map)[f"s{self.count}"] = "x" * 400  # a sale's size
        self.venue.net.pump(name)
        self.sold[name] += 1
        self.count += 1

    def _console_takes(self, relay: str | None) -> None:
        if relay is None or relay not in self.venue.net.nodes:
            return
        sv: dict[int, int] = {}
        for sync in self.venue.net.nodes.values():
            for client, clock in decode_state_vector(sync.docs[DOC].get_state()).items():
                sv[client] = max(sv.get(client, 0), clock)
        node = self.venue.net.nodes[relay]
        node.set_console_state(DOC, sv)
        node.set_console_reports(
            DOC, {name: {"receipts": n, "payments": n} for name, n in self.sold.items()}
        )

    def phase(self, seconds: float, rate: float) -> tuple[Counter[str], int, int, int]:
        """(bytes per field, heartbeat bytes, heartbeats, receipts sold) over ``seconds``."""
        before = (Counter(self.fields.by_field), self.fields.bytes, self.fields.beats, self.count)
        relay = self.venue.agreed_relay()
        owed, elapsed, since = 0.0, 0.0, 0.0
        while elapsed < seconds:
            owed += rate * STEP
            while owed >= 1:
                owed -= 1
                self._sell()
            self.venue.net.advance(STEP, step=STEP)
            elapsed += STEP
            since += STEP
            if since >= CONSOLE_EVERY:
                since = 0.0
                self._console_takes(relay)
        return (
            self.fields.by_field - before[0],
            self.fields.bytes - before[1],
            self.fields.beats - before[2],
            self.count - before[3],
        )


def run_beat_bytes(nodes: int, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    if nodes < 2 or rate <= 0 or seconds <= 0:
        raise InvalidInput("beat_bytes: --nodes at least 2, --rate and --seconds above 0")
    selling = _Selling(nodes, seed)
    selling.venue.net.advance(SETTLE_S, step=STEP)
    fields, total, beats, receipts = selling.phase(seconds, rate)
    idle_fields, idle_total, idle_beats, _ = selling.phase(seconds, 0.0)
    per = max(receipts, 1)
    return {
        "nodes": nodes,
        "rate": rate,
        "seconds": seconds,
        "receipts": receipts,
        "relay": selling.venue.agreed_relay(),
        "heartbeats_per_s": round(beats / seconds, 1),
        "idle_heartbeats_per_s": round(idle_beats / seconds, 1),
        "heartbeat_bytes_per_receipt": round(total / per),
        # what selling adds: the sale phase less the idle phase that follows (same length)
        "extra_heartbeat_bytes_per_receipt": round((total - idle_total) / per),
        "extra_bytes_per_receipt_by_field": {
            field: round((n - idle_fields.get(field, 0)) / per)
            for field, n in fields.most_common()
            if n - idle_fields.get(field, 0) > 0
        },
        "pending_left": sum(s.pending(DOC) for s in selling.venue.net.nodes.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.beat_bytes", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object per size")
    parser.add_argument("--nodes", default="6,20,50", help="venue sizes, such as 6,20,50")
    parser.add_argument("--rate", type=float, default=5.0, help="receipts/s, all registers")
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds selling")
    parser.add_argument("--seed", type=int, default=1, help="the random generator's seed")
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.nodes.split(",")]
        reports = [run_beat_bytes(n, args.rate, args.seconds, args.seed) for n in sizes]
    except (ValueError, InvalidInput) as exc:
        print(f"beat_bytes: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        if args.json:
            print(json.dumps(report))
        else:
            print(
                f"{report['nodes']} nodes: {report['heartbeat_bytes_per_receipt']} heartbeat B per "
                f"receipt, {report['extra_heartbeat_bytes_per_receipt']} of it selling's; by field "
                f"{report['extra_bytes_per_receipt_by_field']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
