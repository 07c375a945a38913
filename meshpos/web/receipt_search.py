"""Finding a past receipt to reopen or reprint: ``GET /api/receipt-search`` by number, table or amount.

A receipt found is then opened (``GET /api/receipts/{id}``, which loads a closed day first) and reprinted
by the page; the search itself reads one business day the register holds (a closed one is loaded for the
read). What matches is the console's rule (``model/receipt_search.py``).
"""

from __future__ import annotations

from meshpos.httpapi.routes import Route, opt, text
from meshpos.model.limits import MAX_AMOUNT, MAX_ID_CHARS, MAX_NAME_CHARS
from meshpos.model.receipt_search import ReceiptFound, ReceiptQuery
from meshpos.web.orders import MAX_PAGE, RECEIPTS_PAGE
from meshpos.web.routes import Call, day_query


async def search(c: Call) -> list[ReceiptFound]:
    node, q = c.node, c.query
    date = q["date"] or node.business_date(node.now_ms())
    await node.open_day(date)  # a closed day is loaded for the read; it closes again by the rule
    query = ReceiptQuery(q["number"].strip(), q["table"].strip(), q["amount"])
    return node.search_receipts(date, query, q["limit"])


ROUTES = (
    Route(
        "GET",
        "/api/receipt-search",
        search,
        "Receipts of one business day (today by default) by number, table or tab, or amount; "
        "newest first",
        list[ReceiptFound],
        query=(
            day_query("business date YYYY-MM-DD; default: today's"),
            text(
                "number", MAX_ID_CHARS, "the receipt number or a part of it (any case)", default=""
            ),
            text(
                "table",
                MAX_NAME_CHARS,  # as long as a table or tab may be (web/orders.py)
                "the order's table or tab, exactly (any case)",
                default="",
            ),
            opt(
                "amount",
                int | None,
                None,
                "the receipt's total, in minor units",
                minimum=0,
                maximum=MAX_AMOUNT,
            ),
            opt("limit", int, RECEIPTS_PAGE, "at most this many", minimum=1, maximum=MAX_PAGE),
        ),
        description="Every given part must match; none given lists the day's newest receipts.",
    ),
)
