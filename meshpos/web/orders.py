"""Selling: orders and their lines, the kitchen hand-off, payments, receipts and refunds.

Each write runs the Venue operation of the same name through ``NodeAPI.write``, which returns once the change
is committed to the node's SQLite file; the answer is therefore an acknowledged sale, safe to print.
"""

from __future__ import annotations

from meshpos.errors import UnknownRecord
from meshpos.httpapi.routes import Field, Route, choice, opt, text
from meshpos.httpapi.server import HttpError
from meshpos.model import Order, PaymentResult, Receipt, Refund
from meshpos.model.ledger_types import PAYMENT_METHODS
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_ORDER_LINES,
    MAX_QUANTITY,
)
from meshpos.web.approval import APPROVAL_DOC, APPROVER, approver
from meshpos.web.routes import USER, Call, day_query
from meshpos.web.views import ReceiptView, SentView

RECEIPTS_PAGE = 50  # what a page shows of a day's receipts unless it asks for more
MAX_PAGE = 1_000
ORDER_STATES = choice("open", "paid", "void", "all")
METHOD = choice(*PAYMENT_METHODS)


async def list_orders(c: Call) -> list[Order]:
    """Open orders come from the node's index (no closed day is read); other states are a history
    read over every loaded day."""
    wanted = c.query["status"]
    if wanted == "open":
        return c.node.open_orders()
    return [o for o in c.node.orders() if wanted == "all" or o.status == wanted]


async def open_order(c: Call) -> Order:
    b = c.body
    return await c.node.write(
        lambda venue, now: venue.open_order(b["user"], now, table=b["table"], tab=b["tab"]),
        wait=True,  # (issue 18, coalesce: leaves with the sale's next urgent tap)
    )


async def get_order(c: Call) -> Order:
    return c.order()


async def add_line(c: Call) -> Order:
    b, order = c.body, c.order().id
    by = await approver(c, "discount") if b["discount_id"] is not None else ""
    return await c.node.write(
        lambda venue, now: venue.add_line(
            b["user"],
            order,
            b["product_id"],
            b["quantity"],
            now,
            modifiers=b["modifiers"],
            discount_id=b["discount_id"],
            override_stop=b["override_stop"],
            approved_by=by,
        ),
        wait=True,  # (issue 18, coalesce: leaves with the sale's next urgent tap)
    )


async def remove_line(c: Call) -> Order:
    b, line = c.body, c.line()
    by = await approver(c, "void")
    return await c.node.write(
        lambda venue, now: venue.remove_line(
            b["user"], line.order_id, line.id, now, b["reason"], approved_by=by
        ),
        wait=True,  # (issue 18, coalesce: leaves with the sale's next urgent tap)
    )


async def apply_order_discount(c: Call) -> Order:
    b, order = c.body, c.order().id
    by = await approver(c, "discount")
    return await c.node.write(
        lambda venue, now: venue.apply_order_discount(
            b["user"], order, b["discount_id"], now, approved_by=by
        ),
        wait=True,  # (issue 18, coalesce: leaves with the sale's next urgent tap)
    )


async def void_order(c: Call) -> Order:
    b, order = c.body, c.order().id
    by = await approver(c, "void")
    return await c.node.write(
        lambda venue, now: venue.void_order(b["user"], order, now, b["reason"], approved_by=by)
    )


async def set_quantity(c: Call) -> Order:
    b, line = c.body, c.line()
    more_discounted = line.discount_id is not None and b["quantity"] > line.quantity
    by = await approver(c, "discount") if more_discounted else ""
    return await c.node.write(
        lambda venue, now: venue.set_quantity(
            b["user"], line.order_id, line.id, b["quantity"], now, approved_by=by
        ),
        wait=True,  # (issue 18, coalesce: leaves with the sale's next urgent tap)
    )


async def set_place(c: Call) -> Order:
    b, order = c.body, c.order().id
    return await c.node.write(
        lambda venue, now: venue.set_place(b["user"], order, now, table=b["table"], tab=b["tab"])
    )


async def split_order(c: Call) -> Order:
    b, order = c.body, c.order().id
    return await c.node.write(
        lambda venue, now: venue.split_order(b["user"], order, b["lines"], now)
    )


async def send_to_kitchen(c: Call) -> SentView:
    user, order = c.body["user"], c.order().id
    # the answer is made inside the write: a keyed retry replays it (web/idempotency.py)
    return await c.node.write(lambda venue, now: SentView(venue.send_to_kitchen(user, order, now)))


async def pay(c: Call) -> PaymentResult:
    b, order = c.body, c.order().id
    return await c.node.write(
        lambda venue, now: venue.pay(
            b["user"],
            order,
            b["method"],
            now,
            amount=b["amount"],
            tip=b["tip"],
            tendered=b["tendered"],
        )
    )


async def list_receipts(c: Call) -> list[Receipt]:
    node, q = c.node, c.query
    date = q["date"] or node.business_date(node.now_ms())
    await node.open_day(date)  # a closed day is loaded for the read; it closes again by the rule
    try:
        return node.receipts(date, q["limit"], q["before"] or None)
    except UnknownRecord as exc:  # a paging cursor from another day, or made up
        raise HttpError(
            404, "unknown_receipt", f"query parameter 'before': {exc.message}"
        ) from None


async def get_receipt(c: Call) -> ReceiptView:
    receipt = c.receipt()
    refunds = c.node.refunds(receipt.id)
    refunded = c.node.refunded_quantities(receipt.id)
    return ReceiptView(receipt, tuple(refunds), refunded, c.node.tenders(receipt.id))


async def refund(c: Call) -> Refund:
    b, receipt = c.body, c.receipt().id
    by = await approver(c, "refund")
    return await c.node.write(
        lambda venue, now: venue.refund(
            b["user"],
            receipt,
            now,
            lines=b["lines"],
            method=b["method"],
            reason=b["reason"],
            approved_by=by,
        )
    )


REASON = text("reason", MAX_NOTE_CHARS, "why (kept with the record)", default="")
AMOUNT = {"minimum": 0, "maximum": MAX_AMOUNT}
QUANTITY = {"minimum": 1, "maximum": MAX_QUANTITY}
ROUTES = (
    Route(
        "GET",
        "/api/orders",
        list_orders,
        "Orders of the loaded business days (open ones by default), from every register",
        list[Order],
        query=(opt("status", ORDER_STATES, "open", "which orders"),),
    ),
    Route(
        "POST",
        "/api/orders",
        open_order,
        "Open an order on this register's open shift",
        Order,
        body=(
            USER,
            text("table", MAX_NAME_CHARS, "table name", default=""),
            text("tab", MAX_NAME_CHARS, "tab name", default=""),
        ),
        status=201,
    ),
    Route("GET", "/api/orders/{order_id}", get_order, "One order with lines and totals", Order),
    Route(
        "POST",
        "/api/orders/{order_id}/lines",
        add_line,
        "Add a line (a product with chosen modifiers) to an open order",
        Order,
        body=(
            USER,
            text("product_id", MAX_ID_CHARS, "a product id from GET /api/catalog"),
            opt("quantity", int, 1, "how many", **QUANTITY),
            opt(
                "modifiers",
                list[str],
                [],
                "modifier ids, within each group's min/max",
                max_chars=MAX_ID_CHARS,
            ),
            opt(
                "discount_id",
                str | None,
                None,
                "a line discount (needs the discount right)",
                max_chars=MAX_ID_CHARS,
            ),
            opt("override_stop", bool, False, "sell a stopped item (needs override_stop)"),
            *APPROVER,
        ),
        status=201,
        description=(
            f"An order holds at most {MAX_ORDER_LINES} lines: one more is 422 order_full, naming "
            "the limit (a repeat is one line's quantity; a big party is split into bills). With a "
            f"line discount the cashier may not give: {APPROVAL_DOC}"
        ),
        limited=True,
    ),
    Route(
        "DELETE",
        "/api/orders/{order_id}/lines/{line_id}",
        remove_line,
        "Remove a line from an open order (a line already sent to the kitchen needs the void right)",
        Order,
        body=(USER, REASON, *APPROVER),
        description=APPROVAL_DOC,
        limited=True,
    ),
    Route(
        "POST",
        "/api/orders/{order_id}/discounts",
        apply_order_discount,
        "Apply an order discount to an open order with no payments (needs the discount right)",
        Order,
        body=(
            USER,
            text("discount_id", MAX_ID_CHARS, "an order discount id from GET /api/catalog"),
            *APPROVER,
        ),
        status=201,
        description=APPROVAL_DOC,
        limited=True,
    ),
    Route(
        "POST",
        "/api/orders/{order_id}/void",
        void_order,
        "Void an open order that has no payments (one with lines needs the void right)",
        Order,
        body=(USER, REASON, *APPROVER),
        description=APPROVAL_DOC,
        limited=True,
    ),
    Route(
        "PUT",
        "/api/orders/{order_id}/lines/{line_id}/quantity",
        set_quantity,
        "Set a line's quantity (a line already sent to the kitchen keeps its own)",
        Order,
        body=(
            USER,
            Field("quantity", int, "the new quantity", minimum=1, maximum=MAX_QUANTITY),
            *APPROVER,
        ),
        description=(
            "The line is replaced by one like it with the new quantity (a new line id, in the same "
            "place); when two registers change one line at once the later change stands. More of a "
            f"discounted line needs a user who may give its discount: {APPROVAL_DOC}"
        ),
        limited=True,
    ),
    Route(
        "PUT",
        "/api/orders/{order_id}/place",
        set_place,
        "Set, move or clear an open order's table and tab",
        Order,
        body=(
            USER,
            text("table", MAX_NAME_CHARS, "table name; empty: none", default=""),
            text("tab", MAX_NAME_CHARS, "tab name; empty: none", default=""),
        ),
        description=(
            "Moving to a table that has another open order is 409 table_taken, naming that order "
            "(pay, move or split it first; orders are never merged)."
        ),
    ),
    Route(
        "POST",
        "/api/orders/{order_id}/split",
        split_order,
        "Split an open order by items: a new bill carrying the chosen items, paid on any register",
        Order,
        body=(
            USER,
            Field(
                "lines",
                dict[str, int],
                "line id -> how many of it move to the new bill (the rest stays)",
                max_chars=MAX_ID_CHARS,
                minimum=1,
                maximum=MAX_QUANTITY,
            ),
        ),
        status=201,
        description=(
            "Answers the new bill (an open order at the same table and tab, `split_from` the "
            "original). Items already sent to the kitchen stay sent; a percent order discount "
            "applies to the new bill too. Refused (422) on an order with payments or when nothing "
            "would be left on it; split again for a third bill."
        ),
    ),
    Route(
        "POST",
        "/api/orders/{order_id}/kitchen",
        send_to_kitchen,
        "Send the lines not yet sent to the kitchen as one ticket",
        SentView,
        body=(USER,),
        tag="kitchen",
    ),
    Route(
        "POST",
        "/api/orders/{order_id}/payments",
        pay,
        "Pay all or part of what is due; the payment that completes the order issues the receipt",
        PaymentResult,
        body=(
            USER,
            Field("method", METHOD, "payment method"),
            opt(
                "amount",
                int | None,
                None,
                "applied to the order; default: all that is due",
                **AMOUNT,
            ),
            opt("tip", int, 0, "on top of the amount", **AMOUNT),
            opt(
                "tendered",
                int | None,
                None,
                "cash handed over; the answer's change is tendered - tip - amount",
                minimum=1,
                maximum=MAX_AMOUNT,
            ),
        ),
        status=201,
        description=(
            "Split a bill by paying amounts below what is due, one payment per guest. Paying more "
            "than is due is 409 overpayment: give the excess as tip or as tendered cash."
        ),
    ),
    Route(
        "GET",
        "/api/receipts",
        list_receipts,
        "Receipts of one business day (today by default), newest first, a page at a time",
        list[Receipt],
        query=(
            day_query("business date YYYY-MM-DD; default: today's"),
            opt("limit", int, RECEIPTS_PAGE, "at most this many", minimum=1, maximum=MAX_PAGE),
            text(
                "before",
                MAX_ID_CHARS,
                "a receipt id of that day: the page after it (older receipts); one not on the day is 404",
                default="",
            ),
        ),
        errors=(404,),
        description=(
            "A page is the newest `limit` receipts; the next page is `?before=` the last id of "
            "this one. After a `receipts` event a page asks for the first page again."
        ),
    ),
    Route(
        "GET",
        "/api/receipts/{receipt_id}",
        get_receipt,
        "One receipt with its refunds",
        ReceiptView,
    ),
    Route(
        "POST",
        "/api/receipts/{receipt_id}/refunds",
        refund,
        "Refund a whole receipt or some of its lines (needs the refund right)",
        Refund,
        body=(
            USER,
            opt(
                "lines",
                dict[str, int] | None,
                None,
                "receipt line id -> quantity; default: everything not yet refunded",
                max_chars=MAX_ID_CHARS,
                **QUANTITY,
            ),
            opt(
                "method",
                METHOD | None,
                None,
                "the tender it goes back by (cash at most what the receipt took in cash less the "
                "cash given back: 409 over_refund); default: the receipt's tenders in the order "
                "paid, the first that can take it whole, else the first non-cash one",
            ),
            REASON,
            *APPROVER,
        ),
        status=201,
        description=APPROVAL_DOC,
        limited=True,
    ),
)
