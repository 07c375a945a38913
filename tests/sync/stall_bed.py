"""The in-memory bed's counts with node stalls injected (issue 18, stall; docs/benchmarks.md).

``PYTHONHASHSEED=0 python -m tests.sync.stall_bed [--off | --no-words] [--seeds 3 4] [--nodes 50]``: fifty keyed
``Synchronizer`` objects on the in-memory network (``test_sync_stalls.Bed``), settled; eight times a
random node's loop stops for 1-6 s (``MemoryNetwork.stall``), 0.2-1 s apart; then 10 s more. One
JSON line a seed: the live peers the stalled nodes marked gone, the notices they signed, every
node's notices and refusals, the marks left. Simulated time, seeded: the same every run, whatever
the machine's load. ``--off``: without the stall rule (``Stalls._resumed`` as main had it: the
moment is taken as it comes), for the before. ``--no-words``: the stall rule on, but no stall
signs its word (``Stalls._sign_stall`` as main had it: none), the before of the twenty-second
session's part ``stallword``: the signers distrusted about a stalled node, and their refusals.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from meshpos.sync import Synchronizer
from meshpos.sync._stalls import Stalls
from meshpos.trust.authority import VenueAuthority, init_venue

from .helpers import VENUE
from .test_sync_stalls import Bed

#: (signer, node) of every gone notice signed since the bed settled
SIGNED: list[tuple[str, str]] = []
_sign = Synchronizer._sign_notice


def _signing(self: Synchronizer, node: str, seq: int, now: float) -> None:
    SIGNED.append((self.node_id, node))
    _sign(self, node, seq, now)


def run(authority: VenueAuthority, seed: int, n: int) -> dict[str, Any]:
    bed = Bed(authority, n, seed=seed)
    SIGNED.clear()
    rng = random.Random(seed)
    names = sorted(bed.net.nodes)
    stalled: list[str] = []
    signed = {k: s.notices.signed for k, s in bed.net.nodes.items()}
    for _ in range(8):
        name = rng.choice(names)
        stalled.append(name)
        bed.net.stall(name, rng.uniform(1.0, 6.0))
        bed.net.advance(rng.uniform(0.2, 1.0))
    bed.net.advance(10.0)
    blamed = {(who, of) for _, who, of in bed.gone if who in stalled and of not in stalled}
    refusals: dict[str, int] = {}
    for sync in bed.nodes:
        for kind, count in sync.claim_refusals.counts.items():
            refusals[kind] = refusals.get(kind, 0) + count
    return {
        "seed": seed,
        "nodes": n,
        "stalls": len(stalled),
        "live_marked_by_stalled": len(blamed),
        "notices_signed_by_stalled": sum(
            bed.net.nodes[k].notices.signed - signed[k] for k in set(stalled)
        ),
        "notices_of_live_by_stalled": sum(
            1 for who, of in SIGNED if who in stalled and of not in stalled
        ),
        "notices_signed_all": sum(s.notices.signed - signed[k] for k, s in bed.net.nodes.items()),
        "refusals": refusals,
        "marks_left": sum(s._far.marked(x) for s in bed.nodes for x in names),
        "stall_words_signed": sum(s.stall_words.signed for s in bed.nodes),
        "marks_excused": sum(s.stall_words.excused for s in bed.nodes),
        "signers_forgiven": sum(s.stall_words.forgiven for s in bed.nodes),
        # (node, signer) pairs distrusted at the end, on any node: each a signer not heard about
        # that node for 5 minutes
        "signers_distrusted": sum(len(s.notices._distrusted) for s in bed.nodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--off", action="store_true", help="without the stall rule (the before)")
    parser.add_argument("--no-words", action="store_true", help="no stall signs its word")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    Synchronizer._sign_notice = _signing  # type: ignore[method-assign,assignment]
    if args.off:
        Stalls._resumed = lambda self, now: now  # type: ignore[method-assign]
    if args.no_words:
        Stalls._sign_stall = lambda self, stall, now: None  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        authority = init_venue(Path(tmp) / "venue", "Cafe", VENUE)
        for seed in args.seeds:
            head = {"stall_rule": not args.off, "stall_words": not (args.off or args.no_words)}
            print(json.dumps({**head, **run(authority, seed, args.nodes)}))


if __name__ == "__main__":
    main()
