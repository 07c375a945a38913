"""Cash shifts of this register: open, close with the counted drawer, cash in and out; manual stock moves."""

from __future__ import annotations

from meshpos.model import CashMove, InventoryMove, Shift
from meshpos.web.routes import USER, Call, Field, Route, choice, opt
from meshpos.web.views import ShiftView


async def current_shift(c: Call) -> ShiftView:
    venue = c.node.venue
    shift = venue.open_shift()
    return ShiftView(shift, venue.expected_cash(shift) if shift else None)


async def open_shift(c: Call) -> Shift:
    return await c.node.open_shift(c.body["user"], c.body["opening_cash"])


async def close_shift(c: Call) -> Shift:
    return await c.node.close_shift(c.body["user"], c.body["counted_cash"])


async def cash_move(c: Call) -> CashMove:
    b = c.body
    return await c.node.cash_move(b["user"], b["kind"], b["amount"], b["reason"])


async def inventory_move(c: Call) -> InventoryMove:
    b = c.body
    return await c.node.inventory_move(
        b["user"], b["product_id"], b["kind"], b["quantity"], b["reason"]
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
        body=(USER, Field("opening_cash", int, "cash in the drawer at the start")),
        status=201,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts/current/close",
        close_shift,
        "Close this register's shift with the counted cash (refused while it has open orders)",
        Shift,
        body=(USER, Field("counted_cash", int, "cash counted in the drawer")),
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
            Field("kind", choice("in", "out"), "in: into the drawer; out: taken from it"),
            Field("amount", int, "positive"),
            opt("reason", str, "", "why"),
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
            Field("product_id", str, "a product id"),
            Field("kind", choice("writeoff", "supply"), "which way stock moved"),
            Field("quantity", int, "1 to 9999"),
            opt("reason", str, "", "why"),
        ),
        status=201,
        tag="shift",
    ),
)
