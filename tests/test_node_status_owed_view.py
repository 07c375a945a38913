"""A status's owed part costs nothing for what did not move (issue 18, held: ``OwedView``): a device's
counts are copied and worded again only when its counts (a new object from ``OwedCounts``) or the
colour moved, and the venue's sum moves by the devices that moved. What a status says is what the
whole computation said, for every sequence of counts."""

from __future__ import annotations

import random

from meshpos.model.tally import add
from meshpos.node_status import NodeStatus, OwedView
from meshpos.sync import Synchronizer

from .test_node_status import status

Owed = dict[str, dict[str, int]]


def test_a_status_copies_and_words_only_the_devices_whose_counts_moved() -> None:
    sync = Synchronizer(venue="v", node_id="R1", role="register", client_id=7)
    view = OwedView()
    owed = {f"R{n}": {"receipts": n} for n in range(1, 21)}
    first = status(owed, sync=sync, view=view)
    assert view.made == 20
    again = status(owed, sync=sync, view=view)  # nothing moved
    assert view.made == 20
    assert again.owed_by_device is first.owed_by_device  # fails before: every device copied again
    moved = {**owed, "R7": {"receipts": 8}}  # one receipt of R7 arrived (a new object: OwedCounts)
    after = status(moved, sync=sync, view=view)
    assert view.made == 21
    assert after.owed_by_device["R3"] is first.owed_by_device["R3"]  # fails before: copied
    assert after.owed_by_device["R7"] == {"receipts": 8}
    assert after.venue_owed == {"receipts": 211}
    assert first.owed_by_device["R7"] == {"receipts": 7}  # what a status said stays as it was
    assert first.venue_owed == {"receipts": 210}


def _reference(owed: Owed, uplink: bool) -> NodeStatus:
    sync = Synchronizer(venue="v", node_id="R1", role="register", client_id=7)
    return status(owed, uplink=uplink, sync=sync, view=None)


def test_a_kept_view_says_what_the_whole_computation_says_for_any_counts() -> None:
    rng = random.Random(18)
    sync = Synchronizer(venue="v", node_id="R1", role="register", client_id=7)
    view = OwedView()
    devices = ["R1", "R2", "R3", "R4", "?"]
    kinds = ["receipts", "payments", "refunds"]
    owed: Owed = {}
    for _ in range(400):
        owed = dict(owed)  # (OwedCounts: a new object when anything moved)
        device = rng.choice(devices)
        if rng.random() < 0.2:
            owed.pop(device, None)
        else:
            owed[device] = {k: rng.randrange(0, 3) for k in rng.sample(kinds, rng.randrange(0, 3))}
        uplink = rng.random() < 0.8  # the colour moves the words
        kept = status(owed, uplink=uplink, sync=sync, view=view)
        whole = _reference(owed, uplink)
        assert kept == whole
        venue: dict[str, int] = {}
        for gap in owed.values():
            if gap:
                add(venue, gap)
        assert kept.venue_owed == venue
