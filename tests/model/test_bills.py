"""A line's quantity, an order's table or tab, moving it, and splitting it by items into bills."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshpos.errors import (
    DomainError,
    InvalidQuantity,
    OrderNotOpen,
    PermissionDenied,
    TableTaken,
    UnknownRecord,
)
from meshpos.model import Venue
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, make_venue, sync

Check = Callable[[Venue], None]


def test_a_new_quantity_replaces_the_line_in_its_place(open_venue: Venue) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW)
    first = v.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["large", "oat"]).lines[0]
    v.add_line(CASHIER, order.id, "croissant", 1, NOW + 1)
    changed = v.set_quantity(CASHIER, order.id, first.id, 3, NOW + 2)
    latte = changed.lines[0]  # still first: the cashier's order is kept
    assert (latte.name, latte.quantity, latte.replaces) == ("Latte", 3, first.id)
    assert [m.id for m in latte.modifiers] == ["large", "oat"]
    assert latte.unit_price == first.unit_price
    assert changed.totals.subtotal == 3 * first.unit_price + 280
    again = v.set_quantity(CASHIER, order.id, latte.id, 2, NOW + 3)
    assert again.lines[0].replaces == first.id  # a chain of changes names the first line


def test_quantity_refusals_name_the_item_and_change_nothing(
    open_venue: Venue, unchanged: Check
) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW, table="4")
    line = v.add_line(CASHIER, order.id, "burger", 1, NOW).lines[0]
    v.send_to_kitchen(CASHIER, order.id, NOW)
    v.replica.take_updates()
    with pytest.raises(DomainError, match="Burger on the order at table 4 was already sent"):
        v.set_quantity(CASHIER, order.id, line.id, 2, NOW)
    with pytest.raises(DomainError, match="between 1 and"):
        v.set_quantity(CASHIER, order.id, line.id, 0, NOW)
    with pytest.raises(UnknownRecord, match="the order at table 4 has no such item"):
        v.set_quantity(CASHIER, order.id, "nope", 2, NOW)
    unchanged(v)


def test_two_registers_changing_one_quantity_keep_the_later(open_venue: Venue) -> None:
    r1 = open_venue
    r2 = make_venue("R2", catalog_from=r1.replica)
    r2.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    line = r1.add_line(CASHIER, order.id, "espresso", 1, NOW).lines[0]
    sync(r1.replica, r2.replica)
    r1.set_quantity(CASHIER, order.id, line.id, 3, NOW + 10)
    r2.set_quantity(CASHIER, order.id, line.id, 5, NOW + 20)
    sync(r1.replica, r2.replica)
    for v in (r1, r2):
        merged = v.order(order.id)
        assert [ln.quantity for ln in merged.lines] == [5]  # never 3 + 5
    assert r1.order(order.id) == r2.order(order.id)


def test_table_and_tab_are_set_moved_and_cleared(open_venue: Venue) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW, table="4")
    moved = v.set_place(CASHIER, order.id, NOW + 1, table="7", tab="")
    assert (moved.table, moved.tab, moved.opened_table) == ("7", "", "4")
    assert moved.words == "the order at table 7"
    on_tab = v.set_place(CASHIER, order.id, NOW + 2, table="", tab="Smith")
    assert (on_tab.table, on_tab.tab, on_tab.words) == ("", "Smith", "the order on tab Smith")
    cleared = v.set_place(CASHIER, order.id, NOW + 3, table="", tab="")
    assert cleared.words == f"order {cleared.number}"
    v.add_line(CASHIER, order.id, "burger", 1, NOW)
    v.set_place(CASHIER, order.id, NOW + 4, table="9", tab="")
    ticket = v.send_to_kitchen(CASHIER, order.id, NOW + 5)
    assert ticket is not None
    assert ticket.table == "9"  # the kitchen sees where the order is now


def test_moving_to_a_table_with_an_open_order_is_refused_in_venue_words(
    open_venue: Venue, unchanged: Check
) -> None:
    v = open_venue
    there = v.open_order(CASHIER, NOW, table="5")
    order = v.open_order(CASHIER, NOW, table="4")
    v.replica.take_updates()
    with pytest.raises(TableTaken) as refused:
        v.set_place(CASHIER, order.id, NOW, table="5", tab="")
    assert refused.value.message == (
        f"cannot move the order at table 4 to table 5: table 5 already has an open order "
        f"({there.number}). Pay or move that order first"
    )
    assert order.id not in refused.value.message
    assert there.id not in refused.value.message
    unchanged(v)
    v.void_order(CASHIER, there.id, NOW)  # once that order is settled the table is free
    assert v.set_place(CASHIER, order.id, NOW, table="5", tab="").table == "5"


def test_split_by_items_makes_a_bill_paid_on_another_register(open_venue: Venue) -> None:
    r1 = open_venue
    r2 = make_venue("R2", catalog_from=r1.replica)
    r2.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW, table="3")
    order = r1.add_line(CASHIER, order.id, "burger", 2, NOW)
    order = r1.add_line(CASHIER, order.id, "lemonade", 1, NOW + 1)
    order = r1.add_line(MANAGER, order.id, "croissant", 1, NOW + 2, discount_id="staff")
    r1.apply_order_discount(MANAGER, order.id, "happy", NOW + 3)
    r1.send_to_kitchen(CASHIER, order.id, NOW + 4)
    burger, _lemonade, croissant = order.lines
    before = r1.order(order.id).totals.total
    sync(r1.replica, r2.replica)
    bill = r2.split_order(CASHIER, order.id, {burger.id: 1, croissant.id: 1}, NOW + 5)
    assert (bill.table, bill.split_from, bill.register) == ("3", order.id, "R2")
    assert [(ln.name, ln.quantity) for ln in bill.lines] == [("Burger", 1), ("Croissant", 1)]
    assert bill.lines[1].discount_id == "staff"
    assert [d[0] for d in bill.discounts] == ["happy"]  # a percent order discount goes along
    assert bill.sent_line_ids == {ln.id for ln in bill.lines}  # never sent to the kitchen twice
    rest = r2.order(order.id)
    assert [(ln.name, ln.quantity) for ln in rest.lines] == [("Burger", 1), ("Lemonade", 1)]
    assert rest.sent_line_ids >= {ln.id for ln in rest.lines}
    assert r2.send_to_kitchen(CASHIER, bill.id, NOW) is None
    assert bill.totals.total + rest.totals.total == before  # nothing lost, nothing twice
    sync(r1.replica, r2.replica)
    paid_on_r1 = r1.pay(CASHIER, order.id, "cash", NOW + 6).receipt
    paid_on_r2 = r2.pay(CASHIER, bill.id, "card", NOW + 7).receipt
    assert paid_on_r1 is not None
    assert paid_on_r2 is not None
    assert paid_on_r1.total + paid_on_r2.total == before
    sync(r1.replica, r2.replica)
    assert r1.conflicts() == []
    assert r2.conflicts() == []


def test_split_refusals_change_nothing(open_venue: Venue, unchanged: Check) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW)
    order = v.add_line(CASHIER, order.id, "burger", 2, NOW)
    (burger,) = order.lines
    v.replica.take_updates()
    with pytest.raises(DomainError, match=f"everything on order {order.number}"):
        v.split_order(CASHIER, order.id, {burger.id: 2}, NOW)
    with pytest.raises(InvalidQuantity, match="has 2 × Burger, cannot split off 3"):
        v.split_order(CASHIER, order.id, {burger.id: 3}, NOW)
    with pytest.raises(DomainError, match="at least one item"):
        v.split_order(CASHIER, order.id, {}, NOW)
    with pytest.raises(UnknownRecord, match="no such item"):
        v.split_order(CASHIER, order.id, {"x": 1}, NOW)
    unchanged(v)
    v.apply_order_discount(MANAGER, order.id, "voucher5", NOW)
    v.replica.take_updates()
    with pytest.raises(DomainError, match="'Voucher 5\\.00' is taken off the whole of order #"):
        v.split_order(CASHIER, order.id, {burger.id: 1}, NOW)
    unchanged(v)
    v.pay(CASHIER, order.id, "cash", NOW, amount=100)
    v.replica.take_updates()
    with pytest.raises(DomainError, match="partly paid: split it before"):
        v.split_order(CASHIER, order.id, {burger.id: 1}, NOW)
    unchanged(v)


def test_one_item_split_on_two_registers_at_once_is_a_conflict(open_venue: Venue) -> None:
    r1 = open_venue
    r2 = make_venue("R2", catalog_from=r1.replica)
    r2.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    fries = r1.add_line(CASHIER, order.id, "fries", 1, NOW + 1).lines[1]
    sync(r1.replica, r2.replica)
    b1 = r1.split_order(CASHIER, order.id, {fries.id: 1}, NOW + 2)
    b2 = r2.split_order(CASHIER, order.id, {fries.id: 1}, NOW + 3)
    sync(r1.replica, r2.replica)
    for v in (r1, r2):
        assert v.order(b1.id).lines  # both bills kept
        assert v.order(b2.id).lines
        assert [(c.kind, c.order_id) for c in v.conflicts()] == [("split_twice", b2.id)]


def test_the_kitchen_tells_a_split_bill_from_the_order_at_its_table(open_venue: Venue) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW, table="12")
    v.add_line(CASHIER, order.id, "burger", 1, NOW)
    fries = v.add_line(CASHIER, order.id, "fries", 1, NOW + 1).lines[1]
    bill = v.split_order(CASHIER, order.id, {fries.id: 1}, NOW + 2)
    first = v.send_to_kitchen(CASHIER, order.id, NOW + 3)
    second = v.send_to_kitchen(CASHIER, bill.id, NOW + 4)
    assert first is not None
    assert second is not None
    assert first.label == "Table 12"
    assert second.label == f"Table 12 · bill {bill.number}"
    assert [i.name for i in second.items] == ["Fries"]


def test_an_order_paid_elsewhere_is_named_as_the_cashier_knows_it(
    open_venue: Venue, unchanged: Check
) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW, table="8")
    line = v.add_line(CASHIER, order.id, "espresso", 2, NOW).lines[0]
    v.pay(CASHIER, order.id, "cash", NOW)
    v.replica.take_updates()
    with pytest.raises(OrderNotOpen) as refused:
        v.set_quantity(CASHIER, order.id, line.id, 1, NOW)
    assert refused.value.message == "the order at table 8 is paid already"
    unchanged(v)


def test_a_void_of_a_split_bill_reaches_the_kitchen_ticket_that_has_its_items(
    open_venue: Venue,
) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW, table="3")
    v.add_line(CASHIER, order.id, "burger", 1, NOW)
    v.add_line(CASHIER, order.id, "fries", 2, NOW + 1)
    order = v.add_line(CASHIER, order.id, "lemonade", 1, NOW + 2)
    burger, fries, _lemonade = order.lines
    ticket = v.send_to_kitchen(CASHIER, order.id, NOW + 3)
    assert ticket is not None
    bill = v.split_order(CASHIER, order.id, {burger.id: 1, fries.id: 1}, NOW + 4)
    v.void_order(MANAGER, bill.id, NOW + 5, "guest left")
    items = {i.name: i.void for i in v.kitchen(v.business_date(NOW)).ticket(ticket.id).items}
    # the whole burger left with the bill: void; one of two fries did: the cook still makes both
    assert items == {"Burger": True, "Fries": False, "Lemonade": False}


def test_more_of_a_discounted_line_needs_someone_who_may_give_the_discount(
    open_venue: Venue, unchanged: Check
) -> None:
    v = open_venue
    order = v.open_order(CASHIER, NOW)
    coffee = v.add_line(
        CASHIER, order.id, "espresso", 1, NOW, discount_id="staff", approved_by=MANAGER
    ).lines[0]
    v.replica.take_updates()
    with pytest.raises(PermissionDenied, match="may not discount") as refused:
        v.set_quantity(CASHIER, order.id, coffee.id, 10, NOW)  # one approved coffee is not ten
    assert refused.value.right == "discount"
    unchanged(v)
    ten = v.set_quantity(CASHIER, order.id, coffee.id, 10, NOW + 1, approved_by=MANAGER).lines[0]
    assert (ten.quantity, ten.discount_id) == (10, "staff")
    two = v.set_quantity(CASHIER, order.id, ten.id, 2, NOW + 2).lines[0]  # fewer: as approved
    assert (two.quantity, two.discount_id) == (2, "staff")
    record = v.ledger(v.business_date(NOW)).order_records(order.id, "lines")[two.id]
    assert isinstance(record, dict)
    assert record["approved_by"] == MANAGER
