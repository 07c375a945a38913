"""Refusals a cashier reads about an order name it as the cashier knows it (issue 17): by its table, its
tab or the number the register page shows, never its id; and they change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW

Check = Callable[[Venue], None]


def _refused(venue: Venue, unchanged: Check, call: Callable[[], object]) -> str:
    venue.replica.take_updates()
    with pytest.raises(MeshposError) as refused:
        call()
    unchanged(venue)
    return refused.value.message


def test_payment_void_and_discount_refusals_name_the_order_by_table_tab_or_number(
    open_venue: Venue, unchanged: Check
) -> None:
    v = open_venue
    empty = v.open_order(CASHIER, NOW, tab="Smith")
    nothing = _refused(v, unchanged, lambda: v.pay(CASHIER, empty.id, "card", NOW))
    assert nothing == "the order on tab Smith has no lines to pay for"

    order = v.open_order(CASHIER, NOW, table="9")
    order = v.add_line(CASHIER, order.id, "espresso", 1, NOW)
    due = order.totals.due
    over = _refused(v, unchanged, lambda: v.pay(CASHIER, order.id, "card", NOW, amount=due + 1))
    assert f"exceeds the {due} still due on the order at table 9" in over

    v.add_line(CASHIER, order.id, "croissant", 1, NOW)
    v.pay(CASHIER, order.id, "card", NOW, amount=1)  # partly paid
    discount = _refused(
        v, unchanged, lambda: v.apply_order_discount(MANAGER, order.id, "happy", NOW)
    )
    assert discount == "the order at table 9 is partly paid: discounts must come before payment"
    void = _refused(v, unchanged, lambda: v.void_order(MANAGER, order.id, NOW, "left"))
    assert void == "the order at table 9 has payments: refund them instead of voiding"

    bare = v.open_order(CASHIER, NOW)
    no_item = _refused(v, unchanged, lambda: v.remove_line(CASHIER, bare.id, "no-such-line", NOW))
    assert no_item.startswith(f"order {bare.number} has no such item")
    for message in (nothing, over, discount, void, no_item):
        assert order.id not in message
        assert empty.id not in message
        assert bare.id not in message
