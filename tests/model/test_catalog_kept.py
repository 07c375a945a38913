"""The catalog keeps a user's rights and the venue settings until its document changes (issue 18: every
tap asked them again, parsing the user, the role and the settings). Any change must apply to the very
next tap, whoever made it: the console on this replica, a peer's update, an undo, or a write still
inside an open transaction."""

from __future__ import annotations

from typing import Any

import pytest

import meshpos.model.catalog as catalog_module
from meshpos.errors import PermissionDenied, UnknownRecord
from meshpos.model import Venue
from meshpos.model.catalog import Role, Settings, User
from meshpos.model.catalog_types import parse_user
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, make_venue, sync

NO_SELL = Role("cashier", frozenset({"open_shift", "close_shift", "cash"}))
SELL = Role("cashier", frozenset({"sell", "open_shift", "close_shift", "cash"}))


def test_a_sale_reads_the_rights_once(open_venue: Venue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four taps by one cashier parse the user and the role once, not once a tap."""
    parsed: list[str] = []

    def counted(user_id: str, *args: Any) -> User:
        parsed.append(user_id)
        return parse_user(user_id, *args)

    open_venue.catalog.put_user(User(CASHIER, "Anna B.", "cashier"))  # a change: nothing kept now
    monkeypatch.setattr(catalog_module, "parse_user", counted)
    order = open_venue.open_order(CASHIER, NOW, table="T1")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    open_venue.add_line(CASHIER, order.id, "fries", 1, NOW)
    open_venue.pay(CASHIER, order.id, "card", NOW)
    assert parsed == [CASHIER]


def test_a_rights_change_on_this_replica_applies_to_the_next_tap(open_venue: Venue) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="T1")  # the rights are kept
    open_venue.catalog.put_role(NO_SELL)
    with pytest.raises(PermissionDenied):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    open_venue.catalog.put_role(SELL)
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)


def test_a_rights_change_from_the_console_applies_to_the_next_tap(open_venue: Venue) -> None:
    console = make_venue("C1", role="console", catalog_from=open_venue.replica)
    order = open_venue.open_order(CASHIER, NOW, table="T1")  # the rights are kept
    console.catalog.put_user(User(CASHIER, "Anna", "cook"))  # a peer's update: another role
    sync(open_venue.replica, console.replica)
    with pytest.raises(PermissionDenied):
        open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    console.catalog.put_user(User(CASHIER, "Anna", "cashier"))
    sync(open_venue.replica, console.replica)
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)


def test_a_removed_user_is_unknown_at_the_next_tap(open_venue: Venue) -> None:
    assert "sell" in open_venue.catalog.rights(MANAGER)  # kept
    open_venue.catalog.remove("users", MANAGER)  # a deletion alone moves no clock: still seen
    with pytest.raises(UnknownRecord):
        open_venue.catalog.rights(MANAGER)


def test_a_change_inside_an_open_transaction_is_seen_before_it_commits(venue: Venue) -> None:
    catalog = venue.catalog
    assert "sell" in catalog.rights(CASHIER)  # kept
    with catalog.doc.transaction():
        catalog.put_role(NO_SELL)
        assert "sell" not in catalog.rights(CASHIER)
    assert "sell" not in catalog.rights(CASHIER)


def test_a_settings_change_moves_the_business_day_at_once(venue: Venue) -> None:
    late = NOW + 16 * 3_600_000  # 2025-11-26 02:00 UTC: before the 04:00 cut-off
    assert venue.business_date(late) == "2025-11-25"  # the settings are kept
    venue.catalog.put_settings(Settings(timezone="UTC", day_cutoff_hour=0))
    assert venue.business_date(late) == "2025-11-26"
