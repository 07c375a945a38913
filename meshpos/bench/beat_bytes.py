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
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from pycrdt import Map

from meshpos.bench.sim import DOC, Venue
from meshpos.errors import InvalidInput
from meshpos.model.replica import decode_state_vector
from meshpos.sync import HeldCheck, HeldSigner
from meshpos.sync._codec import HEARTBEAT
from meshpos.trust import init_venue
from meshpos.trust.certs import new_private_key, private_key_pem
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner
from meshpos.trust.identity import identity_from_pems

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


class _Keys:
    """(``--signed``) a venue CA in a temporary directory and a device key per node: real ECDSA
    P-256 signatures and checks (``trust/device_word.py``), counted."""

    def __init__(self, directory: Path) -> None:
        self.authority = init_venue(directory / "venue", "Bench", "sim")
        self.signers: list[DeviceWordSigner] = []
        self.checkers: list[DeviceWordChecker] = []

    def __call__(self, name: str) -> tuple[HeldSigner, HeldCheck]:
        key = new_private_key()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cert = self.authority.issue(public, name, "register")
        identity = identity_from_pems(private_key_pem(key), cert, self.authority.ca_pem)
        signer = DeviceWordSigner(identity)
        checker = DeviceWordChecker(self.authority.ca_pem, "sim")
        self.signers.append(signer)
        self.checkers.append(checker)
        return signer, checker

    def counts(self) -> tuple[int, int]:
        """(words signed, signatures verified) so far, all nodes."""
        return sum(s.signed for s in self.signers), sum(c.verified for c in self.checkers)


class _Selling:
    def __init__(
        self, nodes: int, seed: int, keys: _Keys | None = None, strict: bool = False
    ) -> None:
        self.keys = keys
        self.venue = Venue(nodes, seed, keys, strict)
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
        """(bytes per field, heartbeat bytes, heartbeats, receipts sold) over ``seconds``; the
        process CPU seconds and (signed, verified) counts of the phase in ``last_cpu``, ``last_signs``."""
        before = (Counter(self.fields.by_field), self.fields.bytes, self.fields.beats, self.count)
        cpu = time.process_time()
        signs = self.keys.counts() if self.keys is not None else (0, 0)
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
        self.last_cpu = time.process_time() - cpu
        after = self.keys.counts() if self.keys is not None else (0, 0)
        self.last_signs = (after[0] - signs[0], after[1] - signs[1])
        return (
            self.fields.by_field - before[0],
            self.fields.bytes - before[1],
            self.fields.beats - before[2],
            self.count - before[3],
        )


def _counted(venue: Venue) -> float:
    """Over every register's latest sale, the share of the devices holding it that its seller
    counts ("on k of n": k as the durability count makes it, ``held_by``)."""
    counted = holders = 0
    states = {n: decode_state_vector(s.docs[DOC].get_state()) for n, s in venue.net.nodes.items()}
    for name, sync in venue.net.nodes.items():
        clock = states[name].get(sync.client_id, 0)
        if not clock:
            continue
        held = sync.held_by(DOC)
        holding = [
            n for n, sv in states.items() if n != name and sv.get(sync.client_id, 0) >= clock
        ]
        holders += len(holding)
        counted += sum(held.get(n, {}).get(sync.client_id, 0) >= clock for n in holding)
    return round(counted / max(holders, 1), 3)


def run_beat_bytes(
    nodes: int, rate: float, seconds: float, seed: int, signed: bool = False, strict: bool = False
) -> dict[str, Any]:
    if nodes < 2 or rate <= 0 or seconds <= 0:
        raise InvalidInput("beat_bytes: --nodes at least 2, --rate and --seconds above 0")
    with tempfile.TemporaryDirectory() as directory:
        keys = _Keys(Path(directory)) if signed else None
        selling = _Selling(nodes, seed, keys, strict)
        selling.venue.net.advance(SETTLE_S, step=STEP)
        fields, total, beats, receipts = selling.phase(seconds, rate)
        cpu, signs = selling.last_cpu, selling.last_signs
        idle_fields, idle_total, idle_beats, _ = selling.phase(seconds, 0.0)
        idle_cpu, idle_signs = selling.last_cpu, selling.last_signs
        counted = _counted(selling.venue)
    per = max(receipts, 1)
    return {
        "nodes": nodes,
        "signed": signed,
        "strict": strict or signed,
        # (issue 18, sign) the in-memory venue's process CPU per node (the sans-I/O core only: no
        # TLS, no store), selling per receipt and idle per second; signatures made and verified
        "cpu_ms_per_receipt_per_node": round(cpu * 1000 / per / nodes, 3),
        "idle_cpu_ms_per_s_per_node": round(idle_cpu * 1000 / seconds / nodes, 3),
        "signed_per_receipt": round(signs[0] / per, 2),
        "verified_per_receipt": round(signs[1] / per, 2),
        "idle_signed": idle_signs[0],
        "idle_verified": idle_signs[1],
        # each register's latest sale: the devices it counts holding it, of those that do
        "counted_of_holders": counted,
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
    parser.add_argument(
        "--signed",
        action="store_true",
        help="strict nodes signing their attestations with real device keys (issue 18, sign)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="strict nodes without signers (an N-1 device's words: only direct ones count)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.nodes.split(",")]
        reports = [
            run_beat_bytes(n, args.rate, args.seconds, args.seed, args.signed, args.strict)
            for n in sizes
        ]
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
