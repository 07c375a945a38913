"""X and Z reports of a register's shift, and the Z that closes the shift and, last, the business day.

The figures are the console's shift report (``console/reports.py`` ``shift_rows``) computed from the
loaded ledger days instead of the materialised tables, under the same names, so a register's X or Z and
the console's report of that shift can be compared figure by figure (tests prove they are equal). An X
report is the shift so far; a Z report is of a closed shift. With the venue's ``blind_count`` setting
an open shift's report leaves the expected cash out: the cashier counts the drawer without knowing what
it should hold (docs/architecture.md (Model)).

**Changed** (outside round six, longshift; the twentieth session): a report is the sum of its days'
parts (``day_part``, ``report_of``), so the pages' day index keeps each day's part until the day changes
(``DayIndex.shift_report``): an X of a shift open for weeks read every day since it opened. And
``shift_overdue`` words a shift left open past its business day for the status.

**Changed** (shiftsum, the twentieth session): a report adds the kept parts of its shift's closed days
(``model/kept_parts.py``, where ``DayPart`` now lives): such a day closes while the shift stays open.

**Changed** (ownday, the twenty-first session): a shift kept open on a closed day
(``model/kept_shifts.py``) counts as open for the last Z, the Z's "still open" and the overdue status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from meshpos.errors import DayStillOpen, PermissionDenied
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import NOTHING, DayPart, day_parts
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import NoSale, Shift, ShiftClose
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.venue import DayEnded, Venue
from meshpos.model.venue_base import operation


@dataclass(frozen=True, slots=True)
class ShiftReport:
    """One shift's figures (integer minor units), named as the console's shift report names them."""

    report: str  # "X": the shift so far; "Z": the shift closed
    shift: Shift
    receipts: int
    sales: int  # receipts' totals
    cash_taken: int  # cash payments with their tips
    card_taken: int  # every other method, with tips
    refunds: int
    cash_refunds: int
    cash_in: int
    cash_out: int
    drawer_expected: int | None  # None while a blind count hides it
    no_sales: tuple[NoSale, ...]


@dataclass(frozen=True, slots=True)
class ZReport:
    """A Z: the closed shift's report, and the business day it ended when it was the day's last open
    shift (``day`` None otherwise; ``day_open`` says why the day stays open, in the venue's words)."""

    z: ShiftReport
    day: DayEnded | None
    day_open: str


def day_part(ledger: Ledger, shift_id: str) -> DayPart:
    """``ledger``'s day's part of the figures of shift ``shift_id`` (its records on that day)."""
    return day_parts(ledger).get(shift_id, NOTHING)


def report_of(shift: Shift, parts: Iterable[DayPart], *, blind: bool = False) -> ShiftReport:
    """``shift``'s report from its days' parts (``day_part`` of every loaded day)."""
    got = list(parts)
    cash_taken = sum(p.cash_taken for p in got)
    cash_in = sum(p.cash_in for p in got)
    cash_out = sum(p.cash_out for p in got)
    cash_refunds = sum(p.cash_refunds for p in got)
    expected = shift.opening_cash + cash_taken + cash_in - cash_out - cash_refunds
    hidden = blind and shift.is_open
    return ShiftReport(
        report="X" if shift.is_open else "Z",
        shift=shift,
        receipts=sum(p.receipts for p in got),
        sales=sum(p.sales for p in got),
        cash_taken=cash_taken,
        card_taken=sum(p.card_taken for p in got),
        refunds=sum(p.refunds for p in got),
        cash_refunds=cash_refunds,
        cash_in=cash_in,
        cash_out=cash_out,
        drawer_expected=None if hidden else expected,
        no_sales=tuple(sorted((n for p in got for n in p.no_sales), key=NO_SALES.sort)),
    )


def shift_report(venue: Venue, shift: Shift, *, blind: bool = False) -> ShiftReport:
    """``shift``'s report from every loaded ledger day (a shift's records may span two days) and the
    kept parts of its closed days (``model/kept_parts.py``)."""
    parts = [day_part(ledger, shift.id) for ledger in venue.ledgers()]
    parts += venue.kept_parts.of(shift.id, venue.replica.names())
    return report_of(shift, parts, blind=blind)


def shift_overdue(venue: Venue, now_ms: int, today: Callable[[int], str] | None = None) -> str:
    """ "shift open since <date>: close it" when this register's oldest open shift was opened on a
    business day before today's (``Venue.business_date``: past its cut-off hour, or ended early); empty
    otherwise. Such a shift keeps its own day loaded on every device (and every day since on a device
    without kept parts, ``model/kept_parts.py``), and nothing but its close lets them go: the status
    says so rather than stay green (docs/architecture.md (Status)). Keys and a handful of shifts per
    loaded day are read, not the days' sales. ``today``: the business day of a moment
    (``Venue.business_date`` unless the caller keeps it: the status asks ~10 times a second)."""
    for shift in venue.kept_shifts.open_shifts():  # its day closed (model/kept_shifts.py)
        if shift.register == venue.device:
            return f"shift open since {venue.kept_shifts.day_of(shift.id)}: close it"
    for ledger in reversed(venue.ledgers()):  # oldest first
        if ledger.open_shifts_of(venue.device):
            if ledger.date < (venue.business_date if today is None else today)(now_ms):
                return f"shift open since {ledger.date}: close it"
            return ""
    return ""


def last_z(venue: Venue, date: str) -> Shift | None:
    """The shift whose Z ends business day ``date``: the day ends with its last Z.

    None unless no shift of a loaded day is open and, of the shifts opened on ``date``, the last to
    close (by close time, then register and id: the same answer on every device) closed with a Z.
    Two Zs pressed at once on the last two registers each see the other's shift open; once each holds
    both closes, both agree which was last, and that register ends the day (``end_day_by_last_z``). A
    plain close that comes last ends nothing, as before."""
    if ledger_name(date) not in venue.replica.names():
        return None  # reading it would create an empty day
    if a_shift_is_open(venue):
        return None
    closed = [s for s in venue.ledger(date).shifts() if s.close is not None]
    last = max(closed, key=_close_order, default=None)
    return last if last is not None and last.close is not None and last.close.z else None


def a_shift_is_open(venue: Venue) -> bool:
    """Is any shift of an open day still open? (keys only: then no Z can be the day's last)"""
    return any(ledger.has_open_shift() for ledger in venue.ledgers()) or bool(
        venue.kept_shifts.open_shifts()  # of a closed day (model/kept_shifts.py)
    )


def _close_order(shift: Shift) -> tuple[int, str, str]:
    return (shift.close.closed_at_ms if shift.close else -1, shift.register, shift.id)


def my_last_z(venue: Venue, now_ms: int) -> ShiftClose | None:
    """The close of this register's shift if its Z is today's last (``last_z``) and the user who
    pressed it may end the day; None if not (a cashier's last Z leaves it to a manager, as it does
    when the Z itself finds no other shift open)."""
    if a_shift_is_open(venue):  # the common case, looked at first: keys only, no business date
        return None
    shift = last_z(venue, venue.business_date(now_ms))
    if shift is None or shift.close is None or shift.register != venue.device:
        return None
    try:
        venue.require(shift.close.user, "end_day")
    except PermissionDenied:
        return None
    return shift.close


@operation("end the business day with its last Z")
def end_day_by_last_z(venue: Venue, now_ms: int) -> DayEnded | None:
    """End today's business day for the user who pressed its last Z, if that was this register's
    (``my_last_z``), else nothing. Run by a register when other registers' closes arrive after its
    Z; looked at again here, in the write, so the day is ended on what is committed."""
    close = my_last_z(venue, now_ms)
    return None if close is None else venue.end_day(close.user, now_ms)


@operation("close the shift with a Z report")
def close_with_z(venue: Venue, user: str, counted_cash: int, now_ms: int) -> ZReport:
    """Close this register's shift with the counted cash; when it is the day's last Z (``last_z``:
    no other shift of the venue is open and none closed after it), end the business day too
    (``Venue.end_day``, what ``POST /api/day/close`` does). The shift closes whatever the day does:
    a day that cannot end yet (an open order, a user without the ``end_day`` right) is said in
    ``day_open`` and a manager ends it later. Another register's shift still open here may be
    closing with its own Z at this moment: whichever Z is last ends the day once both closes have
    met (``end_day_by_last_z``). A Z made after the shift's business day passed its cut-off hour
    ends nothing: that day has ended, and today's has just begun."""
    closed = venue.close_shift(user, counted_cash, now_ms, z=True)
    still_open = venue.open_shifts()  # (kept ones of closed days too: model/kept_shifts.py)
    shift_day = next(ledger.date for ledger in venue.ledgers() if ledger.has_shift(closed.id))
    today = venue.business_date(now_ms)
    day: DayEnded | None = None
    why = ""
    last = last_z(venue, shift_day) if not still_open else None
    if shift_day < today:  # a Z after the cut-off: ending today would send its sales to tomorrow
        why = f"business day {shift_day} already ended at its cut-off hour: sales go to {today}"
    elif still_open:
        s = min(still_open, key=lambda s: (s.opened_at_ms, s.id))
        why = (
            f"the shift of {venue.user_name(s.user)} on {s.register} is still open: the business "
            "day ends with the last Z"
        )
    elif last is None or last.id != closed.id:
        s = max((s for s in venue.ledger(shift_day).shifts() if s.close), key=_close_order)
        why = (
            f"the shift of {venue.user_name(s.user)} on {s.register} closed after this one: the "
            "business day ends with the last Z"
        )
    else:
        try:
            venue.require(user, "end_day")
            day = venue.end_day(user, now_ms)
        except PermissionDenied:
            why = (
                f"{venue.user_name(user)} may not end the business day: a manager ends it "
                "(Close day)"
            )
        except DayStillOpen as exc:  # checked before end_day writes anything
            why = exc.message
    return ZReport(shift_report(venue, closed), day, why)
