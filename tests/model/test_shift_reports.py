"""X and Z reports, the Z that ends the business day, blind count and "no sale" openings (issue 17)."""

from __future__ import annotations

import dataclasses

import pytest

from meshpos.errors import OpenOrdersOnShift, PermissionDenied, ShiftClosed
from meshpos.model import Venue
from meshpos.model.receipt_search import ReceiptQuery, search_receipts
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.model.shift_report import close_with_z, end_day_by_last_z, my_last_z, shift_report

from .conftest import NOW, make_venue, sync
from .test_shifts_refunds import Check, sell


def test_x_report_adds_up_the_shift(open_venue: Venue) -> None:
    """Each figure is the sum of the records it names; the expected cash is the drawer's
    (``Venue.expected_cash``, what the close writes)."""
    v = open_venue
    cash = sell(v, ("espresso", 2))
    card = sell(v, ("croissant", 1), method="card")
    v.cash_move(CASHIER, "in", 500, "float", NOW)
    v.cash_move(CASHIER, "out", 200, "bank", NOW)
    v.refund(MANAGER, cash.id, NOW, lines={cash.lines[0].line_id: 1}, reason="cold")
    v.no_sale(CASHIER, "change for a guest", NOW)
    shift = v.open_shift()
    assert shift is not None
    x = shift_report(v, shift)
    refunded = sum(r.amount for r in v.ledger(v.business_date(NOW)).refunds())
    assert (x.report, x.receipts, x.sales) == ("X", 2, cash.total + card.total)
    assert (x.cash_taken, x.card_taken) == (cash.total, card.total)
    assert (x.refunds, x.cash_refunds, x.cash_in, x.cash_out) == (refunded, refunded, 500, 200)
    assert x.drawer_expected == v.expected_cash(shift)
    assert [(n.user, n.reason, n.register) for n in x.no_sales] == [
        (CASHIER, "change for a guest", "R1")
    ]


def test_blind_count_hides_the_expected_cash_until_counted(open_venue: Venue) -> None:
    v = open_venue
    sell(v, ("espresso", 1))
    settings = v.catalog.settings()
    v.catalog.put_settings(dataclasses.replace(settings, blind_count=True))
    assert v.catalog.settings().blind_count
    shift = v.open_shift()
    assert shift is not None
    assert shift_report(v, shift, blind=True).drawer_expected is None
    expected = v.expected_cash(shift)
    z = close_with_z(v, CASHIER, expected - 50, NOW).z
    assert (z.report, z.drawer_expected) == ("Z", expected)
    assert shift_report(v, z.shift, blind=True).drawer_expected == expected  # counted: shown
    assert z.shift.close is not None
    assert z.shift.close.difference == -50


def test_z_of_the_last_shift_ends_the_business_day() -> None:
    """Two registers: the first Z leaves the day open and says whose shift keeps it; the last ends it,
    so later sales go to the next day."""
    r1, r2 = make_venue("R1"), make_venue("R2")
    sync(r1.replica, r2.replica)
    r1.open_shift_now(MANAGER, 0, NOW)
    r2.open_shift_now(CASHIER, 0, NOW)
    sync(r1.replica, r2.replica)
    first = close_with_z(r1, MANAGER, 0, NOW + 1)
    assert first.day is None
    assert "the shift of Anna on R2 is still open" in first.day_open
    sync(r1.replica, r2.replica)
    today = r2.business_date(NOW)
    last = close_with_z(r2, MANAGER, 0, NOW + 2)
    assert last.day is not None
    assert last.day.date == today
    assert not last.day_open
    assert r2.business_date(NOW + 3) != today


def _two_open_shifts(r1_user: str = MANAGER, r2_user: str = MANAGER) -> tuple[Venue, Venue]:
    r1, r2 = make_venue("R1"), make_venue("R2")
    sync(r1.replica, r2.replica)
    r1.open_shift_now(r1_user, 0, NOW)
    r2.open_shift_now(r2_user, 0, NOW)
    sync(r1.replica, r2.replica)
    return r1, r2


def test_two_zs_at_once_end_the_day_on_the_register_whose_z_was_last() -> None:
    """Each Z sees the other shift open; once both closes meet, both agree R2's was last and R2
    alone ends the day (R1 writes nothing)."""
    r1, r2 = _two_open_shifts()
    today = r1.business_date(NOW)
    z1 = close_with_z(r1, MANAGER, 0, NOW + 1)
    z2 = close_with_z(r2, MANAGER, 0, NOW + 2)
    assert (z1.day, z2.day) == (None, None)
    assert "the shift of Max on R2 is still open" in z1.day_open
    sync(r1.replica, r2.replica)
    assert my_last_z(r1, NOW + 3) is None  # not R1's to end
    assert end_day_by_last_z(r1, NOW + 3) is None
    assert r1.business_date(NOW + 3) == today
    close = my_last_z(r2, NOW + 3)
    assert close is not None
    assert close.z
    ended = end_day_by_last_z(r2, NOW + 3)
    assert ended is not None
    assert ended.date == today
    sync(r1.replica, r2.replica)
    assert r1.business_date(NOW + 4) != today


def test_a_plain_close_or_a_cashiers_z_last_ends_no_day() -> None:
    r1, r2 = _two_open_shifts(r2_user=CASHIER)
    close_with_z(r1, MANAGER, 0, NOW + 1)
    r2.close_shift(CASHIER, 0, NOW + 2)  # closed last, without a Z
    sync(r1.replica, r2.replica)
    assert (my_last_z(r1, NOW + 3), my_last_z(r2, NOW + 3)) == (None, None)
    r1, r2 = _two_open_shifts(r2_user=CASHIER)
    close_with_z(r1, MANAGER, 0, NOW + 1)
    z = close_with_z(r2, CASHIER, 0, NOW + 2)  # the last Z, by someone who may not end the day
    assert z.day is None
    sync(r1.replica, r2.replica)
    assert (my_last_z(r1, NOW + 3), my_last_z(r2, NOW + 3)) == (None, None)
    assert end_day_by_last_z(r2, NOW + 3) is None


def test_a_z_that_finds_a_later_close_leaves_the_day_to_it() -> None:
    """R2 closed (plain) after R1's Z time by its own clock: R1's Z, meeting it, is not the last."""
    r1, r2 = _two_open_shifts()
    r2.close_shift(MANAGER, 0, NOW + 5)
    sync(r1.replica, r2.replica)
    z = close_with_z(r1, MANAGER, 0, NOW + 1)
    assert z.day is None
    assert "the shift of Max on R2 closed after this one" in z.day_open


def test_a_z_after_the_cut_off_does_not_end_the_new_day(open_venue: Venue) -> None:
    """A shift of business day D closed with a Z after D's cut-off hour (the next morning): D has
    ended by the clock, and ending today's day would send its sales to the day after."""
    v = open_venue
    day = v.business_date(NOW)
    next_morning = NOW + 20 * 3_600_000  # 06:00 the next day, past the 04:00 cut-off
    today = v.business_date(next_morning)
    assert today > day
    z = close_with_z(v, MANAGER, 10_000, next_morning)
    assert z.day is None
    assert f"business day {day} already ended" in z.day_open
    assert v.business_date(next_morning + 1) == today
    assert v.day_ends.days() == []


def test_z_by_a_cashier_closes_the_shift_and_says_the_day_stays_open(open_venue: Venue) -> None:
    z = close_with_z(open_venue, CASHIER, 10_000, NOW)
    assert z.z.shift.close is not None
    assert z.day is None
    assert "Anna may not end the business day" in z.day_open
    assert open_venue.business_date(NOW + 1) == open_venue.business_date(NOW)


def test_z_with_open_orders_changes_nothing(open_venue: Venue, unchanged: Check) -> None:
    order = open_venue.open_order(CASHIER, NOW, table="4")
    open_venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    open_venue.replica.take_updates()
    with pytest.raises(OpenOrdersOnShift, match="the order at table 4"):
        close_with_z(open_venue, MANAGER, 0, NOW)
    unchanged(open_venue)


def test_no_sale_is_recorded_and_syncs(open_venue: Venue, unchanged: Check) -> None:
    other = make_venue("R2", catalog_from=open_venue.replica)
    recorded = open_venue.no_sale(CASHIER, "", NOW)
    sync(open_venue.replica, other.replica)
    day = other.ledger(other.business_date(NOW))
    assert day.records(NO_SALES) == [recorded]
    open_venue.replica.take_updates()
    with pytest.raises(PermissionDenied):
        open_venue.no_sale(COOK, "peek", NOW)
    unchanged(open_venue)
    approved = open_venue.no_sale(COOK, "coins", NOW, approved_by=MANAGER)
    assert (approved.user, approved.approved_by) == (COOK, MANAGER)


def test_no_sale_needs_an_open_shift(venue: Venue, unchanged: Check) -> None:
    with pytest.raises(ShiftClosed):
        venue.no_sale(CASHIER, "", NOW)
    unchanged(venue)


def test_search_receipts_by_number_table_and_amount(open_venue: Venue) -> None:
    v = open_venue
    plain = sell(v, ("espresso", 1))
    order = v.open_order(CASHIER, NOW, table="12")
    v.add_line(CASHIER, order.id, "burger", 1, NOW)
    paid = v.pay(CASHIER, order.id, "card", NOW).receipt
    assert paid is not None
    day = v.ledger(v.business_date(NOW))

    def ids(q: ReceiptQuery) -> list[str]:
        return [f.receipt.id for f in search_receipts(day, q, 10)]

    assert ids(ReceiptQuery()) == [paid.id, plain.id]
    assert ids(ReceiptQuery(number=paid.number.lower())) == [paid.id]
    assert ids(ReceiptQuery(number=paid.number[-3:])) in ([paid.id], [paid.id, plain.id])
    assert ids(ReceiptQuery(table="12")) == [paid.id]
    assert ids(ReceiptQuery(table="1")) == []
    assert ids(ReceiptQuery(amount=plain.total)) == [plain.id]
    assert ids(ReceiptQuery(table="12", amount=plain.total)) == []
    assert search_receipts(day, ReceiptQuery(table="12"), 10)[0].table == "12"
    assert len(search_receipts(day, ReceiptQuery(), 1)) == 1
