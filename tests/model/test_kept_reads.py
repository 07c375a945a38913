"""Reads a sale repeats keep their parses by the record's text (``_records.kept``): every change to what
they read must show at once, whoever made it (this device or a peer's update)."""

from __future__ import annotations

from typing import Any

import pytest

import meshpos.model._order_kept as order_kept_module
import meshpos.model.ledger as ledger_module
import meshpos.model.order_lines as order_lines
from meshpos.errors import ShiftClosed
from meshpos.model import Line, Order, Venue
from meshpos.model.order_lines import parse_line
from meshpos.model.records import parse_order
from meshpos.model.sample import CASHIER
from meshpos.model.totals import LineAmount, PricedLine, price_lines

from .conftest import NOW, make_venue, sync
from .test_record_encoding import as_older_node_wrote_it


def test_an_order_read_again_shows_a_line_a_peer_added(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    assert len(open_venue.order(order.id).lines) == 1
    assert open_venue.order(order.id) == open_venue.order(order.id)  # read twice: the same
    peer = make_venue("R2", catalog_from=open_venue.replica)
    sync(open_venue.replica, peer.replica)
    peer.open_shift_now(CASHIER, 0, NOW)
    peer.add_line(CASHIER, order.id, "fries", 2, NOW)
    sync(open_venue.replica, peer.replica)
    lines = open_venue.order(order.id).lines
    assert sorted((line.product_id, line.quantity) for line in lines) == [
        ("espresso", 1),
        ("fries", 2),
    ]


def test_a_closed_shift_is_no_longer_the_open_one(open_venue: Venue) -> None:
    assert open_venue.open_shift() is not None  # read (kept)
    open_venue.close_shift(CASHIER, 10_000, NOW + 1)
    assert open_venue.open_shift() is None
    with pytest.raises(ShiftClosed):
        open_venue.open_order(CASHIER, NOW + 2, table="T1")


def test_a_sale_parses_its_order_once_after_opening_it(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pycrdt lists an order map's keys in another order on each read: a read of an order already
    parsed finds the kept parse by its values, whatever the order of its text (issue 18)."""
    parsed: list[str] = []

    def counted(order_id: str, *args: Any, **kwargs: Any) -> Order:
        parsed.append(order_id)
        return parse_order(order_id, *args, **kwargs)

    monkeypatch.setattr(order_kept_module, "parse_order", counted)
    for k in range(20):  # four writes a sale (open, two lines, pay): one parse, after the opening
        # (a line grows the kept parse, issue 18 seller; the payment returns the payment it wrote)
        order = open_venue.open_order(CASHIER, NOW + k, table=f"T{k}")
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW + k)
        open_venue.add_line(CASHIER, order.id, "fries", 2, NOW + k)
        assert open_venue.order(order.id) == open_venue.order(order.id)  # read again: kept
        open_venue.pay(CASHIER, order.id, "card", NOW + k)
    assert len(parsed) == 20


def test_a_sale_parses_each_line_once(open_venue: Venue, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line is insert-only text: read again with its order (every tap), its parse is kept by it."""
    parsed: list[str] = []

    def counted(order_id: str, line_id: str, *args: Any) -> Line:
        parsed.append(line_id)
        return parse_line(order_id, line_id, *args)

    monkeypatch.setattr(order_lines, "parse_line", counted)
    for k in range(20):
        order = open_venue.open_order(CASHIER, NOW + k, table=f"T{k}")
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW + k)
        open_venue.add_line(CASHIER, order.id, "fries", 2, NOW + k)
        open_venue.pay(CASHIER, order.id, "card", NOW + k)
    assert len(parsed) == len(set(parsed)) == 2 * 20


def test_a_big_order_parses_only_its_new_line(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line added to an order of 100 lines parses and prices that line, not the 100 again (issue
    18, sale: past 64 lines of all orders together every tap parsed all its order's lines, and every
    tap priced them all), and other orders read meanwhile do not push its lines out."""
    big = open_venue.open_order(CASHIER, NOW, table="T1")
    for k in range(100):
        open_venue.add_line(CASHIER, big.id, "espresso", 1, NOW + k)
    others = [open_venue.open_order(CASHIER, NOW, table=f"T{k}") for k in range(2, 12)]
    for order in others:
        open_venue.add_line(CASHIER, order.id, "fries", 1, NOW)
    parsed: list[str] = []

    def counted(order_id: str, line_id: str, *args: Any) -> Line:
        parsed.append(line_id)
        return parse_line(order_id, line_id, *args)

    priced: list[str] = []

    def priced_counted(lines: list[PricedLine], *args: Any) -> list[LineAmount]:
        priced.extend(line.id for line in lines)
        return price_lines(lines, *args)

    monkeypatch.setattr(order_lines, "parse_line", counted)
    monkeypatch.setattr(order_lines, "price_lines", priced_counted)
    added = open_venue.add_line(CASHIER, big.id, "fries", 2, NOW + 100)
    assert len(added.lines) == 101
    assert parsed == [added.lines[-1].id]
    assert priced == [added.lines[-1].id]  # no order discount: each line's amount is its own
    assert open_venue.order(big.id) == added  # read again: kept, the same


@pytest.mark.parametrize("older", [False, True])
def test_a_payment_taken_is_the_one_a_read_of_its_order_gives(older: bool) -> None:
    """``pay`` returns the payment from the record it wrote, not from a read of the order: the same,
    partial or completing, with tip and change, and into an order an older node opened."""
    r1 = make_venue("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW, table="3")
    r1.add_line(CASHIER, order.id, "burger", 2, NOW)
    name = f"ledger/{r1.business_date(NOW)}"
    seller = r1
    if older:
        seller = make_venue("R2", catalog_from=r1.replica)
        seller.replica.apply(name, as_older_node_wrote_it(r1.replica.doc(name)).get_update())
        seller.open_shift_now(CASHIER, 0, NOW)
    due = seller.order(order.id).totals.due
    part = seller.pay(CASHIER, order.id, "card", NOW + 1, amount=due // 3, tip=50)
    rest = seller.pay(CASHIER, order.id, "cash", NOW + 2, tendered=due * 2)
    assert part.receipt is None
    assert rest.receipt is not None
    assert rest.receipt == seller.receipt(rest.receipt.id)
    assert seller.order(order.id).payments == tuple(
        sorted((part.payment, rest.payment), key=lambda p: (p.at_ms, p.id))
    )


def test_a_payment_reads_back_neither_its_order_nor_its_receipt(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``pay`` returns comes from the records it wrote (issue 18): no read of them again."""
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    reads: list[str] = []
    for name in ("order", "receipt"):
        read = getattr(ledger_module.Ledger, name)

        def counted(self: Any, key: str, read: Any = read, name: str = name) -> Any:
            reads.append(name)
            return read(self, key)

        monkeypatch.setattr(ledger_module.Ledger, name, counted)
    paid = open_venue.pay(CASHIER, order.id, "card", NOW)
    assert paid.receipt is not None
    assert reads == ["order"]  # the one before: is it open, what is due
