"""What the console edits in the catalog (issue 16): categories, kitchen stations, discounts only some
roles may give, venue name and receipt footer, and deletions that never leave a dangling id."""

from __future__ import annotations

import pytest

from meshpos.errors import DomainError, PermissionDenied, UnknownRecord
from meshpos.model import Category, Discount, Product, Role, Settings, User, Venue
from meshpos.model.catalog_types import Modifier, ModifierGroup
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW


def test_categories_are_entities_in_their_order(venue: Venue) -> None:
    cat = venue.catalog
    cat.put_category(Category("zz", "Apéritifs", 99))
    cat.put_category(Category("aa", "Zest", 0))
    names = [c.name for c in cat.categories()]
    assert names[-1] == "Apéritifs"  # by position, then name
    assert names[:2] == ["Coffee", "Zest"]
    assert cat.category("zz") == Category("zz", "Apéritifs", 99)
    with pytest.raises(UnknownRecord):
        cat.category("nope")
    with pytest.raises(DomainError, match="position"):
        cat.put_category(Category("x", "X", -1))


def test_a_product_keeps_its_kitchen_station(venue: Venue) -> None:
    venue.catalog.put_product(Product("tea", "Tea", 300, "Drinks", "vat10", kitchen="bar"))
    assert venue.catalog.product("tea").kitchen == "bar"
    assert venue.catalog.product("burger").kitchen == "grill"  # the sample routes it


def test_a_discount_naming_roles_is_given_only_by_them(open_venue: Venue) -> None:
    cat = open_venue.catalog
    cat.put_role(
        Role("cashier", frozenset({"sell", "open_shift", "close_shift", "cash", "discount"}))
    )
    cat.put_discount(Discount("mgr", "Manager 20 %", "percent", "line", 2_000, ("manager",)))
    cat.put_discount(Discount("any", "Any 5 %", "percent", "line", 500))
    order = open_venue.open_order(CASHIER, NOW)
    with pytest.raises(PermissionDenied, match="only manager"):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW, discount_id="mgr")
    order = open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW, discount_id="any")
    assert [line.discount_id for line in order.lines] == ["any"]  # the one anyone may give
    assert cat.discount("mgr").roles == ("manager",)
    with pytest.raises(UnknownRecord, match="role 'chef'"):
        cat.put_discount(Discount("x", "X", "fixed", "order", 100, ("chef",)))
    cat.may_give(MANAGER, cat.discount("mgr"))  # no error


def test_settings_keep_the_venue_name_and_receipt_footer(venue: Venue) -> None:
    settings = Settings("CHF", "Hello", 5, "Europe/Zurich", "Café Uno", "Merci")
    venue.catalog.put_settings(settings)
    assert venue.catalog.settings() == settings


def test_an_entity_still_named_is_not_deleted_and_an_unused_one_is(venue: Venue) -> None:
    cat = venue.catalog
    with pytest.raises(DomainError, match="latte"):
        cat.remove("modifier_groups", "milk")
    with pytest.raises(DomainError, match="u-anna"):
        cat.remove("roles", "cashier")
    with pytest.raises(DomainError, match="espresso"):
        cat.remove("taxes", "vat10")
    with pytest.raises(DomainError, match="cannot delete"):
        cat.remove("products", "latte")
    with pytest.raises(UnknownRecord):
        cat.remove("discounts", "nope")
    cat.remove("discounts", "staff")
    with pytest.raises(UnknownRecord):
        cat.discount("staff")
    cat.put_user(User("u-new", "New", "cook"))
    cat.remove("users", "u-new")
    assert "u-new" not in {u.id for u in cat.users()}


def test_a_menu_loads_all_or_nothing(venue: Venue) -> None:
    before = venue.catalog.products()
    with pytest.raises(UnknownRecord):
        venue.catalog.load(
            [
                Category("new", "New"),
                Product("a", "A", 100, "new"),
                Product("b", "B", 1, "", "vat99"),
            ]
        )
    assert venue.catalog.products() == before
    with pytest.raises(UnknownRecord):
        venue.catalog.category("new")


def test_a_ticket_item_goes_to_its_products_kitchen_station(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    ticket = open_venue.send_to_kitchen(CASHIER, order.id, NOW)
    assert ticket is not None
    assert {item.name: item.station for item in ticket.items} == {"Burger": "grill", "Espresso": ""}


def test_a_load_checks_each_product_against_the_groups_it_wrote_before_it(venue: Venue) -> None:
    """A load reads each modifier group once (``KeptGroups``), and forgets it when the load writes the
    group: a product after the new group is checked against the new one, not the one read before."""
    cat = venue.catalog
    old = ModifierGroup("mods", "Mods", (Modifier("less", "Less", -50),), 1, 1)
    new = ModifierGroup("mods", "Mods", (Modifier("less", "Less", -200),), 1, 1)
    cat.put_modifier_group(old)
    dear = Product("dear", "Dear", 300, "Drinks", None, modifier_groups=("mods",))
    cheap = Product("cheap", "Cheap", 100, "Drinks", None, modifier_groups=("mods",))
    with pytest.raises(DomainError, match=r"'cheap'.*never below zero"):
        cat.load([dear, new, cheap])  # (``dear`` read the old group first)
    assert cat.modifier_group("mods") == old  # all or nothing
    with pytest.raises(UnknownRecord):
        cat.product("dear")
    cat.load([dear, new])
    assert cat.modifier_group("mods") == new


def test_a_load_checks_the_products_as_it_leaves_them(venue: Venue) -> None:
    """A copied menu brings a group and the prices that go with it: the group was checked against the
    products as they were before the load (refused for a price the load replaced); now every product
    offering a group the load writes is checked as the load leaves it, written by the load or not."""
    cat = venue.catalog
    plain = ModifierGroup("mods", "Mods", (Modifier("std", "Std", 0),), 1, 1)
    less = ModifierGroup("mods", "Mods", (Modifier("less", "Less", -300),), 1, 1)
    cat.put_modifier_group(plain)
    cat.put_product(Product("small", "Small", 100, "Drinks", None, modifier_groups=("mods",)))
    cat.load([less, Product("small", "Small", 500, "Drinks", None, modifier_groups=("mods",))])
    assert cat.product("small").price == 500
    assert cat.modifier_group("mods") == less
    worse = ModifierGroup("mods", "Mods", (Modifier("less", "Less", -550),), 1, 1)
    big = Product("big", "Big", 900, "Drinks", None, modifier_groups=("mods",))
    with pytest.raises(DomainError, match=r"'small'.*never below zero"):
        cat.load([worse, big])  # ('small' is not in the load, and 550 off makes it cost -50)
    assert cat.modifier_group("mods") == less  # all or nothing
    with pytest.raises(UnknownRecord):
        cat.product("big")
