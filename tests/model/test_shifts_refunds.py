from __future__ import annotations

from collections.abc import Callable

import pytest

from meshpos.errors import (
    DomainError,
    InvalidAmount,
    InvalidQuantity,
    OpenOrdersOnShift,
    OverRefund,
    PermissionDenied,
    ShiftClosed,
    ShiftError,
    UnknownRecord,
)
from meshpos.model import Receipt, Venue
from meshpos.model.ledger_types import ORDER_NUMBER_CHARS
from meshpos.model.sample import CASHIER, COOK, MANAGER

from .conftest import NOW, make_venue

Check = Callable[[Venue], None]


def sell(venue: Venue, *items: tuple[str, int], method: str = "cash") -> Receipt:
    order = venue.open_order(CASHIER, NOW)
    for product, quantity in items:
        venue.add_line(CASHIER, order.id, product, quantity, NOW)
    result = venue.pay(CASHIER, order.id, method, NOW)
    assert result.receipt is not None
    return result.receipt


def test_no_sales_without_an_open_shift(venue: Venue, unchanged: Check) -> None:
    with pytest.raises(ShiftClosed, match="no open shift"):
        venue.open_order(CASHIER, NOW)
    with pytest.raises(ShiftClosed):
        venue.cash_move(CASHIER, "in", 100, "float", NOW)
    unchanged(venue)


def test_one_open_shift_per_register(open_venue: Venue, unchanged: Check) -> None:
    with pytest.raises(ShiftError, match="already has an open shift"):
        open_venue.open_shift_now(CASHIER, 0, NOW)
    unchanged(open_venue)


def test_close_shift_with_open_orders_is_refused(open_venue: Venue, unchanged: Check) -> None:
    """The refusal names the shift and the orders as the cashier knows them (whose shift on which
    register; the order's table, or the number the page shows), never raw ids."""
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    at_table = open_venue.open_order(CASHIER, NOW, table="4")
    open_venue.replica.take_updates()
    shift = open_venue.open_shift()
    assert shift is not None
    with pytest.raises(OpenOrdersOnShift, match="2 open order") as refused:
        open_venue.close_shift(CASHIER, 10_250, NOW)
    message = refused.value.message
    assert "the shift of Anna on R1" in message
    assert f"order #{order.id[:ORDER_NUMBER_CHARS]}" in message
    assert "the order at table 4" in message
    for raw in (order.id, at_table.id, shift.id):
        assert raw not in message
    unchanged(open_venue)
    open_venue.void_order(CASHIER, at_table.id, NOW)
    open_venue.pay(CASHIER, order.id, "cash", NOW)
    closed = open_venue.close_shift(CASHIER, 10_250, NOW + 1)
    assert closed.close is not None
    assert closed.close.difference == 0


def test_closed_shift_accepts_no_more_actions(open_venue: Venue, unchanged: Check) -> None:
    open_venue.close_shift(CASHIER, 10_000, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(ShiftClosed):
        open_venue.open_order(CASHIER, NOW)
    with pytest.raises(ShiftClosed):
        open_venue.cash_move(CASHIER, "out", 100, "bank", NOW)
    with pytest.raises(ShiftClosed):
        open_venue.close_shift(CASHIER, 0, NOW)
    unchanged(open_venue)


def test_expected_cash_counts_sales_tips_moves_and_refunds(open_venue: Venue) -> None:
    cash = sell(open_venue, ("burger", 1))  # 1250 cash
    sell(open_venue, ("fries", 2), method="card")  # card: not in the drawer
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    open_venue.pay(
        CASHIER, order.id, "cash", NOW, tip=100, tendered=500
    )  # 250 + 100 tip, 150 change
    open_venue.cash_move(CASHIER, "in", 2_000, "change float", NOW)
    open_venue.cash_move(CASHIER, "out", 500, "flowers", NOW)
    open_venue.refund(MANAGER, cash.id, NOW)  # 1250 back in cash
    shift = open_venue.open_shift()
    assert shift is not None
    expected = 10_000 + 1250 + 250 + 100 + 2_000 - 500 - 1250
    assert open_venue.expected_cash(shift) == expected
    closed = open_venue.close_shift(CASHIER, expected - 30, NOW)
    assert closed.close is not None
    assert (closed.close.expected_cash, closed.close.difference) == (expected, -30)


def test_cash_moves_validate(open_venue: Venue, unchanged: Check) -> None:
    with pytest.raises(InvalidAmount):
        open_venue.cash_move(CASHIER, "in", -5, "", NOW)
    with pytest.raises(InvalidAmount):
        open_venue.cash_move(CASHIER, "in", 0, "", NOW)
    with pytest.raises(InvalidAmount, match="drawer should hold 10000"):
        open_venue.cash_move(CASHIER, "out", 10_001, "", NOW)
    with pytest.raises(DomainError, match="'in' or 'out'"):
        open_venue.cash_move(CASHIER, "sideways", 5, "", NOW)
    unchanged(open_venue)


def test_refunds(open_venue: Venue, unchanged: Check) -> None:
    receipt = sell(open_venue, ("burger", 3), ("fries", 1))  # 3750 + 450
    burger = next(line for line in receipt.lines if line.product_id == "burger")
    fries = next(line for line in receipt.lines if line.product_id == "fries")
    open_venue.replica.take_updates()
    with pytest.raises(PermissionDenied, match="refund"):
        open_venue.refund(CASHIER, receipt.id, NOW, lines={burger.line_id: 1})
    with pytest.raises(OverRefund, match="3 sold, 0 already refunded"):
        open_venue.refund(MANAGER, receipt.id, NOW, lines={burger.line_id: 4})
    with pytest.raises(InvalidQuantity):
        open_venue.refund(MANAGER, receipt.id, NOW, lines={burger.line_id: -1})
    with pytest.raises(UnknownRecord, match="no line"):
        open_venue.refund(MANAGER, receipt.id, NOW, lines={"ghost": 1})
    with pytest.raises(UnknownRecord, match="unknown receipt"):
        open_venue.refund(MANAGER, "ghost", NOW)
    unchanged(open_venue)
    one = open_venue.refund(MANAGER, receipt.id, NOW, lines={burger.line_id: 1}, reason="cold")
    assert one.amount == 1250
    assert one.method == "cash"
    with pytest.raises(OverRefund, match="3 sold, 1 already refunded"):
        open_venue.refund(MANAGER, receipt.id, NOW, lines={burger.line_id: 3})
    rest = open_venue.refund(MANAGER, receipt.id, NOW)  # everything left
    assert rest.amount == 2 * 1250 + 450
    assert one.amount + rest.amount == receipt.total
    assert {(r.line_id, r.quantity) for r in rest.lines} == {
        (burger.line_id, 2),
        (fries.line_id, 1),
    }
    with pytest.raises(OverRefund, match="already fully refunded"):
        open_venue.refund(MANAGER, receipt.id, NOW)


def test_partial_refunds_of_discounted_lines_sum_exactly(open_venue: Venue) -> None:
    order = open_venue.open_order(MANAGER, NOW)
    open_venue.add_line(MANAGER, order.id, "croissant", 3, NOW)
    open_venue.apply_order_discount(MANAGER, order.id, "voucher5", NOW)  # 840 - 500 = 340
    receipt = open_venue.pay(MANAGER, order.id, "card", NOW).receipt
    assert receipt is not None
    assert receipt.total == 340
    line = receipt.lines[0].line_id
    parts = [open_venue.refund(MANAGER, receipt.id, NOW, lines={line: 1}).amount for _ in range(3)]
    assert sum(parts) == 340
    assert parts == [113, 113, 114]


def test_kds_cannot_write_money_records() -> None:
    register = make_venue("R1")
    kds = make_venue("K1", role="kds", catalog_from=register.replica)
    for attempt in (
        lambda: kds.open_shift_now(MANAGER, 0, NOW),
        lambda: kds.open_order(MANAGER, NOW),
        lambda: kds.cash_move(MANAGER, "in", 5, "", NOW),
        lambda: kds.inventory_move(MANAGER, "fries", "writeoff", 1, NOW),
        lambda: kds.close_shift(MANAGER, 0, NOW),
    ):
        with pytest.raises(PermissionDenied, match="kds device may not write money"):
            attempt()
    assert kds.replica.take_updates() == []
    # but it may stop an item
    kds.set_stop(COOK, "fries", True, NOW)
    assert kds.stoplist.is_stopped("fries")


def test_users_without_rights(venue: Venue, unchanged: Check) -> None:
    with pytest.raises(PermissionDenied, match="'Kim' \\(role 'cook'\\) may not open shift"):
        venue.open_shift_now(COOK, 0, NOW)
    with pytest.raises(UnknownRecord, match="unknown user"):
        venue.open_shift_now("u-ghost", 0, NOW)
    unchanged(venue)


def test_inventory_movements(open_venue: Venue, unchanged: Check) -> None:
    with pytest.raises(PermissionDenied, match="inventory"):
        open_venue.inventory_move(CASHIER, "fries", "writeoff", 2, NOW)
    with pytest.raises(DomainError, match="writeoff"):
        open_venue.inventory_move(MANAGER, "fries", "sale", 2, NOW)
    with pytest.raises(InvalidQuantity):
        open_venue.inventory_move(MANAGER, "fries", "supply", 0, NOW)
    unchanged(open_venue)
    move = open_venue.inventory_move(MANAGER, "fries", "supply", 40, NOW, "delivery")
    assert (move.kind, move.quantity, move.product_id) == ("supply", 40, "fries")


def test_an_approver_holding_the_right_does_what_the_cashier_may_not(
    open_venue: Venue, unchanged: Check
) -> None:
    """Manager approval on the spot: the record keeps the cashier as its user and names the approver;
    an approver without the right is refused like the cashier, naming the right, and writes nothing."""
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.add_line(CASHIER, order.id, "espresso", 2, NOW)
    receipt = open_venue.pay(CASHIER, order.id, "cash", NOW).receipt
    assert receipt is not None
    open_venue.replica.take_updates()
    with pytest.raises(PermissionDenied) as refused:
        open_venue.refund(CASHIER, receipt.id, NOW)
    assert refused.value.right == "refund"
    with pytest.raises(PermissionDenied):
        open_venue.refund(CASHIER, receipt.id, NOW, approved_by=COOK)
    unchanged(open_venue)
    done = open_venue.refund(CASHIER, receipt.id, NOW, reason="spilt", approved_by=MANAGER)
    assert (done.user, done.approved_by, done.reason) == (CASHIER, MANAGER, "spilt")
