"""Reports a manager reads at the console, as JSON and CSV: receipts with search and a receipt's detail,
shifts with their X and Z reports, sales by product, category, cashier and hour, refunds and voids, stock
on hand and a product's movements (with supplies and write-offs entered here), and the sync status.

Every report reads the materialised tables (``manager_reports``, ``reports``) of a bounded range of
business days, never a venue's ledger documents; the names shown are the catalog's (``report_names``).
The range, its errors and the JSON or CSV answer are ``report_range``'s, shared with the other reports.

**Changed** (shifts, the twenty-first session): the shifts report's rows say ``open_since``, an open
shift opened on an earlier business day than the venue's now (``console/open_shifts.py``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from meshpos.console import audit
from meshpos.console import manager_reports as q
from meshpos.console.calls import VENUE, ConsoleCall, current_venue
from meshpos.console.manager_reports import (
    MAX_EXPORT_ROWS,
    MAX_PAGE,
    QUARTER_MS,
    ReceiptSearch,
)
from meshpos.console.manager_reports import (
    receipt_detail as detail_query,
)
from meshpos.console.open_shifts import open_days, open_since
from meshpos.console.report_names import Names
from meshpos.console.report_range import (
    FORMAT,
    RANGE,
    RANGE_NOTE,
    REPORTS,
    answer,
    catalog_names,
    known_id,
    report_days,
    report_route,
)
from meshpos.console.stock_reports import StockEntry, stock_movements, stock_on_hand
from meshpos.console.tables import STOCK_KINDS
from meshpos.console.venue_docs import stored_venue
from meshpos.httpapi.routes import Field, Route, choice, opt, text
from meshpos.httpapi.server import HttpError
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
    SAFE_INTEGER,
)

# --- receipts -----------------------------------------------------------------------------------

RECEIPT_COLUMNS = (
    "number",
    "business_date",
    "issued_at_ms",
    "register",
    "cashier",
    "table",
    "subtotal",
    "discount",
    "tax",
    "total",
    "refunded",
    "id",
)


async def receipts_report(c: ConsoleCall) -> Any:
    days = report_days(c)
    names = await catalog_names(c)
    cashier = c.query["cashier"]
    search = ReceiptSearch(
        number=c.query["number"],
        table=c.query["table"],
        users=names.cashiers_like(cashier) if cashier else None,
        amount=c.query["amount"],
    )
    csv = c.query["format"] == "csv"
    limit, offset = (MAX_EXPORT_ROWS, 0) if csv else (c.query["limit"], c.query["offset"])
    total, rows = await c.console.db.report(
        lambda cur: q.receipts(cur, c.venue, days, search, limit, offset)
    )
    for row in rows:
        row["cashier"] = names.user(row["user_id"])
    if csv:
        return answer(c, rows, RECEIPT_COLUMNS, "receipts")
    currency = names.settings.currency
    return {"total": total, "limit": limit, "offset": offset, "currency": currency, "items": rows}


async def receipt_detail(c: ConsoleCall) -> dict[str, Any]:
    receipt_id = known_id(c.params["receipt_id"], "receipt")
    found = await c.console.db.report(lambda cur: detail_query(cur, c.venue, receipt_id))
    if found is None:
        raise HttpError(404, "unknown_receipt", f"no receipt {receipt_id!r} at this console")
    names = await catalog_names(c)
    found["cashier"] = names.user(found["user_id"])
    found["currency"] = names.settings.currency
    found["order_opened_by_name"] = names.user(found["order_opened_by"])
    for item in (*found["payments"], *found["refunds"]):
        item["cashier"] = names.user(item["user_id"])
    for line in found["lines"]:
        line["category"] = names.products.get(str(line["product_id"]), ("", ""))[1]
        by = line["discount_approved_by"]
        line["discount_approved_by_name"] = names.user(by) if by else ""
    for discount in found["order_discounts"]:
        if isinstance(discount, dict):
            by = discount.get("approved_by") or ""
            discount["approved_by_name"] = names.user(str(by)) if by else ""
    return found


# --- shifts, sales, refunds, voids ----------------------------------------------------------------

SHIFT_COLUMNS = (
    "report",
    "register",
    "opened_by_name",
    "opened_at_ms",
    "closed_by_name",
    "closed_at_ms",
    "receipts",
    "sales",
    "cash_taken",
    "card_taken",
    "refunds",
    "cash_refunds",
    "cash_in",
    "cash_out",
    "opening_cash",
    "drawer_expected",
    "counted_cash",
    "cash_difference",
    "no_sales",
    "id",
)


async def shifts_report(c: ConsoleCall) -> Any:
    days = report_days(c)
    rows = await c.console.db.report(lambda cur: q.shifts(cur, c.venue, days))
    names = await catalog_names(c)
    opened = await c.console.db.report(lambda cur: open_days(cur, c.venue)) if rows else {}
    today = (
        (await current_venue(c.console, c.venue)).business_date(int(time.time() * 1000))
        if opened
        else ""
    )
    for row in rows:
        on = opened.get(row["id"])  # (shifts, the twenty-first session: console/open_shifts.py)
        row["open_since"] = open_since(on[1], today) if on is not None else None
        row["opened_by_name"] = names.user(row["opened_by"])
        row["closed_by_name"] = names.user(row["closed_by"]) if row["closed_by"] else None
    return answer(c, rows, SHIFT_COLUMNS, "shifts")


def _by_product(rows: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    for row in rows:
        name, category = names.products.get(str(row["product_id"]), (row["name"], ""))
        row["name"], row["category"] = name, category
    return rows


def _by_category(rows: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in _by_product(rows, names):
        into = out.setdefault(
            row["category"],
            {"category": row["category"]} | dict.fromkeys(q.SALES_SUMS, 0),
        )
        for key in q.SALES_SUMS:
            into[key] += row[key]
    return [out[k] for k in sorted(out)]


SALES_COLUMNS = {
    "product": ("product_id", "name", "category", *q.SALES_SUMS),
    "category": ("category", *q.SALES_SUMS),
    "cashier": ("cashier", "user_id", "receipts", "total", "discount", *q.SALES_SUMS[3:]),
    "hour": ("hour", "receipts", "total"),
}


async def sales_report(c: ConsoleCall) -> Any:
    days, by = report_days(c), c.query["by"]
    names = await catalog_names(c)
    rows: list[dict[str, Any]]
    if by in ("product", "category"):
        found = await c.console.db.report(lambda cur: q.sales_by_product(cur, c.venue, days))
        rows = _by_product(found, names) if by == "product" else _by_category(found, names)
    elif by == "cashier":
        rows = await c.console.db.report(lambda cur: q.sales_by_cashier(cur, c.venue, days))
        for row in rows:
            row["cashier"] = names.user(row["user_id"])
    else:
        hours: dict[int, dict[str, int]] = {}
        quarters = await c.console.db.report(lambda cur: q.sales_by_quarter(cur, c.venue, days))
        for quarter, count, total in quarters:
            hour = names.local_hour(quarter * QUARTER_MS)
            into = hours.setdefault(hour, {"hour": hour, "receipts": 0, "total": 0})
            into["receipts"] += count
            into["total"] += total
        rows = [hours[h] for h in sorted(hours)]
    return answer(c, rows, SALES_COLUMNS[by], f"sales-by-{by}")


REFUND_COLUMNS = (
    "number",
    "at_ms",
    "amount",
    "method",
    "register",
    "cashier",
    "approved_by_name",
    "reason",
    "tax",
    "lines",
    "id",
)
VOID_COLUMNS = (
    "opened_at_ms",
    "register",
    "cashier",
    "table",
    "tab",
    "total",
    "lines",
    "voided_by_name",
    "approved_by_name",
    "reason",
    "voided",
    "id",
)


async def refunds_report(c: ConsoleCall) -> Any:
    days = report_days(c)
    rows = await c.console.db.report(lambda cur: q.refunds(cur, c.venue, days))
    names = await catalog_names(c)
    for row in rows:
        row["cashier"] = names.user(row["user_id"])
        row["approved_by_name"] = names.user(row["approved_by"]) if row["approved_by"] else ""
    return answer(c, rows, REFUND_COLUMNS, "refunds")


async def voids_report(c: ConsoleCall) -> Any:
    days = report_days(c)
    rows = await c.console.db.report(lambda cur: q.voids(cur, c.venue, days))
    names = await catalog_names(c)
    for row in rows:
        row["cashier"] = names.user(row["opened_by"])
        for who in ("voided_by", "approved_by"):
            row[f"{who}_name"] = names.user(row[who]) if row[who] else ""
    return answer(c, rows, VOID_COLUMNS, "voids")


# --- stock --------------------------------------------------------------------------------------

STOCK_COLUMNS = ("product_id", "name", "category", "on_hand")
MOVE_COLUMNS = (
    "at_ms",
    "kind",
    "change",
    "receipt_number",
    "note",
    "cashier",
    "device",
    "source",
    "id",
)


async def stock_report(c: ConsoleCall) -> Any:
    on_hand = await c.console.db.report(lambda cur: stock_on_hand(cur, c.venue))
    names = await catalog_names(c)
    rows = [
        {
            "product_id": pid,
            "name": names.products.get(pid, (pid, ""))[0],
            "category": names.products.get(pid, ("", ""))[1],
            "on_hand": on_hand.get(pid, 0),
        }
        for pid in sorted({*names.products, *on_hand})
    ]
    return answer(c, rows, STOCK_COLUMNS, "stock")


async def stock_moves_report(c: ConsoleCall) -> Any:
    product_id = known_id(c.params["product_id"], "product")
    days = report_days(c)
    rows = await c.console.db.report(lambda cur: stock_movements(cur, c.venue, product_id, days))
    names = await catalog_names(c)
    for row in rows:
        row["cashier"] = names.user(row["user_id"])
    return answer(c, rows, MOVE_COLUMNS, f"stock-{product_id}")


async def add_stock_entry(c: ConsoleCall) -> StockEntry:
    """A supply or write-off entered at the console: checked against the catalog, stored at once."""
    b = c.body
    hub = c.console.hubs.get(c.venue)
    venue = hub.venue if hub is not None else await stored_venue(c.console.db, c.venue)
    venue.catalog.product(b["product_id"])  # an unknown product is 404, nothing stored
    now = int(time.time() * 1000)
    entry = StockEntry(
        id=str(uuid.uuid4()),
        product_id=b["product_id"],
        quantity=b["quantity"],
        kind=b["kind"],
        note=b["note"],
        who=c.who,
        at_ms=now,
        business_date=venue.business_date(now),
    )
    action = f"stock.{entry.kind}"
    audit.check_head(c.who, action, entry.product_id)
    logged = audit.entry(c.who, action, entry.product_id, {"after": audit.summary(entry)})
    await c.console.db.add_stock_entry(c.venue, entry, logged)  # one transaction
    return entry


# --- the route table ----------------------------------------------------------------------------

MANAGER_ROUTES: tuple[Route, ...] = (
    report_route(
        "receipts",
        receipts_report,
        "Reports -> Receipts: search the receipts of a range of days, a page at a time",
        dict[str, Any],
        (
            *RANGE,
            text("number", MAX_ID_CHARS, "part of the receipt number (any case)", default=""),
            text("table", MAX_NAME_CHARS, "the order's table or tab (any case)", default=""),
            text("cashier", MAX_NAME_CHARS, "part of the cashier's name, or their id", default=""),
            opt("amount", int | None, None, "the receipt's total", minimum=0, maximum=MAX_AMOUNT),
            opt("limit", int, 50, "receipts per page", minimum=1, maximum=MAX_PAGE),
            opt("offset", int, 0, "receipts skipped", minimum=0, maximum=SAFE_INTEGER),
            FORMAT,
        ),
        description=f"{RANGE_NOTE} JSON: `total` matching, `items` of this page; CSV: every "
        f"match (up to {MAX_EXPORT_ROWS}). `currency`: the venue's, for the amounts (minor units).",
    ),
    Route(
        "GET",
        f"{REPORTS}/receipts/{{receipt_id}}",
        receipt_detail,
        "A receipt's detail: lines with modifiers and discounts, payments, refunds, shift",
        dict[str, Any],
        tag="reports",
        errors=(404,),
    ),
    report_route(
        "shifts",
        shifts_report,
        "Shifts opened on the days: X report of an open one, Z report of a closed one",
        list[dict[str, Any]],
        description=f"{RANGE_NOTE} `cash_difference`: counted cash minus what the console's "
        "records say the drawer should hold. `open_since`: the business day an open shift opened "
        "on when that is before the venue's business day now (open past its day), else null.",
    ),
    report_route(
        "sales",
        sales_report,
        "Sales by product, category, cashier or hour of the day",
        list[dict[str, Any]],
        (*RANGE, opt("by", choice(*SALES_COLUMNS), "product", "how sales are grouped"), FORMAT),
        description=f"{RANGE_NOTE} Line amounts are after discounts; hours are the venue's. `tax`: "
        "the receipts'; `refunded_tax`: what their refunds gave back; `net_tax`: the difference.",
    ),
    report_route(
        "refunds", refunds_report, "Refunds of the days and their tax", list[dict[str, Any]]
    ),
    report_route("voids", voids_report, "Orders voided on the days", list[dict[str, Any]]),
    report_route(
        "stock",
        stock_report,
        "Stock on hand per product",
        list[dict[str, Any]],
        (FORMAT,),
        description="Every movement the registers recorded and every entry made here, signed.",
    ),
    report_route(
        "stock/{product_id}",
        stock_moves_report,
        "A product's stock movements on the days",
        list[dict[str, Any]],
        errors=(404,),
    ),
    Route(
        "POST",
        f"{VENUE}/stock",
        add_stock_entry,
        "Enter a supply or a write-off of a product",
        StockEntry,
        tag="reports",
        status=201,
        body=(
            text("product_id", MAX_ID_CHARS, "a product of the catalog"),
            Field("kind", choice(*STOCK_KINDS), "`supply` adds stock, `write_off` takes it away"),
            Field("quantity", int, "units", minimum=1, maximum=MAX_QUANTITY),
            text("note", MAX_NOTE_CHARS, "why (the supplier, what spoiled)", default=""),
        ),
    ),
)
