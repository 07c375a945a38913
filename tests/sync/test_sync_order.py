"""What arrives ahead of its author's order must not leave the store behind memory.

pycrdt 0.14.13 (yrs) integrates structs that come ahead of their author's order at once when their
parents are present: the change is visible, the state vector stays behind the hole, and the transaction's
update leaves the structs out. A node that then wrote into what it saw (a line into another register's
order) committed writes whose parent its store never got: reloaded (a restart, a closed day reopened),
its own acknowledged writes stayed pending, and peers sending them back raised the client id alarm
(found by test_sync_stateful.py's ``own_writes_are_stored`` invariant).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, merge_updates

from meshpos.engine import StoreDocuments
from meshpos.lib0 import Reader, write_var_uint
from meshpos.model import Replica, decode_state_vector
from meshpos.store import MemoryStore, SqliteStore
from meshpos.store.base import Store
from meshpos.sync import (
    DocumentChanged,
    SessionConfig,
    Synchronizer,
    SyncStep1,
    SyncUpdate,
    decode,
)

from .helpers import VENUE, pump, sync_pair

DAY = "ledger/2026-03-01"
SKIP_STRUCT = 10  # a Yjs v1 struct's info byte for a skip (a run of clocks not carried)
REPLY_WAIT = 2 * SessionConfig().reply_interval  # seconds after the pair connected


@dataclass
class Bed:
    replica: Replica
    a: Synchronizer  # the node under test, committing every change to its store
    store: Store
    deliver: Callable[[bytes], list[object]]  # a peer sends an update; returns what A sends back
    loop: asyncio.AbstractEventLoop

    def commit(self) -> None:
        """What the node does with every change before anything else (a write is acked after)."""
        for event in self.a.events_received():
            if isinstance(event, DocumentChanged):
                self.loop.run_until_complete(self.store.append([(event.doc, event.update)]))

    def reloaded(self) -> Doc[Any]:
        update = self.loop.run_until_complete(self.store.load(DAY))
        doc: Doc[Any] = Doc()
        if update:
            doc.apply_update(update)
        return doc


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _bed(loop: asyncio.AbstractEventLoop, store: Store | None = None) -> Bed:
    replica = Replica(client_id=11)
    a = Synchronizer(
        venue=VENUE, node_id="A", role="register", client_id=11, doc_factory=replica.doc
    )
    b = Synchronizer(venue=VENUE, node_id="B", role="register", client_id=22)
    ka, kb = sync_pair(a, b)
    a.open_doc(DAY)
    pump(a, ka, b, kb)

    def deliver(update: bytes) -> list[object]:
        b.sessions[kb].send(SyncUpdate(DAY, update))
        for data in b.data_to_send(kb):
            a.receive_data(ka, data)
        return [decode(d) for d in a.data_to_send(ka)]

    bed = Bed(replica, a, store or MemoryStore(), deliver, loop)
    bed.commit()
    return bed


def _another_registers_shift_then_order() -> list[bytes]:
    author: Doc[Any] = Doc(client_id=22)
    updates = []
    before = author.get_state()
    author.get("shifts", type=Map)["s1"] = "open"
    updates.append(author.get_update(before))
    before = author.get_state()
    with author.transaction():
        order: Map[Any] = Map()
        author.get("orders", type=Map)["o1"] = order
        order["info"] = "table 4"
    updates.append(author.get_update(before))
    return updates


def _add_a_line_if_shown(bed: Bed) -> Map[Any]:
    """A cashier adds a line to the order on the screen; acknowledged once committed."""
    orders: Map[Any] = bed.replica.doc(DAY).get("orders", type=Map)
    if "o1" in orders:
        orders["o1"]["line"] = "espresso"
        bed.commit()
    return orders


def _assert_store_holds_memory(bed: Bed) -> None:
    reloaded, live = bed.reloaded(), bed.replica.doc(DAY)
    assert reloaded.get("orders", type=Map).to_py() == live.get("orders", type=Map).to_py()
    assert decode_state_vector(reloaded.get_state()) == decode_state_vector(live.get_state())


def test_a_write_into_what_came_ahead_of_its_authors_order_survives_a_reload(
    loop: asyncio.AbstractEventLoop,
) -> None:
    bed = _bed(loop)
    updates = _another_registers_shift_then_order()
    sent_back = bed.deliver(updates[1])  # the shift's update was lost on the way
    bed.commit()
    _add_a_line_if_shown(bed)
    _assert_store_holds_memory(bed)
    assert any(isinstance(m, SyncStep1) and m.doc == DAY for m in sent_back), "asks for the rest"

    for update in updates:  # in order now (what the peer's step 2 carries): both apply, both stored
        bed.deliver(update)
    bed.commit()
    orders = _add_a_line_if_shown(bed)
    assert orders.to_py() == {"o1": {"info": "table 4", "line": "espresso"}}
    _assert_store_holds_memory(bed)


def test_a_catch_up_with_a_hole_in_one_authors_clocks_is_stored_as_shown(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A catch-up of several authors can start one of them ahead (an earlier reply was lost): what
    pycrdt shows of it is committed too, so a write into it reloads."""
    bed = _bed(loop)
    updates = _another_registers_shift_then_order()
    third: Doc[Any] = Doc(client_id=33)
    third.get("cash_moves", type=Map)["m1"] = "in"
    bed.deliver(merge_updates(updates[1], third.get_update()))
    bed.commit()
    orders = _add_a_line_if_shown(bed)
    assert "o1" in orders, "pycrdt shows what came past the hole (else this test tests nothing)"
    _assert_store_holds_memory(bed)
    bed.deliver(updates[0])  # the hole fills
    bed.commit()
    _assert_store_holds_memory(bed)
    assert orders.to_py() == {"o1": {"info": "table 4", "line": "espresso"}}


def test_an_acknowledged_line_in_a_sqlite_store_survives_a_restart(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    """The same catch-up, committed to a real SQLite file; the node restarts with a fresh client id
    and loads the day as a node does: the acknowledged line is there."""
    path = tmp_path / "node.db"
    store = loop.run_until_complete(SqliteStore.open(path))
    bed = _bed(loop, store)
    updates = _another_registers_shift_then_order()
    third: Doc[Any] = Doc(client_id=33)
    third.get("cash_moves", type=Map)["m1"] = "in"
    bed.deliver(merge_updates(updates[1], third.get_update()))
    bed.commit()
    shown = _add_a_line_if_shown(bed).to_py()
    assert shown == {"o1": {"info": "table 4", "line": "espresso"}}
    loop.run_until_complete(store.close())

    store = loop.run_until_complete(SqliteStore.open(path))
    try:
        loaded = loop.run_until_complete(StoreDocuments(store).load())
    finally:
        loop.run_until_complete(store.close())
    restarted = Replica(client_id=44)
    sync = Synchronizer(
        venue=VENUE, node_id="A", role="register", client_id=44, doc_factory=restarted.doc
    )
    sync.load(DAY, loaded[DAY])
    assert restarted.doc(DAY).get("orders", type=Map).to_py() == shown


def test_an_authors_updates_delivered_out_of_order_all_arrive() -> None:
    """pycrdt alone loses nested content delivered out of its author's order (here the line of the
    second order, for good); the synchronizer applies them in order, asking the peer for the rest."""
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c)
        for n, c in (("A", 11), ("B", 22))
    )
    ka, kb = sync_pair(a, b)
    for sync in (a, b):
        sync.open_doc(DAY)
    pump(a, ka, b, kb)
    orders = b.docs[DAY].get("orders", type=Map)
    updates = []
    writes: list[Callable[[], None]] = [
        lambda: orders.__setitem__("o1", Map()),
        lambda: orders.__setitem__("note", "x"),
        lambda: orders.__setitem__("o2", Map()),
        lambda: orders["o1"].__setitem__("line", "espresso"),
        lambda: orders["o2"].__setitem__("line", "fries"),
    ]
    for write in writes:
        before = b.docs[DAY].get_state()
        write()
        updates.append(b.docs[DAY].get_update(before))
        b.data_to_send(kb)  # lost on the way
    for i in (0, 1, 3, 4, 2):  # the second order's map comes last
        b.sessions[kb].send(SyncUpdate(DAY, updates[i]))
    pump(a, ka, b, kb)
    for sync in (a, b):  # B answers A's step 1 once its reply interval is over
        sync.tick(REPLY_WAIT)
    pump(a, ka, b, kb)
    assert a.docs[DAY].get("orders", type=Map).to_py() == orders.to_py()
    assert orders.to_py()["o2"] == {"line": "fries"}


def _skip_ahead(update: bytes, clock: int) -> bytes:
    """``update`` (one author, from a later clock) led by a skip from ``clock``: what a merge of that
    author's changes around a missing one starts with, sent as one update."""
    reader = Reader(update)
    clients, structs, client, first = (reader.read_var_uint("header") for _ in range(4))
    assert clients == 1
    rest = update[len(update) - reader.remaining :]
    skip = bytes([SKIP_STRUCT]) + write_var_uint(first - clock)
    header = b"".join(map(write_var_uint, (1, structs + 1, client, clock)))
    return header + skip + rest


def test_an_update_in_order_led_by_a_skip_is_stored_as_shown(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """One author's update that starts at the clock we hold with a skip: pycrdt integrates what lies
    past it and leaves it out of the transaction's update; it is committed too."""
    bed = _bed(loop)
    updates = _another_registers_shift_then_order()
    bed.deliver(_skip_ahead(updates[1], 0))
    bed.commit()
    orders = _add_a_line_if_shown(bed)
    assert "o1" in orders, "pycrdt shows what came past the skip (else this test tests nothing)"
    _assert_store_holds_memory(bed)


def test_an_update_in_order_with_a_skip_after_its_first_structs_is_stored_as_shown(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A diff from a peer that holds a hole: one author, in order, its first structs, a skip, then what
    lies past the hole. pycrdt integrates all of it and reports it whole as the change (the skip
    included), so it is committed as it came: nothing the node shows is missing from its store."""
    bed = _bed(loop)
    author: Doc[Any] = Doc(client_id=22)
    updates = []
    for root, key in (("shifts", "s1"), ("cash_moves", "m1"), ("shifts", "s2")):
        before = author.get_state()
        author.get(root, type=Map)[key] = "x"
        updates.append(author.get_update(before))
    relay: Doc[Any] = Doc(client_id=44)  # it missed the middle update
    relay.apply_update(updates[0])
    relay.apply_update(updates[2])
    diff = relay.get_update()
    assert bytes([SKIP_STRUCT]) in diff, (
        "a diff across the hole carries a skip (else this tests nothing)"
    )
    bed.deliver(diff)
    bed.commit()
    shifts = bed.replica.doc(DAY).get("shifts", type=Map)
    assert set(shifts.keys()) == {"s1", "s2"}, "pycrdt shows what came past the skip"
    _assert_store_holds_memory(bed)
    reloaded = bed.reloaded().get("shifts", type=Map)
    assert set(reloaded.keys()) == {"s1", "s2"}


def test_a_malformed_update_that_claims_to_be_ahead_of_its_authors_order_closes_the_link() -> None:
    """Left unapplied (out of order) is not the same as unchecked: a peer's garbage behind a header
    that reads "one author, clock 1" still closes the session, as any invalid update does."""
    a = Synchronizer(venue=VENUE, node_id="A", role="register", client_id=11)
    b = Synchronizer(venue=VENUE, node_id="B", role="register", client_id=22)
    ka, kb = sync_pair(a, b)
    a.open_doc(DAY)
    pump(a, ka, b, kb)
    valid = _another_registers_shift_then_order()[1]  # one author, starting at clock 1: ahead
    b.sessions[kb].send(SyncUpdate(DAY, valid[:-3]))
    for data in b.data_to_send(kb):
        a.receive_data(ka, data)
    session = a.sessions[ka]
    assert session.error is not None
    assert "not a valid Yjs update" in str(session.error)
    assert DAY not in a.docs or a.docs[DAY].get("orders", type=Map).to_py() == {}
