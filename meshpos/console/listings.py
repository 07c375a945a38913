"""``GET /api/venues/{venue}/shifts``, ``/receipts`` and ``/records``: records listed whole, bounded by business days.

They answered every shift and every receipt the venue ever had (month three: 72,000 receipts in one
answer; ``/records?table=`` every row of a table). Without a day they now answer the recent ones: those of the ``RECENT_DAYS`` business days up to
the newest one the console holds records of, and, for shifts, every shift still open (a register that never
closed its drawer shows however old), so their cost follows the live days, not the venue's history.
``date`` asks one day, ``from``..``to`` a range of at most ``MAX_RANGE_DAYS`` (the manager reports' bound): a
range that is not one is 422 ``bad_range`` naming the parameter, as the manager reports say it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from meshpos.console.calls import ConsoleCall
from meshpos.console.cursor import Cursor
from meshpos.console.report_range import MAX_RANGE_DAYS
from meshpos.console.reports import receipt_rows, record_parent, shift_rows
from meshpos.console.reports import records as record_rows
from meshpos.httpapi.routes import Field, text
from meshpos.httpapi.server import HttpError
from meshpos.model.documents import DAY_PATTERN
from meshpos.model.limits import MAX_ID_CHARS

RECENT_DAYS = 7
"""The business days the listing answers when no day is asked: a week up to the newest day."""


def _day(name: str, doc: str) -> Field:
    return text(name, MAX_ID_CHARS, doc, default="", pattern=f"^(?:{DAY_PATTERN})?$")


QUERY = (
    _day("date", "one business day, YYYY-MM-DD (not with `from`/`to`)"),
    _day("from", "the first business day of a range, YYYY-MM-DD (with `to`)"),
    _day("to", f"the last business day, YYYY-MM-DD (at most {MAX_RANGE_DAYS} days after `from`)"),
)
_DAYS = (
    "`date`: one day; `from`..`to`: a range, both included, "
    f"at most {MAX_RANGE_DAYS} days; a range that is not one (reversed, too long, a day not on the "
    "calendar, `from` without `to`, a range with `date`) is 422 `bad_range` naming the parameter."
)
SHIFTS_DOC = (
    f"Without a day: the shifts of the {RECENT_DAYS} business days up to the newest the console "
    f"holds, and every shift still open. {_DAYS}"
)
RECORDS_DOC = (
    f"Every stored row of one table. Without a day: the rows of the {RECENT_DAYS} business days up "
    "to the newest the table holds (a line table: its parent's; every row was answered before). "
    f"{_DAYS}"
)
RECEIPTS_DOC = (
    f"Without a day: the receipts of the {RECENT_DAYS} business days up to the newest the console "
    f"holds (all of them were answered before). {_DAYS}"
)


def _calendar(c: ConsoleCall, name: str) -> date:
    try:
        return date.fromisoformat(c.query[name])
    except ValueError:
        raise HttpError(
            422,
            "bad_range",
            f"query parameter {name!r}: {c.query[name]} is not a day of the calendar",
        ) from None


def _asked(c: ConsoleCall) -> tuple[str, str] | None:
    """The days asked (first, last), or None for the recent ones."""
    q = c.query
    if q["date"]:
        if q["from"] or q["to"]:
            given = "from" if q["from"] else "to"
            raise HttpError(
                422, "bad_range", f"query parameter {given!r}: give `date` or a range, not both"
            )
        _calendar(c, "date")
        return q["date"], q["date"]
    if not q["from"] and not q["to"]:
        return None
    for name, other in (("from", "to"), ("to", "from")):
        if not q[name]:
            raise HttpError(
                422, "bad_range", f"query parameter {name!r} is missing: {other!r} needs it"
            )
    first, last = _calendar(c, "from"), _calendar(c, "to")
    span = (last - first).days
    if span < 0:
        raise HttpError(422, "bad_range", f"query parameter 'to' ({q['to']}) is before 'from'")
    if span >= MAX_RANGE_DAYS:
        raise HttpError(
            422,
            "bad_range",
            f"query parameter 'to': the listing covers at most {MAX_RANGE_DAYS} days, "
            f"{q['from']}..{q['to']} is {span + 1}",
        )
    return q["from"], q["to"]


async def _recent(cur: Cursor, table: str, venue_id: str) -> str | None:
    """The first of the ``RECENT_DAYS`` business days up to the newest ``table`` holds of the venue."""
    ((newest,),) = await cur.fetchall(
        f"SELECT MAX(business_date) FROM {table} WHERE venue_id = ?", (venue_id,)
    )
    if newest is None:
        return None
    return (date.fromisoformat(newest) - timedelta(days=RECENT_DAYS - 1)).isoformat()


async def _shifts(
    cur: Cursor, venue_id: str, asked: tuple[str, str] | None
) -> list[dict[str, Any]]:
    if asked is not None:
        where = "s.venue_id = ? AND s.business_date >= ? AND s.business_date <= ?"
        return await shift_rows(cur, where, (venue_id, *asked))
    first = await _recent(cur, "shifts", venue_id)
    if first is None:
        return []
    where = "s.venue_id = ? AND (s.business_date >= ? OR s.closed_at_ms IS NULL)"
    return await shift_rows(cur, where, (venue_id, first))


async def _receipts(
    cur: Cursor, venue_id: str, asked: tuple[str, str] | None
) -> list[dict[str, Any]]:
    if asked is None:
        first = await _recent(cur, "receipts", venue_id)
        if first is None:
            return []
        asked = (first, "9999-12-31")
    where = "r.venue_id = ? AND r.business_date >= ? AND r.business_date <= ?"
    return await receipt_rows(cur, where, (venue_id, *asked))


async def _records(
    cur: Cursor, venue_id: str, table: str, asked: tuple[str, str] | None
) -> list[dict[str, Any]]:
    if asked is None:
        first = await _recent(cur, record_parent(table), venue_id)
        if first is None:
            return []
        asked = (first, "9999-12-31")
    return await record_rows(cur, venue_id, table, asked)


async def records(c: ConsoleCall) -> list[dict[str, Any]]:
    asked = _asked(c)
    table = c.query["table"]
    return await c.console.db.report(lambda cur: _records(cur, c.venue, table, asked))


async def shifts(c: ConsoleCall) -> list[dict[str, Any]]:
    asked = _asked(c)
    return await c.console.db.report(lambda cur: _shifts(cur, c.venue, asked))


async def receipts(c: ConsoleCall) -> list[dict[str, Any]]:
    asked = _asked(c)
    return await c.console.db.report(lambda cur: _receipts(cur, c.venue, asked))
