"""A document's state vector read without pycrdt's Python transaction (issue 18, receiver): the same
bytes as ``Doc.get_state`` in every case (a day of many writers, deletions, nested maps, inside an
open transaction, a document that takes other threads' transactions), and a received
live update opens one pycrdt transaction (its apply), not two. Counts, not time; no sleeps."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map
from pycrdt import _transaction as pycrdt_transaction

from meshpos.sync import Synchronizer, SyncUpdate
from meshpos.sync._updates import state_of

from .helpers import VENUE, pump, sync_pair

DAY = "ledger/2026-03-01"


def _random_day(rng: random.Random, *, threads: bool = False) -> Doc[Any]:
    """A day written by several clients, merged in a random order, with deletions and nested maps."""
    day: Doc[Any] = Doc(client_id=rng.getrandbits(32), allow_multithreading=threads)
    writers: list[Doc[Any]] = [
        Doc(client_id=rng.getrandbits(rng.choice((7, 21, 32)))) for _ in range(5)
    ]
    for step in range(rng.randint(1, 60)):
        writer = rng.choice(writers)
        writer.apply_update(day.get_update())
        orders = writer.get("orders", type=Map)
        if orders and rng.random() < 0.2:
            del orders[rng.choice(list(orders.keys()))]
        elif rng.random() < 0.3:
            orders[f"o{step}"] = Map({"lines": Map({"l": "x" * rng.randint(0, 300)})})
        else:
            orders[f"o{step}"] = "y" * rng.randint(0, 200)
        day.apply_update(writer.get_update(day.get_state()))
    return day


def test_a_state_read_is_pycrdts_in_every_case() -> None:
    """Seeded: outside a transaction, inside one (pycrdt's own path: the open one is reused), and
    on a document that takes other threads' transactions. (Inside an observer's callback pycrdt's
    own ``get_state`` cannot read either: "Already mutably borrowed".)"""
    rng = random.Random(22)
    for case in range(150):
        day = _random_day(rng, threads=case % 5 == 0)
        assert state_of(day) == day.get_state()
        with day.transaction():
            assert state_of(day) == day.get_state()
            day.get("orders", type=Map)[f"inside{case}"] = "z"
            assert state_of(day) == day.get_state()  # the change made in it is counted
        assert state_of(day) == day.get_state()


def test_an_empty_document_state_is_pycrdts() -> None:
    assert state_of(Doc(client_id=7)) == Doc(client_id=8).get_state() == b"\x00"


def test_a_received_live_update_opens_one_pycrdt_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 live updates of one seller: the pycrdt transactions opened are the 40 applies (the state
    read before each one opened a second: 81 in all on main)."""
    x = Synchronizer(venue=VENUE, node_id="X", role="register", client_id=1001)
    p = Synchronizer(venue=VENUE, node_id="P", role="register", client_id=1002)
    x.open_doc(DAY)
    xp, px = sync_pair(x, p)
    seller: Doc[Any] = Doc(client_id=5000)
    made: list[object] = []
    transaction = pycrdt_transaction.Transaction
    init = transaction.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) is transaction:  # (observers' read transactions are not opened: none here)
            made.append(self)
        init(self, *args, **kwargs)

    updates: list[bytes] = []
    for k in range(40):
        before = seller.get_state()
        seller.get("orders", type=Map)[f"o{k}"] = "x" * (k * 9)
        updates.append(seller.get_update(before))
    monkeypatch.setattr(transaction, "__init__", counted)
    for update in updates:
        p.sessions[px].send(SyncUpdate(DAY, update))
        pump(p, px, x, xp)
        x.events_received()
    monkeypatch.undo()
    assert x.docs[DAY].get_state() == seller.get_state()
    # the 40 applies, and one more at most (main: 81, a state read before every apply)
    assert len(updates) <= len(made) <= len(updates) + 2
