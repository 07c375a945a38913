from __future__ import annotations

import pytest
from pycrdt import Map

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidTransition,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model import (
    TICKET_TRANSITIONS,
    Product,
    Role,
    Tax,
    User,
    Venue,
    business_date,
    hash_pin,
    verify_pin,
)
from meshpos.model.sample import CASHIER, COOK

from .conftest import NOW, make_venue, sync


def ticket_for(venue: Venue) -> str:
    order = venue.open_order(CASHIER, NOW, table="12")
    venue.add_line(CASHIER, order.id, "burger", 2, NOW)
    venue.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["large", "soy"])
    ticket = venue.send_to_kitchen(CASHIER, order.id, NOW)
    assert ticket is not None
    assert venue.send_to_kitchen(CASHIER, order.id, NOW) is None  # nothing new to send
    return ticket.id


def test_ticket_lifecycle_follows_the_table(open_venue: Venue) -> None:
    ticket_id = ticket_for(open_venue)
    ticket = open_venue.kitchen(open_venue.business_date(NOW)).ticket(ticket_id)
    assert (ticket.state, ticket.table) == ("new", "12")
    assert [(i.name, i.quantity, i.modifiers) for i in ticket.items] == [
        ("Burger", 2, ()),
        ("Latte", 1, ("Large", "Soy milk")),
    ]
    states = [open_venue.bump(COOK, ticket_id, NOW + i).state for i in range(1, 4)]
    assert states == ["cooking", "ready", "served"]
    with pytest.raises(InvalidTransition, match="cannot bump a ticket that is served"):
        open_venue.bump(COOK, ticket_id, NOW + 5)
    assert open_venue.recall(COOK, ticket_id, NOW + 6).state == "ready"
    assert ticket.age_ms(NOW + 90_000) == 90_000


def test_every_illegal_transition_raises(open_venue: Venue) -> None:
    ticket_id = ticket_for(open_venue)
    kitchen = open_venue.kitchen(open_venue.business_date(NOW))
    for state in ("new", "cooking", "ready", "served"):
        for action in ("bump", "recall"):
            current = kitchen.ticket(ticket_id).state
            if current != state:
                continue
            if (state, action) not in TICKET_TRANSITIONS:
                with pytest.raises(InvalidTransition):
                    open_venue.bump(
                        COOK, ticket_id, NOW
                    ) if action == "bump" else open_venue.recall(COOK, ticket_id, NOW)
        if (state, "bump") in TICKET_TRANSITIONS:
            open_venue.bump(COOK, ticket_id, NOW)
    with pytest.raises(UnknownRecord):
        open_venue.bump(COOK, "ghost", NOW)


def test_kds_bumps_merge_with_register(open_venue: Venue) -> None:
    kds = make_venue("K1", role="kds", catalog_from=open_venue.replica)
    ticket_id = ticket_for(open_venue)
    sync(open_venue.replica, kds.replica)
    kds.bump(COOK, ticket_id, NOW + 1)
    open_venue.bump(COOK, ticket_id, NOW + 1)  # a second screen bumps at the same moment
    sync(open_venue.replica, kds.replica)
    date = open_venue.business_date(NOW)
    assert open_venue.kitchen(date).ticket(ticket_id) == kds.kitchen(date).ticket(ticket_id)
    assert kds.kitchen(date).ticket(ticket_id).state == "cooking"


def test_catalog_validation(venue: Venue) -> None:
    cat = venue.catalog
    with pytest.raises(DomainError, match="price must be between 0"):
        cat.put_product(Product("x", "X", -1))
    with pytest.raises(UnknownRecord, match="unknown tax"):
        cat.put_product(Product("x", "X", 1, tax_id="nope"))
    with pytest.raises(UnknownRecord, match="modifier group"):
        cat.put_product(Product("x", "X", 1, modifier_groups=("nope",)))
    with pytest.raises(DomainError, match="rate"):
        cat.put_tax(Tax("t", "T", 20_000))
    with pytest.raises(DomainError, match="unknown rights"):
        cat.put_role(Role("r", frozenset({"fly"})))
    with pytest.raises(UnknownRecord, match="unknown role"):
        cat.put_user(User("u", "U", "astronaut"))
    with pytest.raises(DomainError, match="id"):
        cat.put_product(Product("a/b", "X", 1))
    with pytest.raises(UnknownProduct):
        cat.product("x")
    assert venue.replica.take_updates() == []
    assert [p.id for p in cat.products()][:2] == ["croissant", "espresso"]  # by category, then name
    settings = cat.settings()
    assert (settings.currency, settings.day_cutoff_hour) == ("EUR", 4)


def test_pins_are_hashed_and_verified() -> None:
    h = hash_pin("1234")
    assert "1234" not in h
    assert verify_pin("1234", h)
    assert not verify_pin("4321", h)
    assert not verify_pin("1234", "garbage")
    assert hash_pin("1234") != h  # salted
    with pytest.raises(DomainError):
        hash_pin("12")


def test_business_date_cutoff_and_timezone() -> None:
    one_thirty = 1_764_034_200_000  # 2025-11-25 01:30 UTC
    assert business_date(one_thirty, "UTC", 4) == "2025-11-24"
    assert business_date(one_thirty, "UTC", 0) == "2025-11-25"
    assert business_date(one_thirty, "Europe/Kyiv", 4) == "2025-11-24"  # 03:30 local
    assert business_date(one_thirty, "America/New_York", 0) == "2025-11-24"
    with pytest.raises(DomainError, match="time zone"):
        business_date(one_thirty, "Mars/Olympus", 0)


def test_business_date_leaves_nothing_behind_over_a_day_of_calls() -> None:
    """A sale asks for the business day: whatever that makes must go with the call, or a day of
    sales leaves objects spread over its memory that keep it from being returned once the day is
    closed (``astimezone`` kept a few per hour of calls inside CPython's zoneinfo)."""
    import gc
    import tracemalloc

    from meshpos.model import venue_base

    one_thirty = 1_764_034_200_000
    for zone in ("UTC", "Europe/Kyiv"):
        business_date(one_thirty, zone, 4)  # the zone is loaded and cached once, before tracing
        tracemalloc.start()
        try:
            for second in range(0, 3 * 86_400, 60):  # three days, a call a minute
                business_date(one_thirty + second * 1000, zone, 4)
            gc.collect()
            kept = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, venue_base.__file__)]
            )
        finally:
            tracemalloc.stop()
        assert kept.statistics("lineno") == [], zone


def test_corrupt_records_are_reported_with_their_place(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW)
    open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    ledger = open_venue.ledger(open_venue.business_date(NOW))
    order_map = ledger.doc.get("orders", type=Map)[order.id]
    order_map["payments/bad"] = {
        "method": "card", "amount": 12.5, "tip": 0, "tendered": 0, "change": 0,
        "shift_id": "s", "register": "R9", "user": "u", "at": NOW,
    }  # fmt: skip
    with pytest.raises(
        CorruptRecord, match=r"payments/bad: field 'amount' is 12.5, expected an integer"
    ):
        open_venue.order(order.id)
    order_map["payments/bad"] = {"method": "card"}
    with pytest.raises(CorruptRecord, match="field 'amount' is missing"):
        open_venue.order(order.id)
    order_map["payments/bad"] = "not a record"
    with pytest.raises(CorruptRecord, match="expected a record"):
        open_venue.order(order.id)
    products = open_venue.catalog.doc.get("products", type=Map)
    products["weird"] = {"name": "W", "price": "ten", "active": True}
    with pytest.raises(CorruptRecord, match="products/weird: field 'price'"):
        open_venue.catalog.product("weird")
