"""The premise of the synchronizer's recount trigger (``Exchange.reordered``), on the model's own writes: a
live tally of a day drifts from a fresh count only across a change while the day holds something past a
hole in an author's clocks (issue 18, tallybug; ``tests/sync/test_sync_hole_counts.py`` for why).

Registers sell, pay, refund, open and close shifts (``test_convergence.act``) and exchange their updates
in random subsets and orders, one update at a time, as ``test_convergence`` does; after every action and
every delivered update each day's live tally is compared with a fresh count.
"""

from __future__ import annotations

import contextlib
import random

from meshpos.errors import DomainError
from meshpos.model import Venue
from meshpos.model.tally import LedgerTally
from meshpos.sync._updates import past_holes

from .conftest import Acked, make_venue
from .test_convergence import act


class _Watch:
    """Each day of each register: its live tally and whether it held a hole when last looked at."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[int, str], tuple[LedgerTally, bool]] = {}
        self.drifts = 0

    def look(self, who: int, venue: Venue) -> None:
        for name in venue.replica.names():
            if not name.startswith("ledger/"):
                continue
            doc = venue.replica.doc(name)
            holed_now = bool(past_holes(doc))
            kept = self.tallies.get((who, name))
            if kept is None or kept[0].doc is not doc:
                self.tallies[who, name] = (LedgerTally(doc), holed_now)
                continue
            tally, holed_before = kept
            if tally.recount():
                self.drifts += 1
                assert holed_before or holed_now, f"{name} drifted without a hole"
            self.tallies[who, name] = (tally, holed_now)


def test_a_live_tally_drifts_only_across_a_change_while_its_day_holds_a_hole() -> None:
    watch = _Watch()
    for seed in range(12):
        rng = random.Random(seed)
        first = make_venue("R1")
        venues = [first] + [
            make_venue(f"R{i + 1}", catalog_from=first.replica) for i in range(1, rng.randint(2, 4))
        ]
        log: list[tuple[int, str, bytes]] = []
        delivered: list[set[int]] = [set() for _ in venues]
        for step in range(rng.randint(20, 60)):
            who = rng.randrange(len(venues))
            with contextlib.suppress(DomainError):  # (a refused action writes nothing)
                act(venues[who], rng, step, Acked())
            for captured in venues[who].replica.take_updates():
                log.append((who, captured.document, captured.update))
            watch.look(who, venues[who])
            if rng.random() < 0.3:  # a partial, shuffled sync
                dst = rng.randrange(len(venues))
                for i in rng.sample(range(len(log)), k=rng.randint(0, len(log))):
                    src, name, update = log[i]
                    if src != dst and i not in delivered[dst]:
                        venues[dst].replica.apply(name, update)
                        delivered[dst].add(i)
                        watch.look(dst, venues[dst])
                venues[dst].replica.take_updates()
    assert watch.drifts > 0, "no tally drifted: this tests nothing"
