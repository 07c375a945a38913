"""Which register's shift has been open since an earlier business day, as the console tells it.

A register says "shift open since <date>: close it" in its own status (``shift_report.shift_overdue``):
such a shift keeps its own day loaded on every device and its drawer uncounted. The manager at the
console did not see it: the devices table (``GET /api/venues/{venue}/status``, ``registers``) and the
shifts report showed an open shift like any other. The console holds every shift the relay uploaded
(the ``shifts`` table, with the business day each opened on), so it tells it itself, by the venue's
business day now (its clock, its cut-off, a day ended early: ``Venue.business_date``), whether or not
the register is reachable.

**Changed** (shifts, the twenty-first session): new.
"""

from __future__ import annotations

from meshpos.console.cursor import Cursor


def open_since(opened_on: str, today: str) -> str | None:
    """The business day an open shift opened on, when it is before ``today``'s: it is open past its
    day (None otherwise). The one rule the devices table and the shifts report both show."""
    return opened_on if opened_on < today else None


async def open_days(cur: Cursor, venue_id: str) -> dict[str, tuple[str, str]]:
    """Shift id -> (register, the business day it opened on) of the venue's open shifts (a handful:
    the query reads the shifts of the venue, not its sales)."""
    rows = await cur.fetchall(
        "SELECT id, register, business_date FROM shifts WHERE venue_id = ? "
        "AND closed_at_ms IS NULL",
        (venue_id,),
    )
    return {str(i): (str(register), str(day)) for i, register, day in rows if day is not None}


def oldest_open(shifts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Register -> the business day its oldest open shift opened on (of ``open_days``)."""
    oldest: dict[str, str] = {}
    for register, day in shifts.values():
        oldest[register] = min(day, oldest.get(register, day))
    return oldest
