"""Cash shifts of this register: open, close with the counted drawer, cash in and out; manual stock moves."""

from __future__ import annotations

from meshpos.model import CashMove, InventoryMove, Shift
from meshpos.model.ledger_types import CASH_MOVE_KINDS, MANUAL_INVENTORY_KINDS
from meshpos.model.limits import MAX_AMOUNT, MAX_ID_CHARS, MAX_NOTE_CHARS, MAX_QUANTITY
from meshpos.web.routes import USER, Call, Field, Route, choice, text
from meshpos.web.views import ShiftView


async def current_shift(c: Call) -> ShiftView:
    node = c.node
    shift = node.current_shift()
    return ShiftView(shift, node.expected_cash(shift) if shift else None)


async def open_shift(c: Call) -> Shift:
    user, cash = c.body["user"], c.body["opening_cash"]
    return await c.node.write(lambda venue, now: venue.open_shift_now(user, cash, now))


async def close_shift(c: Call) -> Shift:
    user, cash = c.body["user"], c.body["counted_cash"]
    return await c.node.write(lambda venue, now: venue.close_shift(user, cash, now))


async def cash_move(c: Call) -> CashMove:
    b = c.body
    return await c.node.write(
        lambda venue, now: venue.cash_move(b["user"], b["kind"], b["amount"], b["reason"], now)
    )


async def inventory_move(c: Call) -> InventoryMove:
    b = c.body
    return await c.node.write(
        lambda venue, now: venue.inventory_move(
            b["user"], b["product_id"], b["kind"], b["quantity"], now, b["reason"]
        )
    )


ROUTES = (
    Route(
        "GET",
        "/api/shifts/current",
        current_shift,
        "This register's open shift and the cash its drawer should hold",
        ShiftView,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts",
        open_shift,
        "Open a shift on this register with the cash counted into the drawer",
        Shift,
        body=(
            USER,
            Field(
                "opening_cash",
                int,
                "cash in the drawer at the start",
                minimum=0,
                maximum=MAX_AMOUNT,
            ),
        ),
        status=201,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts/current/close",
        close_shift,
        "Close this register's shift with the counted cash (refused while it has open orders)",
        Shift,
        body=(
            USER,
            Field("counted_cash", int, "cash counted in the drawer", minimum=0, maximum=MAX_AMOUNT),
        ),
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts/current/cash-moves",
        cash_move,
        "Put cash into the drawer or take it out",
        CashMove,
        body=(
            USER,
            Field("kind", choice(*CASH_MOVE_KINDS), "in: into the drawer; out: taken from it"),
            Field("amount", int, "how much", minimum=1, maximum=MAX_AMOUNT),
            text("reason", MAX_NOTE_CHARS, "why", default=""),
        ),
        status=201,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/inventory",
        inventory_move,
        "Record a write-off or a supply of a product (needs the inventory right)",
        InventoryMove,
        body=(
            USER,
            text("product_id", MAX_ID_CHARS, "a product id"),
            Field("kind", choice(*MANUAL_INVENTORY_KINDS), "which way stock moved"),
            Field("quantity", int, "how many", minimum=1, maximum=MAX_QUANTITY),
            text("reason", MAX_NOTE_CHARS, "why", default=""),
        ),
        status=201,
        tag="shift",
    ),
)
