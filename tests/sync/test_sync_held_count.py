"""The latest sale's device count is kept between statuses and re-read only for the nodes whose held
state moved (issue 18, held: ``register/held_count.py``, ``sync/_held.Moved``). It must move at once
for every input that moves ``held_by``: a link's step 1, an attestation from beyond the links, a day
closed; and equal what a count from ``held_by`` says, always."""

from __future__ import annotations

from pycrdt import Map

from meshpos.model.tally import covers
from meshpos.register.held_count import HeldCount
from meshpos.sync import Synchronizer
from meshpos.sync._updates import held_clocks

from .helpers import commit, items_node, pump, sync_pair
from .test_sync_topology import DOC, Venue


def full(sync: Synchronizer, needed: dict[int, int]) -> tuple[int, set[str]]:
    """What the count was before it was kept: every node's held state, built and tested."""
    held = sync.held_by(DOC)
    return sum(1 for state in held.values() if covers(state, needed)), set(held)


def write(sync: Synchronizer, key: str) -> dict[int, int]:
    doc = sync.docs[DOC]
    with doc.transaction():
        doc.get("items", type=Map)[key] = "x"
    commit(sync)
    return {sync.client_id: held_clocks(doc)[sync.client_id]}


def test_a_links_step_1_moves_the_kept_count_at_once() -> None:
    a, b = items_node("A", DOC), items_node("B", DOC)
    ka, kb = sync_pair(a, b)  # no features: an N-1 pair, no attestations, only step 1s
    count = HeldCount()
    needed = write(a, "sale")
    assert count.count(a, DOC, needed) == full(a, needed)  # (B's step 1 of the pair's start)
    assert count.count(a, DOC, needed)[0] == 0
    pump(a, ka, b, kb)
    commit(b)
    b.tick(
        b.config.anti_entropy_interval + 1
    )  # B's anti-entropy: its step 1 says it holds the sale
    pump(a, ka, b, kb)
    assert full(a, needed)[0] == 1
    assert count.count(a, DOC, needed) == full(a, needed)  # fails if a step 1 moves nothing
    assert count.recounts == 1  # the receipt counted once; B alone read again


def test_attestations_from_beyond_the_links_move_the_kept_count_as_they_arrive() -> None:
    venue = Venue(20)
    venue.settle(30.0)
    seller = venue.net.nodes["R007"]
    count = HeldCount()
    for sale in (1, 2):  # the second sale's attestations rise what the first one's made
        client, clock = venue.write("R007", f"sale-{sale}")
        needed = {client: clock}
        seen = []
        for _ in range(300):  # each step: the kept count equals the one built from held_by
            kept = count.count(seller, DOC, needed)
            assert kept == full(seller, needed)  # fails if an attestation moves nothing
            seen.append(kept[0])
            venue.net.advance(0.05, step=0.05)
        assert seen[-1] == 19  # every other device, most of them beyond the seller's links
        assert len(set(seen)) > 3  # (it rose step by step, each read on the kept count)
        assert count.recounts == sale  # a new receipt is counted afresh, once


def test_a_closed_day_moves_the_kept_count() -> None:
    a, b = items_node("A", DOC), items_node("B", DOC)
    ka, kb = sync_pair(a, b)
    count = HeldCount()
    needed = write(a, "sale")
    pump(a, ka, b, kb)
    commit(b)
    b.tick(b.config.anti_entropy_interval + 1)
    pump(a, ka, b, kb)
    assert count.count(a, DOC, needed) == (1, {"B"})
    a.close_doc(DOC)
    assert full(a, needed) == (0, set())
    assert count.count(a, DOC, needed) == (0, set())  # fails if a closed day moves nothing
