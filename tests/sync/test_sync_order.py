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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map, merge_updates

from meshpos.model import Replica, decode_state_vector
from meshpos.store import MemoryStore
from meshpos.sync import DocumentChanged, Synchronizer, SyncStep1, SyncUpdate, decode

from .helpers import VENUE, pump, sync_pair

DAY = "ledger/2026-03-01"


@dataclass
class Bed:
    replica: Replica
    a: Synchronizer  # the node under test, committing every change to its store
    store: MemoryStore
    deliver: Callable[[bytes], list[object]]  # a peer sends an update; returns what A sends back

    def commit(self) -> None:
        """What the node does with every change before anything else (a write is acked after)."""
        for event in self.a.events_received():
            if isinstance(event, DocumentChanged):
                asyncio.run(self.store.append([(event.doc, event.update)]))

    def reloaded(self) -> Doc[Any]:
        update = asyncio.run(self.store.load(DAY))
        doc: Doc[Any] = Doc()
        if update:
            doc.apply_update(update)
        return doc


def _bed() -> Bed:
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

    bed = Bed(replica, a, MemoryStore(), deliver)
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
        order = author.get("orders", type=Map)["o1"] = Map()
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


def test_a_write_into_what_came_ahead_of_its_authors_order_survives_a_reload() -> None:
    bed = _bed()
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


def test_a_catch_up_with_a_hole_in_one_authors_clocks_is_stored_as_shown() -> None:
    """A catch-up of several authors can start one of them ahead (an earlier reply was lost): what
    pycrdt shows of it is committed too, so a write into it reloads."""
    bed = _bed()
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
