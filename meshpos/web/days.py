"""Business days: which days this node holds loaded or closed, and a manager's early end of today.

docs/architecture.md (Documents). A past day closes (leaves memory, stays in the store) once the console
holds all of it; a read or refund of one of its receipts loads it again. ``POST /api/day/close`` ends
today's business day early: later sales on every register go to the next day.
"""

from __future__ import annotations

from meshpos.httpapi.routes import Route
from meshpos.model import DayEnded
from meshpos.web.port import BusinessDays
from meshpos.web.routes import USER, Call


async def list_days(c: Call) -> BusinessDays:
    return c.node.days()


async def end_day(c: Call) -> DayEnded:
    user = c.body["user"]
    return await c.node.write(lambda venue, now: venue.end_day(user, now))


ROUTES = (
    Route(
        "GET",
        "/api/days",
        list_days,
        "Today's business day, the days loaded in memory, the closed days and the days ended early",
        BusinessDays,
        tag="day",
    ),
    Route(
        "POST",
        "/api/day/close",
        end_day,
        "End today's business day early (needs the end_day right): later sales go to the next day",
        DayEnded,
        body=(USER,),
        tag="day",
        description=(
            "Refused with 409 day_still_open, naming them, while a shift or an order of the day (or "
            "of an earlier day still loaded) is open. The day then closes on every device once the "
            "console holds all of it."
        ),
    ),
)
