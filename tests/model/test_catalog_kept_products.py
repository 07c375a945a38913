"""The catalog keeps the products, taxes, modifier groups and discounts a tap reads until its document
changes (issue 18: each line parsed its product and its tax again). A console edit of a price, a tax,
an item's sale or the stop list applies to the very next tap, whoever made it: the console on this
replica, a peer's update, an undo, or a write still inside an open transaction."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import meshpos.model.catalog as catalog_module
from meshpos.errors import DomainError, ItemStopped, UnknownProduct, UnknownRecord
from meshpos.model import Venue
from meshpos.model._writes import all_or_nothing
from meshpos.model.catalog import Discount, Product, Tax
from meshpos.model.catalog_types import parse_product, parse_tax
from meshpos.model.clock import HybridClock
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue, sync

ESPRESSO = Product("espresso", "Espresso", 250, "Coffee", "vat10")


def _price_of_a_new_line(venue: Venue, order_id: str) -> int:
    order = venue.add_line(CASHIER, order_id, "espresso", 1, NOW)
    return max(order.lines, key=lambda line: line.stamp).unit_price


def _tax_of_a_new_line(venue: Venue, order_id: str) -> int:
    order = venue.add_line(CASHIER, order_id, "espresso", 1, NOW)
    return max(order.lines, key=lambda line: line.stamp).tax_rate_bp


def test_a_sale_parses_each_product_and_tax_once(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three lines of one product parse the product and its tax once, not once a line (fails with
    nothing kept: three of each)."""
    products: list[str] = []
    taxes: list[str] = []

    def product(key: str, *args: Any) -> Product:
        products.append(key)
        return parse_product(key, *args)

    def tax(key: str, *args: Any) -> Tax:
        taxes.append(key)
        return parse_tax(key, *args)

    monkeypatch.setattr(catalog_module, "parse_product", product)
    monkeypatch.setattr(catalog_module, "parse_tax", tax)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    for _ in range(3):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    assert products == ["espresso"]
    assert taxes == ["vat10"]


def test_a_price_change_on_this_replica_applies_to_the_next_tap(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    assert _price_of_a_new_line(open_venue, order.id) == 250  # the product is kept
    open_venue.catalog.put_product(replace(ESPRESSO, price=310))
    assert _price_of_a_new_line(open_venue, order.id) == 310


def test_a_price_change_from_the_console_applies_to_the_next_tap(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    assert _price_of_a_new_line(open_venue, order.id) == 250  # kept
    console.catalog.put_product(Product("espresso", "Espresso", 275, "Coffee", "vat10"))
    sync(open_venue.replica, console.replica)  # a peer's update
    assert _price_of_a_new_line(open_venue, order.id) == 275


def test_a_tax_change_from_the_console_applies_to_the_next_tap(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    assert _tax_of_a_new_line(open_venue, order.id) == 1_000  # the tax is kept
    console.catalog.put_tax(Tax("vat10", "VAT 13 %", 1_300, included=True))
    sync(open_venue.replica, console.replica)
    assert _tax_of_a_new_line(open_venue, order.id) == 1_300


def test_an_item_taken_off_sale_is_refused_at_the_next_tap(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)  # kept: on sale
    console.catalog.put_product(
        Product("espresso", "Espresso", 250, "Coffee", "vat10", active=False)
    )
    sync(open_venue.replica, console.replica)
    with pytest.raises(UnknownProduct):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)


def test_a_stop_list_entry_applies_to_the_next_tap(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)  # the product is kept
    console.stoplist.set(
        "espresso", True, user=CASHIER, device="C1", clock=HybridClock("C1"), now_ms=NOW + 1
    )
    sync(open_venue.replica, console.replica)
    with pytest.raises(ItemStopped):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)


def _edit_and_fail(venue: Venue) -> None:
    with all_or_nothing("edit and fail"):
        venue.catalog.put_product(Product("espresso", "Espresso", 999, "Coffee", "vat10"))
        assert venue.catalog.product("espresso").price == 999  # kept (no transaction open)
        raise DomainError("refused after the write")


def test_a_price_change_taken_back_by_undo_is_gone(open_venue: Venue) -> None:
    catalog = open_venue.catalog
    assert catalog.product("espresso").price == 250
    with pytest.raises(DomainError):
        _edit_and_fail(open_venue)
    assert catalog.product("espresso").price == 250
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    assert _price_of_a_new_line(open_venue, order.id) == 250


def test_a_change_inside_an_open_transaction_is_seen_before_it_commits(venue: Venue) -> None:
    catalog = venue.catalog
    assert catalog.product("espresso").price == 250  # kept
    with catalog.doc.transaction():
        catalog.put_product(Product("espresso", "Espresso", 260, "Coffee", "vat10"))
        assert catalog.product("espresso").price == 260
    assert catalog.product("espresso").price == 260


def test_a_discount_change_from_the_console_applies_at_once(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    console.catalog.put_discount(Discount("d10", "Ten off", "percent", "line", 1_000))
    sync(open_venue.replica, console.replica)
    assert open_venue.catalog.discount("d10").value == 1_000  # kept
    console.catalog.put_discount(Discount("d10", "Twenty off", "percent", "line", 2_000))
    sync(open_venue.replica, console.replica)
    assert open_venue.catalog.discount("d10").value == 2_000


def test_a_removed_modifier_group_is_unknown_at_once(venue: Venue) -> None:
    catalog = venue.catalog
    catalog.put_product(Product("latte", "Latte", 390, "Coffee", "vat10"))  # frees "size"
    assert catalog.modifier_group("size").id == "size"  # kept
    catalog.remove("modifier_groups", "size")
    with pytest.raises(UnknownRecord):
        catalog.modifier_group("size")
