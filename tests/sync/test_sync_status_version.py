"""``status_version`` moves only on what a register's status shows (issue 18, status2): a peer's
per-document pending counts, its list of linked peers and its gone notes move on every sale and every
link change elsewhere, yet no status shows them (a peer's pending count is its own business; the status
reads its owed counts, role, relay claim, uplink and problem; gone notes move the far table's version when
they are news). An idle 20-device bench computed the status about once a second per device for them."""

from __future__ import annotations

import random

import pytest
from pycrdt import Map

from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync.memory import MemoryNetwork

from .helpers import VENUE

PERIOD = 1.0
LEDGER = "ledger/2026-11-01"


@pytest.fixture
def net() -> MemoryNetwork:
    """Three registers, settled."""
    rng = random.Random(11)
    net = MemoryNetwork(rng)
    config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5.0)
    for name in ["r1", "r2", "r3"]:
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role="register",
            client_id=rng.randrange(1, 2**53),
            config=config,
        )
        sync.open_doc(LEDGER)
        net.add(sync)
    net.advance(10 * PERIOD)
    return net


def _woken(sync: Synchronizer) -> list[str]:
    """What wakes ``sync``: its ticker ("tick", ``on_moved``) or its hooks ("hooks", ``on_drained``)."""
    woken: list[str] = []
    sync.on_moved = lambda: woken.append("tick")
    sync.on_drained = lambda: woken.append("hooks")
    return woken


def test_a_peers_pending_count_moving_does_not_move_the_status_version(net: MemoryNetwork) -> None:
    observer, seller = net.nodes["r1"], net.nodes["r2"]
    before = observer.status_version
    payments = seller.open_doc(LEDGER).get("payments", type=Map)
    for k in range(3):
        payments[f"p{k}"] = Map({"amount": 500})
        net.advance(2 * PERIOD)
    assert observer.presence["r2"].pending.get(LEDGER, 0) > 0  # its beats did say it
    assert observer.status_version == before


def test_what_a_status_shows_still_moves_it(net: MemoryNetwork) -> None:
    observer = net.nodes["r1"]
    before = observer.status_version
    net.nodes["r2"].set_problem("the console refused R2: wrong venue token")
    net.advance(2 * PERIOD)
    moved = observer.status_version
    assert moved != before
    owed = observer.owed_version  # (issue 18, rounds: a peer's owed counts have their own)
    net.nodes["r3"].set_owed({"receipts": 2})
    net.advance(2 * PERIOD)
    assert observer.owed_version != owed


def test_a_peers_owed_counts_wake_the_status_hooks_not_the_election(net: MemoryNetwork) -> None:
    """(issue 18, rounds) A peer's owed counts moved ``status_version`` after every sale of every
    peer: each device elected and computed its status again. They move ``owed_version`` and wake
    only the hooks after the pump (``on_drained``); the status compares the counts themselves.
    Fails before: ``status_version`` moved (and ``owed_version`` did not exist)."""
    observer = net.nodes["r1"]
    woken = _woken(observer)
    version, owed = observer.status_version, observer.owed_version
    net.nodes["r3"].set_owed({"receipts": 2})
    net.advance(2 * PERIOD)
    assert observer.status_version == version
    assert observer.owed_version == owed + 1  # once: the next beats repeat it
    assert woken == ["hooks"]
    assert observer.presence["r3"].owed == {"receipts": 2}  # what the status reads


def test_what_a_node_tells_of_its_own_owed_counts_moves_nothing_here(net: MemoryNetwork) -> None:
    """(issue 18, rounds2) Each own sale's ``set_owed`` moved this node's ``status_version`` and woke
    a whole round (a tick and an election), though nothing here is computed from what it tells of
    itself. Fails before: the version moved and the ticker was woken. Peers still hear it."""
    teller = net.nodes["r3"]
    woken = _woken(teller)
    version = teller.status_version
    teller.set_owed({"receipts": 2})
    assert teller.status_version == version
    assert woken == []
    net.advance(2 * PERIOD)
    assert net.nodes["r1"].presence["r3"].owed == {"receipts": 2}
