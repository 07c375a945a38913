"""A manager's early end of the business day, and what keeps a day from ending or closing."""

from __future__ import annotations

from datetime import UTC

import pytest

from meshpos.errors import DayStillOpen, PermissionDenied
from meshpos.model import Venue
from meshpos.model.catalog_types import Settings
from meshpos.model.day_end import next_day, what_keeps_open
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, make_venue, sync

DAY_MS = 86_400_000


def test_ending_the_day_moves_later_sales_to_the_next_day_on_every_register() -> None:
    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    today = r1.business_date(NOW)
    r1.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW, table="4")
    with pytest.raises(PermissionDenied):
        r1.end_day(CASHIER, NOW)
    with pytest.raises(DayStillOpen) as refused:
        r1.end_day(MANAGER, NOW)
    assert "the shift of Anna on R1" in refused.value.message
    assert "the order at table 4 on R1 is open" in refused.value.message
    assert r1.day_ends.days() == []  # refused: nothing written
    r1.void_order(CASHIER, order.id, NOW, "guest left")
    r1.close_shift(CASHIER, 0, NOW)
    ended = r1.end_day(MANAGER, NOW)
    assert (ended.date, ended.next_date) == (today, next_day(today))
    assert r1.business_date(NOW) == next_day(today)
    assert r2.business_date(NOW) == today  # not synced yet: R2 still sells on the ended day
    sync(r1.replica, r2.replica)
    assert r2.business_date(NOW) == next_day(today)
    shift = r2.open_shift_now(CASHIER, 0, NOW)
    assert r2.ledger(next_day(today)).has_shift(shift.id)
    # the next day by the clock is not ended: it is where sales go then
    assert r1.business_date(NOW + DAY_MS) == next_day(today)


def test_a_refund_on_an_open_shift_keeps_the_old_day_open(open_venue: Venue) -> None:
    venue = open_venue
    old_at = NOW - 200 * DAY_MS
    other = make_venue("R2", catalog_from=venue.replica)
    other.open_shift_now(CASHIER, 0, old_at)
    order = other.open_order(CASHIER, old_at)
    other.add_line(CASHIER, order.id, "espresso", 1, old_at)
    receipt = other.pay(CASHIER, order.id, "cash", old_at).receipt
    assert receipt is not None
    other.close_shift(CASHIER, 0, old_at)
    sync(venue.replica, other.replica)
    old = venue.ledger(venue.business_date(old_at))
    drawers = [s for ledger in venue.ledgers() for s in ledger.shifts() if s.is_open]
    assert what_keeps_open(old, drawers, str, UTC) == []
    venue.refund(MANAGER, receipt.id, NOW)
    reasons = what_keeps_open(old, drawers, str, UTC)
    assert reasons == [
        f"its payments, refunds or cash moves count in the open shift of {CASHIER} on R1"
    ]


def test_a_shift_keeping_the_day_open_is_named_by_its_opening_on_the_venues_clock() -> None:
    """A cashier in Kolkata reads the time on the wall (UTC+05:30), not 10:00 UTC."""
    r1 = make_venue("R1")
    r1.catalog.put_settings(Settings(timezone="Asia/Kolkata", day_cutoff_hour=4))
    r1.open_shift_now(CASHIER, 0, NOW)  # 2025-11-25 10:00 UTC
    with pytest.raises(DayStillOpen) as refused:
        r1.end_day(MANAGER, NOW)
    assert "the shift of Anna on R1 (opened 15:30) is open" in refused.value.message
