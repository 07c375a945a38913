"""The kitchen board: today's tickets with their ages and the moves the transition table allows.

Today's board also holds the tickets of the day that ended last which are not served yet, for two hours
after its cut-off (``BEING_MADE_MS``): a business day ends at its cut-off hour or when a manager ends it
early, while food ordered minutes before is still being made (before, such a ticket left the kitchen screen, and the register's "no kitchen holds
it" alarm, at the cut-off: tests/web/test_kitchen_across_days.py).

**Changed** (outside, the twenty-first session): a bump or recall may say ``from`` which state the
screen showed; a ticket that has left it is 409 ``ticket_moved`` and nothing changes (the kitchen page
sends it: a double tap on "Start cooking" landed as "Ready"; tests/outside/test_kitchen_double_tap.py)."""

from __future__ import annotations

from meshpos.httpapi.routes import Route, choice, opt, text
from meshpos.model import KITCHEN_ACK_MS, TICKET_STATES, Ticket
from meshpos.model.limits import MAX_ID_CHARS
from meshpos.web.routes import USER, Call, day_query
from meshpos.web.views import KitchenView, UnheldView, ticket_view


async def tickets(c: Call) -> KitchenView:
    node = c.node
    now = node.now_ms()
    date = c.query["date"] or node.business_date(now)
    states = tuple(s for s in c.query["states"].split(",") if s) or TICKET_STATES  # words: checked
    await node.open_day(date, kitchen=True)  # a closed day's tickets load for the read (Documents)
    board = node.tickets(date, states)
    if not c.query["date"]:  # today's board: food still being made when its day ended stays on it
        board = node.tickets_being_made(date, states, now) + board
    names = {u.id: u.name for u in node.catalog().users()}
    return KitchenView(date, now, tuple(ticket_view(t, now, names.get(t.user, "")) for t in board))


async def unheld(c: Call) -> UnheldView:
    """This register's tickets of today that no kitchen screen holds (docs/architecture.md (Documents))."""
    node = c.node
    now = node.now_ms()
    today = node.business_date(now)
    board = node.tickets_being_made(today, TICKET_STATES, now) + node.tickets(today, TICKET_STATES)
    names = {u.id: u.name for u in node.catalog().users()}
    mine = (t for t in board if t.register == node.node_id and t.unheld())
    return UnheldView(
        now, KITCHEN_ACK_MS, tuple(ticket_view(t, now, names.get(t.user, "")) for t in mine)
    )


async def bump(c: Call) -> Ticket:
    user, ticket, seen = c.body["user"], c.params["ticket_id"], c.body["from"]
    return await c.node.write(lambda venue, now: venue.bump(user, ticket, now, seen))


async def recall(c: Call) -> Ticket:
    user, ticket, seen = c.body["user"], c.params["ticket_id"], c.body["from"]
    return await c.node.write(lambda venue, now: venue.recall(user, ticket, now, seen))


STATE = "|".join(TICKET_STATES)
SEEN = opt(
    "from",
    choice(*TICKET_STATES),
    "",
    "the state the screen showed the ticket in: if it has left it (a double tap, another tab "
    "moved it), 409 ticket_moved and nothing changes; absent: move it from where it is",
)
ROUTES = (
    Route(
        "GET",
        "/api/kitchen/tickets",
        tickets,
        "Kitchen tickets of one business day (today by default, with the day before's not served "
        "yet until two hours after its cut-off), oldest first",
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
        "GET",
        "/api/kitchen/unheld",
        unheld,
        "This register's tickets of today that no kitchen screen holds yet; `lost` ones were sent "
        "over 5 s ago (the silent kitchen)",
        UnheldView,
        tag="kitchen",
    ),
    Route(
        "POST",
        "/api/kitchen/tickets/{ticket_id}/bump",
        bump,
        "Move a ticket on: new -> cooking -> ready -> served; a void ticket goes straight to served",
        Ticket,
        body=(USER, SEEN),
        tag="kitchen",
        page_writes="kitchen",
    ),
    Route(
        "POST",
        "/api/kitchen/tickets/{ticket_id}/recall",
        recall,
        "Move a ticket back: served -> ready -> cooking",
        Ticket,
        body=(USER, SEEN),
        tag="kitchen",
        page_writes="kitchen",
    ),
)
