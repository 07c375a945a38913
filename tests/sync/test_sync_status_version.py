"""``status_version`` moves only on what a register's status shows (issue 18, status2): a peer's
per-document pending counts, its list of linked peers and its gone notes move on every sale and every
link change elsewhere, yet no status shows them (a peer's pending count is its own business; the status
reads its owed counts, role, relay claim, uplink and problem; gone notes move the far table's version when
they are news). An idle 20-device bench computed the status about once a second per device for them."""

from __future__ import annotations

import random

from pycrdt import Map

from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync.memory import MemoryNetwork

from .helpers import VENUE

PERIOD = 1.0
LEDGER = "ledger/2026-11-01"


def _mesh(names: list[str]) -> MemoryNetwork:
    rng = random.Random(11)
    net = MemoryNetwork(rng)
    config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5.0)
    for name in names:
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role="register",
            client_id=rng.randrange(1, 2**53),
            config=config,
        )
        sync.open_doc(LEDGER)
        net.add(sync)
    return net


def test_a_peers_pending_count_moving_does_not_move_the_status_version() -> None:
    names = ["r1", "r2", "r3"]
    net = _mesh(names)
    net.advance(10 * PERIOD)
    observer, seller = net.nodes["r1"], net.nodes["r2"]
    before = observer.status_version
    payments = seller.open_doc(LEDGER).get("payments", type=Map)
    for k in range(3):
        payments[f"p{k}"] = Map({"amount": 500})
        net.advance(2 * PERIOD)
    assert observer.presence["r2"].pending.get(LEDGER, 0) > 0  # its beats did say it
    assert observer.status_version == before


def test_what_a_status_shows_still_moves_it() -> None:
    names = ["r1", "r2", "r3"]
    net = _mesh(names)
    net.advance(10 * PERIOD)
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


def test_a_peers_owed_counts_wake_the_status_hooks_not_the_election() -> None:
    """(issue 18, rounds) A peer's owed counts moved ``status_version`` after every sale of every
    peer: each device elected and computed its status again. They move ``owed_version`` and wake
    only the hooks after the pump (``on_drained``); the status compares the counts themselves.
    Fails before: ``status_version`` moved (and ``owed_version`` did not exist)."""
    names = ["r1", "r2", "r3"]
    net = _mesh(names)
    net.advance(10 * PERIOD)
    observer = net.nodes["r1"]
    woken: list[str] = []
    observer.on_moved = lambda: woken.append("tick")
    observer.on_drained = lambda: woken.append("hooks")
    version, owed = observer.status_version, observer.owed_version
    net.nodes["r3"].set_owed({"receipts": 2})
    net.advance(2 * PERIOD)
    assert observer.status_version == version
    assert observer.owed_version == owed + 1  # once: the next beats repeat it
    assert woken == ["hooks"]
    assert observer.presence["r3"].owed == {"receipts": 2}  # what the status reads
