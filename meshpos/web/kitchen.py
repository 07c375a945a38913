"""The kitchen board: today's tickets with their ages and the moves the transition table allows."""

from __future__ import annotations

from meshpos.httpapi.routes import Route, text
from meshpos.model import TICKET_STATES, Ticket
from meshpos.model.limits import MAX_ID_CHARS
from meshpos.web.routes import USER, Call, day_query
from meshpos.web.views import KitchenView, ticket_view


async def tickets(c: Call) -> KitchenView:
    node = c.node
    now = node.now_ms()
    date = c.query["date"] or node.business_date(now)
    states = tuple(s for s in c.query["states"].split(",") if s) or TICKET_STATES  # words: checked
    await node.open_day(date, kitchen=True)  # a closed day's tickets load for the read (Documents)
    board = node.tickets(date, states)
    return KitchenView(date, now, tuple(ticket_view(t, now) for t in board))


async def bump(c: Call) -> Ticket:
    user, ticket = c.body["user"], c.params["ticket_id"]
    return await c.node.write(lambda venue, now: venue.bump(user, ticket, now))


async def recall(c: Call) -> Ticket:
    user, ticket = c.body["user"], c.params["ticket_id"]
    return await c.node.write(lambda venue, now: venue.recall(user, ticket, now))


STATE = "|".join(TICKET_STATES)
ROUTES = (
    Route(
        "GET",
        "/api/kitchen/tickets",
        tickets,
        "Kitchen tickets of one business day (today by default), oldest first",
        KitchenView,
        query=(
            day_query("business date YYYY-MM-DD; default: today's"),
            text(
                "states",
                MAX_ID_CHARS,
                f"comma-separated subset of {', '.join(TICKET_STATES)}; default: all",
                default="",
                pattern=f"^(({STATE})(,({STATE}))*)?$",
            ),
        ),
        tag="kitchen",
    ),
    Route(
        "POST",
        "/api/kitchen/tickets/{ticket_id}/bump",
        bump,
        "Move a ticket on: new -> cooking -> ready -> served",
        Ticket,
        body=(USER,),
        tag="kitchen",
    ),
    Route(
        "POST",
        "/api/kitchen/tickets/{ticket_id}/recall",
        recall,
        "Move a ticket back: served -> ready -> cooking",
        Ticket,
        body=(USER,),
        tag="kitchen",
    ),
)
