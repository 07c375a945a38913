"""What every report over a range of business days shares at the console: the range checked, the catalog's
names, the answer as JSON or CSV, and the route's shape (query, errors, types).

The manager's reports (``api_manager``), the drawer's (``api_drawer``) and the record listings
(``listings``, the same bound) use it, so a range means the same everywhere. Each report reads a bounded
range (``from``..``to``, at most ``MAX_RANGE_DAYS``): a date that is not the ``YYYY-MM-DD`` of the schema
is 400 naming the field; a range that is well formed but not a range (reversed, too long, a 30th of
February) is 422 ``bad_range`` naming the field, as every schema-valid request the console refuses is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from meshpos.console.calls import VENUE, ConsoleCall
from meshpos.console.manager_reports import Days
from meshpos.console.report_names import Names, to_csv
from meshpos.console.venue_docs import stored_venue
from meshpos.httpapi.routes import Field, Route, choice, opt, text
from meshpos.httpapi.server import HttpError, Response
from meshpos.model.documents import DAY_PATTERN
from meshpos.model.limits import MAX_ID_CHARS, text_problem

MAX_RANGE_DAYS = 366
"""The longest range one report reads: a year, so a report's cost is bounded by a year of the venue's
sales whatever its history holds."""


async def catalog_names(c: ConsoleCall) -> Names:
    """The catalog of the venue: the loaded hub's, or the database's (no hub loads for a report)."""
    hub = c.console.hubs.get(c.venue)
    venue = hub.venue if hub is not None else await stored_venue(c.console.db, c.venue)
    return Names.of(venue)


def report_days(c: ConsoleCall) -> Days:
    parsed = {}
    for name in ("from", "to"):
        value = c.query[name]
        try:
            parsed[name] = date.fromisoformat(value)
        except ValueError:
            raise HttpError(
                422, "bad_range", f"query parameter {name!r}: {value} is not a day of the calendar"
            ) from None
    span = (parsed["to"] - parsed["from"]).days
    if span < 0:
        raise HttpError(
            422, "bad_range", f"query parameter 'to' ({c.query['to']}) is before 'from'"
        )
    if span >= MAX_RANGE_DAYS:
        raise HttpError(
            422,
            "bad_range",
            f"query parameter 'to': a report covers at most {MAX_RANGE_DAYS} days, "
            f"{c.query['from']}..{c.query['to']} is {span + 1}",
        )
    return Days(c.query["from"], c.query["to"])


def answer(c: ConsoleCall, rows: list[dict[str, Any]], columns: Sequence[str], name: str) -> Any:
    """The rows as JSON, or as CSV when ``format=csv`` (a file the browser saves)."""
    if c.query.get("format") != "csv":
        return rows
    # a header is ASCII: a product id of any script names no file (stock-_.csv, still a file)
    wanted = f"{name}-{c.query.get('from', '')}-{c.query.get('to', '')}".rstrip("-")
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", wanted)
    return Response(
        200,
        to_csv(rows, columns).encode(),
        "text/csv; charset=utf-8",
        {"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def known_id(value: str, what: str) -> str:
    """An id from the path no record can have (too long, control characters) is simply unknown."""
    if text_problem(value, MAX_ID_CHARS) is not None:
        raise HttpError(404, f"unknown_{what}", f"no {what} {value[:40]!r} at this console")
    return value


FORMAT = opt(
    "format",
    choice("json", "csv"),
    "json",
    "`csv`: the same report as a spreadsheet file (amounts in minor units)",
)


def _day(name: str, doc: str) -> Field:
    return text(name, MAX_ID_CHARS, doc, pattern=f"^{DAY_PATTERN}$")


RANGE = (
    _day("from", "the first business day, YYYY-MM-DD"),
    _day("to", f"the last business day, YYYY-MM-DD (at most {MAX_RANGE_DAYS} days after `from`)"),
)
REPORTS = f"{VENUE}/reports"


def report_route(
    path: str,
    handler: Callable[[ConsoleCall], Any],
    summary: str,
    returns: Any,
    query: tuple[Field, ...] = (*RANGE, FORMAT),
    **kw: Any,
) -> Route:
    return Route(
        "GET",
        f"{REPORTS}/{path}",
        handler,
        summary,
        returns,
        tag="reports",
        query=query,
        other_types=("text/csv; charset=utf-8",) if FORMAT in query else (),
        errors=(*kw.pop("errors", ()), *((422,) if RANGE[0] in query else ())),
        **kw,
    )


RANGE_NOTE = (
    f"`from`..`to`: business days, both included, at most {MAX_RANGE_DAYS}; a range that is not "
    "one (reversed, too long, a day not on the calendar) is 422 `bad_range`."
)
