"""A live day's orders are kept as last parsed until their own map changes (``_order_kept``, issue
18: each tap read its order's text again, decoded it and looked its parse up; part ``order``: and again
after any change to the rest of the day). Every change must show at the next read, whoever made it:
this device, a peer's update, an undo, a write still inside an open transaction; and a forgotten day
is still freed (tests/model/test_order_kept_exact.py: the same under late and reordered deliveries)."""

from __future__ import annotations

import contextlib
import gc
import json
import random
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
from meshpos.model.records import parse_order
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, make_venue, sync


def _today(venue: Venue) -> Ledger:
    return venue.ledger(venue.business_date(NOW))


def test_a_sale_on_this_register_never_reads_its_order_text(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four taps a sale: the order is parsed from the values this register wrote (nothing else moved
    the day), never from the map's text read back from pycrdt (six reads a sale on main)."""
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
    assert texts == []


def test_with_a_peer_selling_between_taps_a_tap_never_reads_its_order_text(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy day: a peer's update arrives before every tap. It changes other orders, not this one,
    so what this register kept of its order survives it (its map holds as many keys): no tap reads
    its order's text (main: one a tap, 3 a sale, since any change to the day dropped everything kept)
    and the order is parsed once, after its opening: each line grows the kept parse (issue 18,
    seller; 3 parses a sale before, one after each write but the payment's)."""
    peer = make_venue("R2", catalog_from=open_venue.replica)
    peer.open_shift_now(CASHIER, 0, NOW)
    texts: list[str] = []
    parsed: list[str] = []
    mine: set[str] = set()

    def counted(where: str, *args: Any) -> Order:
        texts.append(where)
        return kept_order(where, *args)

    def parse(order_id: str, *args: Any) -> Order:
        parsed.append(order_id)
        return parse_order(order_id, *args)

    monkeypatch.setattr(order_kept_module, "kept_order", counted)
    monkeypatch.setattr(order_kept_module, "parse_order", parse)
    for k in range(10):
        sync(open_venue.replica, peer.replica)
        order = open_venue.open_order(CASHIER, NOW + k, table=f"T{k}")
        for product in ("espresso", "fries"):
            peer.open_order(CASHIER, NOW + k, table="P")  # (a change on the day before the tap)
            sync(open_venue.replica, peer.replica)
            open_venue.add_line(CASHIER, order.id, product, 1, NOW + k)
        peer.open_order(CASHIER, NOW + k, table="P")
        sync(open_venue.replica, peer.replica)
        open_venue.pay(CASHIER, order.id, "card", NOW + k)
        mine.add(order.id)
    # (the peer's own reads counted too: only this register's orders)
    assert [w for w in texts if w.rsplit("/", 1)[1] in mine] == []
    assert len([o for o in parsed if o in mine]) == 10  # after its opening only


def _fresh(venue: Venue, order_id: str) -> Order:
    """The order parsed afresh from its map's text, as if nothing had been kept."""
    ledger = _today(venue)
    om = json.loads(str(ledger._order_map(order_id)))
    return parse_order(order_id, om, f"{ledger.name} orders/{order_id}", [])


@pytest.mark.parametrize("seed", range(12))
def test_an_order_read_after_our_writes_is_the_fresh_parse(seed: int) -> None:
    """Random taps on a few orders (lines with modifiers and discounts, removals, order discounts,
    kitchen sends, voids, part payments), a peer's taps now and then: after every tap each order read
    is exactly the parse of its map's text."""
    rng = random.Random(seed)
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    peer = make_venue("R2", catalog_from=venue.replica)
    sync(venue.replica, peer.replica)
    peer.open_shift_now(CASHIER, 0, NOW)
    orders = [venue.open_order(CASHIER, NOW, table=f"T{i}").id for i in range(3)]
    for step in range(40):
        order_id = rng.choice(orders)
        seller = peer if rng.random() < 0.15 else venue
        if seller is peer:
            sync(venue.replica, peer.replica)
        now = NOW + step
        with contextlib.suppress(DomainError):
            tap = rng.randrange(8)
            order = seller.order(order_id)
            if tap <= 2:
                product = rng.choice(["espresso", "fries", "burger", "lemonade"])
                discount = "staff" if tap == 2 else None
                seller.add_line(
                    MANAGER, order_id, product, 1 + rng.randrange(3), now, discount_id=discount
                )
            elif tap == 3 and order.lines:
                seller.remove_line(MANAGER, order_id, rng.choice(order.lines).id, now)
            elif tap == 4:
                seller.apply_order_discount(MANAGER, order_id, "happy", now)
            elif tap == 5:
                seller.send_to_kitchen(MANAGER, order_id, now)
            elif tap == 6 and order.totals.due > 1:
                seller.pay(MANAGER, order_id, "card", now, amount=order.totals.due // 2)
            elif tap == 7 and rng.random() < 0.2:
                seller.void_order(MANAGER, order_id, now)
        if seller is peer:
            sync(venue.replica, peer.replica)
        for each in orders:
            assert venue.order(each) == _fresh(venue, each)
            assert venue.order(each) == _fresh(venue, each)  # (read again: kept)


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
