from __future__ import annotations

from collections.abc import Callable

import pytest

from meshpos.errors import (
    DomainError,
    InvalidAmount,
    InvalidQuantity,
    ItemStopped,
    OrderNotOpen,
    Overpayment,
    PermissionDenied,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model import Product, Venue
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW

Check = Callable[[Venue], None]


def test_sale_totals_are_integer_minor_units(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="5")
    order = open_venue.add_line(CASHIER, order.id, "latte", 2, NOW, modifiers=["large", "oat"])
    order = open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    line = order.lines[0]
    assert line.unit_price == 390 + 80 + 50
    assert order.totals.total == 2 * 520 + 1250
    assert order.totals.tax == 95 + 114  # 10 % included, per line, half-up
    for value in (
        order.totals.total,
        order.totals.tax,
        line.quantity,
        line.unit_price,
        order.opened_at_ms,
    ):
        assert type(value) is int  # pycrdt hands back floats; the model must not


def test_tax_added_on_top_when_not_included(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "export-beans", 3, NOW)
    assert order.totals.subtotal == 5400
    assert order.totals.tax == 480  # 8.88 % of 5400 = 479.52 -> 480
    assert order.totals.total == 5880


def test_unknown_product_is_refused_and_nothing_written(
    open_venue: Venue, unchanged: Check
) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(UnknownProduct, match="nope"):
        open_venue.add_line(CASHIER, order.id, "nope", 1, NOW)
    unchanged(open_venue)


def test_inactive_product_is_not_on_sale(open_venue: Venue, unchanged: Check) -> None:
    open_venue.catalog.put_product(Product("old", "Old cake", 100, active=False))
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(UnknownProduct, match="not on sale"):
        open_venue.add_line(CASHIER, order.id, "old", 1, NOW)
    unchanged(open_venue)


@pytest.mark.parametrize("quantity", [0, -1, -100, 1.5, 2.0, True, "3", None, 10_000])
def test_bad_quantities_are_refused(open_venue: Venue, unchanged: Check, quantity: object) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(InvalidQuantity):
        open_venue.add_line(CASHIER, order.id, "espresso", quantity, NOW)  # type: ignore[arg-type]
    unchanged(open_venue)


def test_modifier_rules(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(DomainError, match="choose 1 to 1 of 'Size'"):
        open_venue.add_line(CASHIER, order.id, "latte", 1, NOW)
    with pytest.raises(DomainError, match="choose 1 to 1 of 'Size'"):
        open_venue.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["small", "large"])
    with pytest.raises(UnknownRecord, match="not offered"):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW, modifiers=["oat"])
    with pytest.raises(DomainError, match="twice"):
        open_venue.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["small", "small"])
    unchanged(open_venue)


def test_stopped_item_is_refused_unless_user_may_override(
    open_venue: Venue, unchanged: Check
) -> None:
    open_venue.set_stop(CASHIER, "burger", True, NOW)
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(ItemStopped, match="Burger"):
        open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    with pytest.raises(PermissionDenied, match="stop list"):
        open_venue.add_line(CASHIER, order.id, "burger", 1, NOW, override_stop=True)
    unchanged(open_venue)
    order = open_venue.add_line(MANAGER, order.id, "burger", 1, NOW, override_stop=True)
    assert [line.product_id for line in order.lines] == ["burger"]


def test_split_payment_tip_and_change(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "burger", 2, NOW)  # 2500
    first = open_venue.pay(CASHIER, order.id, "card", NOW, amount=1000, tip=200)
    assert first.receipt is None
    assert open_venue.order(order.id).totals.due == 1500
    second = open_venue.pay(CASHIER, order.id, "cash", NOW, tendered=2000)
    assert second.change == 500
    assert second.payment.amount == 1500
    assert second.receipt is not None
    receipt = second.receipt
    assert receipt.total == 2500
    assert receipt.number == "R1-000001"
    assert set(receipt.payment_ids) == {first.payment.id, second.payment.id}
    final = open_venue.order(order.id)
    assert final.status == "paid"
    assert final.totals.paid == 2500
    assert final.totals.tips == 200
    sales = [
        m for m in open_venue.ledger(open_venue.business_date(NOW)).inventory() if m.kind == "sale"
    ]
    assert [(m.product_id, m.quantity, m.ref) for m in sales] == [("burger", 2, receipt.id)]


def test_paying_more_than_due_is_refused(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)  # 250
    open_venue.replica.take_updates()
    with pytest.raises(Overpayment, match="exceeds the 250"):
        open_venue.pay(CASHIER, order.id, "card", NOW, amount=300)
    with pytest.raises(Overpayment):
        open_venue.pay(CASHIER, order.id, "cash", NOW, amount=251)
    with pytest.raises(DomainError, match="only cash"):
        open_venue.pay(CASHIER, order.id, "card", NOW, tendered=300)
    with pytest.raises(InvalidAmount):
        open_venue.pay(CASHIER, order.id, "card", NOW, amount=-5)
    with pytest.raises(InvalidAmount):
        open_venue.pay(CASHIER, order.id, "card", NOW, amount=0)
    with pytest.raises(InvalidAmount):
        open_venue.pay(CASHIER, order.id, "card", NOW, amount=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount, match="tip"):
        open_venue.pay(CASHIER, order.id, "card", NOW, tip=-1)
    with pytest.raises(DomainError, match="method"):
        open_venue.pay(CASHIER, order.id, "bitcoin", NOW)
    unchanged(open_venue)
    # a tip on top is fine and does not count toward the total
    result = open_venue.pay(CASHIER, order.id, "card", NOW, tip=50)
    assert result.receipt is not None
    assert result.receipt.total == 250


def test_paid_order_cannot_change(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    open_venue.pay(CASHIER, order.id, "card", NOW)
    open_venue.replica.take_updates()
    with pytest.raises(OrderNotOpen, match="paid"):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    with pytest.raises(OrderNotOpen):
        open_venue.pay(CASHIER, order.id, "card", NOW)
    unchanged(open_venue)


def test_empty_order_cannot_be_paid(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    with pytest.raises(DomainError, match="no lines"):
        open_venue.pay(CASHIER, order.id, "card", NOW)


def test_discounts_need_the_right_and_add_up(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(PermissionDenied, match="discount"):
        open_venue.add_line(CASHIER, order.id, "burger", 1, NOW, discount_id="staff")
    with pytest.raises(PermissionDenied):
        open_venue.apply_order_discount(CASHIER, order.id, "happy", NOW)
    unchanged(open_venue)
    order = open_venue.add_line(
        MANAGER, order.id, "burger", 1, NOW, discount_id="staff"
    )  # 1250 -> 625
    order = open_venue.add_line(MANAGER, order.id, "fries", 1, NOW)  # 450
    order = open_venue.apply_order_discount(MANAGER, order.id, "happy", NOW)  # 10 % of 1075
    assert order.totals.subtotal == 1700
    assert order.totals.discount == 625 + 108
    assert order.totals.total == 1700 - 625 - 108
    assert sum(a.amount for a in order.amounts) == order.totals.total
    with pytest.raises(DomainError, match="whole orders"):
        open_venue.add_line(MANAGER, order.id, "fries", 1, NOW, discount_id="happy")


def test_remove_line_and_void(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "fries", 1, NOW)
    order = open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    open_venue.send_to_kitchen(CASHIER, order.id, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(PermissionDenied, match="void"):
        open_venue.remove_line(CASHIER, order.id, order.lines[0].id, NOW)
    with pytest.raises(PermissionDenied, match="void"):
        open_venue.void_order(CASHIER, order.id, NOW)
    unchanged(open_venue)
    order = open_venue.remove_line(MANAGER, order.id, order.lines[0].id, NOW, "guest changed mind")
    assert [line.product_id for line in order.lines] == ["burger"]
    assert open_venue.void_order(MANAGER, order.id, NOW).status == "void"
    with pytest.raises(OrderNotOpen, match="void"):
        open_venue.pay(MANAGER, order.id, "card", NOW)


def test_receipt_numbers_never_collide_between_registers() -> None:
    from .conftest import make_venue, sync

    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    numbers = []
    for v in (r1, r2):
        v.open_shift_now(CASHIER, 0, NOW)
        for _ in range(3):
            order = v.open_order(CASHIER, NOW)
            v.add_line(CASHIER, order.id, "espresso", 1, NOW)
            result = v.pay(CASHIER, order.id, "card", NOW)
            assert result.receipt is not None
            numbers.append(result.receipt.number)
    sync(r1.replica, r2.replica)
    assert len(set(numbers)) == 6
    assert sorted(r.number for r in r1.ledger(r1.business_date(NOW)).receipts()) == sorted(numbers)
    # a register restarting from its documents continues its own sequence
    from meshpos.model import Replica, Venue

    restarted = Replica()
    for name in r1.replica.names():
        restarted.apply(name, r1.replica.doc(name).get_update())
    assert Venue(restarted, device="R2").receipt_seq == 3
