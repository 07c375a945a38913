"""A live day's orders are kept as last parsed until anything in the day's document changes
(``_order_kept``, issue 18: each tap read its order's text again, decoded it and looked its parse up).
Every change must show at the next read, whoever made it: this device, a peer's update, an undo, a
write still inside an open transaction; and a forgotten day is still freed."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from pycrdt import Doc

import meshpos.model._order_kept as order_kept_module
from meshpos.errors import DomainError
from meshpos.model import Order, Venue
from meshpos.model._writes import all_or_nothing
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_kept import kept_order
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue, sync


def _today(venue: Venue) -> Ledger:
    return venue.ledger(venue.business_date(NOW))


def test_a_tap_reads_its_order_without_its_text_after_the_last_write(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four taps a sale: the order's text is read once after each write but the payment (three), not
    again at the start of the next tap (six on main)."""
    texts: list[str] = []

    def counted(where: str, *args: Any) -> Order:
        texts.append(where)
        return kept_order(where, *args)

    monkeypatch.setattr(order_kept_module, "kept_order", counted)
    for k in range(10):
        order = open_venue.open_order(CASHIER, NOW + k, table=f"T{k}")
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW + k)
        open_venue.add_line(CASHIER, order.id, "fries", 2, NOW + k)
        open_venue.pay(CASHIER, order.id, "card", NOW + k)
    assert len(texts) == 3 * 10


def test_a_line_a_peer_adds_shows_at_the_next_read(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    assert len(open_venue.order(order.id).lines) == 1  # kept
    peer = make_venue("R2", catalog_from=open_venue.replica)
    sync(open_venue.replica, peer.replica)
    peer.open_shift_now(CASHIER, 0, NOW)
    peer.add_line(CASHIER, order.id, "fries", 2, NOW)
    sync(open_venue.replica, peer.replica)  # a peer's update into the order's own map
    assert sorted(line.product_id for line in open_venue.order(order.id).lines) == [
        "espresso",
        "fries",
    ]


def test_a_payment_a_peer_takes_shows_at_the_next_tap(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)  # kept: open
    peer = make_venue("R2", catalog_from=open_venue.replica)
    sync(open_venue.replica, peer.replica)
    peer.open_shift_now(CASHIER, 0, NOW)
    peer.pay(CASHIER, order.id, "card", NOW)
    sync(open_venue.replica, peer.replica)
    assert open_venue.order(order.id).status == "paid"
    with pytest.raises(DomainError):
        open_venue.add_line(CASHIER, order.id, "fries", 1, NOW)


def _add_and_fail(venue: Venue, order_id: str) -> None:
    with all_or_nothing("add and fail"):
        venue.add_line(CASHIER, order_id, "fries", 1, NOW)
        assert len(venue.order(order_id).lines) == 2  # kept (no transaction open)
        raise DomainError("refused after the write")


def test_a_line_taken_back_by_undo_is_gone(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    with pytest.raises(DomainError):
        _add_and_fail(open_venue, order.id)
    assert [line.product_id for line in open_venue.order(order.id).lines] == ["espresso"]


def test_inside_an_open_transaction_a_write_shows_at_once(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    assert open_venue.order(order.id).lines == ()  # kept
    ledger = _today(open_venue)
    with ledger.doc.transaction():
        ledger.write_order_record(order.id, "voids", "v1", {"user": CASHIER, "at": NOW})
        assert open_venue.order(order.id).status == "void"  # not yet told: nothing kept used
    assert open_venue.order(order.id).status == "void"


def test_a_day_whose_orders_were_read_is_still_freed() -> None:
    """The observer that drops the kept orders holds no document: a forgotten day is freed."""
    doc: Doc[Any] = Doc()
    ledger = Ledger(doc, "2025-11-25")
    ledger.write_order("o1", {"waiter": CASHIER, "register": "R1", "shift_id": "s1", "at": NOW})
    assert ledger.order("o1").id == "o1"
    assert ledger.order("o1").id == "o1"  # (kept)
    gone = weakref.ref(doc)
    del doc, ledger
    gc.collect()
    assert gone() is None
