"""The queries behind Reports at the console (receipts, a receipt's detail, sales, refunds and voids,
stock): each reads the materialised tables of a range of business days through the business-day
indexes (``tables.REPORT_INDEXES``, receipts' own), never a venue's documents and never its whole history
for a range of days (stock on hand is the one sum over all of it: it is what stock on hand is).

Every function takes a cursor and returns plain values; names (cashiers, categories) are the API's
business (``api_reports``), which reads them from the catalog. Sums are cast to BIGINT (reports.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshpos.console.cursor import Cursor
from meshpos.console.refund_tax import refund_lines_sql, with_tax
from meshpos.console.reports import refunded_sum, shift_rows
from meshpos.console.table_names import table_spellings

MAX_PAGE = 200  # receipts per page of Reports -> Receipts
MAX_EXPORT_ROWS = 50_000  # rows of one CSV export (a year of a busy venue's receipts fits)


@dataclass(frozen=True, slots=True)
class Days:
    """A range of business days, both ends included (``YYYY-MM-DD``, compared as text)."""

    first: str
    last: str


@dataclass(frozen=True, slots=True)
class ReceiptSearch:
    """What Reports -> Receipts searches by; None (or empty) is "any"."""

    number: str = ""
    table: str = ""
    users: tuple[str, ...] | None = None
    amount: int | None = None


def _like(text: str) -> str:
    """``text`` anywhere, case-insensitive, with LIKE's wildcards taken literally (ESCAPE '!')."""
    escaped = text.upper().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


_RECEIPT = (
    "id",
    "number",
    "register",
    "user_id",
    "order_id",
    "shift_id",
    "business_date",
    "issued_at_ms",
    "subtotal",
    "discount",
    "tax",
    "total",
)


_TABLE = "COALESCE(o.current_table, o.table_label)"
_TAB = "COALESCE(o.current_tab, o.tab)"
"""Where an order is now; where it was opened in a row stored before schema 7 until its day is
materialised again (``table_label`` and ``tab`` are where it was opened, kept insert-only)."""


async def _receipt_filter(
    cur: Cursor, venue_id: str, days: Days, search: ReceiptSearch
) -> tuple[str, list[Any]]:
    where = "r.venue_id = ? AND r.business_date >= ? AND r.business_date <= ?"
    params: list[Any] = [venue_id, days.first, days.last]
    if search.number:
        where += " AND UPPER(r.number) LIKE ? ESCAPE '!'"
        params.append(_like(search.number))
    if search.table:
        # where the order is now or where it was opened: a manager may know either, in any case
        spelt = await table_spellings(cur, venue_id, days.first, days.last, search.table)
        among = f"IN ({', '.join('?' * len(spelt)) or 'NULL'})"  # NULL: none is
        where += (
            f" AND ({_TABLE} {among} OR {_TAB} {among} OR o.table_label {among} OR o.tab {among})"
        )
        params += spelt * 4
    if search.users is not None:
        if not search.users:
            where += " AND 1 = 0"  # a cashier nobody is
        else:
            where += f" AND r.user_id IN ({', '.join('?' * len(search.users))})"
            params += search.users
    if search.amount is not None:
        where += " AND r.total = ?"
        params.append(search.amount)
    return where, params


_ORDER_JOIN = "LEFT JOIN orders o ON o.venue_id = r.venue_id AND o.id = r.order_id"


async def receipts(
    cur: Cursor, venue_id: str, days: Days, search: ReceiptSearch, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many receipts match, and one page of them (oldest first), each with its table and what
    was refunded of it."""
    where, params = await _receipt_filter(cur, venue_id, days, search)
    counted = await cur.fetchall(
        f"SELECT CAST(COUNT(*) AS BIGINT) FROM receipts r {_ORDER_JOIN} WHERE {where}", params
    )
    rows = await cur.fetchall(
        f"SELECT {', '.join('r.' + c for c in _RECEIPT)}, {_TABLE}, {_TAB}, "
        f"{refunded_sum('r')} FROM receipts r {_ORDER_JOIN} WHERE {where} "
        "ORDER BY r.issued_at_ms, r.number, r.id LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    names = (*_RECEIPT, "table", "tab", "refunded")
    return int(counted[0][0]), [dict(zip(names, row, strict=True)) for row in rows]


async def receipt_detail(cur: Cursor, venue_id: str, receipt_id: str) -> dict[str, Any] | None:
    """A receipt with its lines (modifiers and discounts from its order), the order's discounts,
    its payments, its refunds and its shift; None when the console holds no such receipt."""
    found = await cur.fetchall(
        f"SELECT {', '.join('r.' + c for c in _RECEIPT)}, r.payment_ids, {_TABLE}, {_TAB}, "
        "o.opened_by, o.opened_at_ms, o.line_detail, o.order_discounts, s.opened_at_ms, "
        "s.closed_at_ms, s.opened_by, o.table_label, o.tab "
        f"FROM receipts r {_ORDER_JOIN} "
        "LEFT JOIN shifts s ON s.venue_id = r.venue_id AND s.id = r.shift_id "
        "WHERE r.venue_id = ? AND r.id = ?",
        (venue_id, receipt_id),
    )
    if not found:
        return None
    row = found[0]
    out = dict(zip(_RECEIPT, row, strict=False))
    extra = row[len(_RECEIPT) :]
    payment_ids, table, tab, opened_by, opened_at, detail, discounts = extra[:7]
    out |= {
        "table": table,
        "tab": tab,
        "order_opened_by": opened_by,
        "order_opened_at_ms": opened_at,
        "shift": {"opened_at_ms": extra[7], "closed_at_ms": extra[8], "opened_by": extra[9]},
        "opened_table": extra[10],  # where the order was opened (table/tab: where it is now)
        "opened_tab": extra[11],
        "order_discounts": _json_list(discounts),
    }
    by_line = {str(d.get("line_id")): d for d in _json_list(detail) if isinstance(d, dict)}
    lines = await cur.fetchall(
        "SELECT line_id, product_id, name, quantity, unit_price, discount, tax, amount "
        "FROM receipt_lines WHERE venue_id = ? AND receipt_id = ? ORDER BY position",
        (venue_id, receipt_id),
    )
    line_cols = ("line_id", "product_id", "name", "quantity", "unit_price", "discount", "tax")
    out["lines"] = []
    for line in lines:
        item = dict(zip((*line_cols, "amount"), line, strict=True))
        known = by_line.get(str(item["line_id"]), {})
        item["modifiers"] = known.get("modifiers", [])
        item["discount_id"] = known.get("discount_id")
        item["discount_approved_by"] = known.get("approved_by") or ""  # schema 7
        out["lines"].append(item)
    wanted = {str(p) for p in _json_list(payment_ids)}
    payments = await cur.fetchall(
        "SELECT id, method, amount, tip, tendered, change_given, register, user_id, at_ms "
        "FROM payments WHERE venue_id = ? AND order_id = ? ORDER BY at_ms, id",
        (venue_id, out["order_id"]),
    )
    pay_cols = ("id", "method", "amount", "tip", "tendered", "change", "register", "user_id")
    out["payments"] = [
        dict(zip((*pay_cols, "at_ms"), p, strict=True))
        for p in payments
        if not wanted or str(p[0]) in wanted
    ]
    out["refunds"] = await _refunds_of(cur, venue_id, receipt_id)
    return out


_REFUND_LINE = ("line_id", "quantity", "amount", "name", "tax")


async def _refunds_of(cur: Cursor, venue_id: str, receipt_id: str) -> list[dict[str, Any]]:
    rows = await cur.fetchall(
        "SELECT id, amount, method, register, user_id, at_ms, reason, COALESCE(approved_by, '') "
        "FROM refunds WHERE venue_id = ? AND receipt_id = ? ORDER BY at_ms, id",
        (venue_id, receipt_id),
    )
    cols = ("id", "amount", "method", "register", "user_id", "at_ms", "reason", "approved_by")
    out = []
    for row in rows:
        out.append(await _with_lines(cur, venue_id, dict(zip(cols, row, strict=True))))
    return out


async def _with_lines(cur: Cursor, venue_id: str, refund: dict[str, Any]) -> dict[str, Any]:
    """``refund`` with its lines (``_REFUND_LINE``) and the tax it gave back (``refund_tax``): None
    when a line's is unknown, as a partial sum would understate it."""
    rows = await cur.fetchall(
        refund_lines_sql(" AND f.id = ? ORDER BY l.position"), (venue_id, refund["id"])
    )
    lines = [{k: v for k, v in with_tax(x).items() if k in _REFUND_LINE} for x in rows]
    taxes = [line["tax"] for line in lines]
    return refund | {"lines": lines, "tax": None if None in taxes else sum(taxes)}


def _json_list(text: object) -> list[Any]:
    """A JSON list column (NULL for rows stored before it existed, or anything unreadable: empty)."""
    if not isinstance(text, str):
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


SALES_SUMS = ("quantity", "amount", "discount", "tax", "refunded_tax", "net_tax")
"""A product's (and a category's) sums in Sales; a cashier's are the last three."""

_IN_DAYS = "r.venue_id = ? AND r.business_date >= ? AND r.business_date <= ?"


async def sales_by_product(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """Per product: quantity sold, line amounts (after discounts), discounts and tax."""
    rows = await cur.fetchall(
        "SELECT l.product_id, MAX(l.name), CAST(SUM(l.quantity) AS BIGINT), "
        "CAST(SUM(l.amount) AS BIGINT), CAST(SUM(l.discount) AS BIGINT), "
        "CAST(SUM(l.tax) AS BIGINT), CAST(COUNT(DISTINCT r.id) AS BIGINT) "
        "FROM receipts r JOIN receipt_lines l ON l.venue_id = r.venue_id AND l.receipt_id = r.id "
        f"WHERE {_IN_DAYS} GROUP BY l.product_id ORDER BY l.product_id",
        (venue_id, days.first, days.last),
    )
    cols = ("product_id", "name", "quantity", "amount", "discount", "tax", "receipts")
    out = {str(row[0]): dict(zip(cols, row, strict=True)) for row in rows}
    for line in await _refund_lines(cur, venue_id, days):
        if line["product_id"] is not None:
            empty = dict.fromkeys(cols, 0) | {
                "product_id": line["product_id"],
                "name": line["name"],
            }
            _add_refunded(out.setdefault(str(line["product_id"]), empty), line["tax"])
    return [_net(row) for row in out.values()]  # the sales' order; refunds only after


async def _refund_lines(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """The lines of the days' refunds, each with its tax (``refund_tax``)."""
    where = " AND f.business_date >= ? AND f.business_date <= ?"
    rows = await cur.fetchall(refund_lines_sql(where), (venue_id, days.first, days.last))
    return [with_tax(row) for row in rows]


def _add_refunded(row: dict[str, Any], tax: int | None) -> None:
    row["refunded_tax"] = row.get("refunded_tax", 0) + (tax or 0)  # None: not known here


def _net(row: dict[str, Any]) -> dict[str, Any]:
    """A sales row with the tax its refunds gave back (``refunded_tax``, by the refunds' business
    days, as the totals count it) and ``net_tax``: its receipts' tax minus that."""
    row.setdefault("refunded_tax", 0)
    row["net_tax"] = row["tax"] - row["refunded_tax"]
    return row


async def sales_by_cashier(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    rows = await cur.fetchall(
        "SELECT r.user_id, CAST(COUNT(*) AS BIGINT), CAST(SUM(r.total) AS BIGINT), "
        "CAST(SUM(r.discount) AS BIGINT), CAST(SUM(r.tax) AS BIGINT) "
        f"FROM receipts r WHERE {_IN_DAYS} GROUP BY r.user_id ORDER BY r.user_id",
        (venue_id, days.first, days.last),
    )
    cols = ("user_id", "receipts", "total", "discount", "tax")
    out = {str(row[0]): dict(zip(cols, row, strict=True)) for row in rows}
    lines = await _refund_lines(cur, venue_id, days)
    sold_by = dict(  # refund -> who sold what it gave back, as the tax is by who sold it
        await cur.fetchall(
            "SELECT f.id, r.user_id FROM refunds f JOIN receipts r ON r.venue_id = f.venue_id "
            "AND r.id = f.receipt_id WHERE f.venue_id = ? AND f.business_date >= ? "
            "AND f.business_date <= ?",
            (venue_id, days.first, days.last),
        )
    )
    for line in lines:
        if (user := sold_by.get(line["refund_id"])) is not None:
            empty = dict.fromkeys(cols, 0) | {"user_id": user}
            _add_refunded(out.setdefault(str(user), empty), line["tax"])
    return [_net(row) for row in out.values()]


QUARTER_MS = 900_000
"""Sales by hour are summed per quarter hour of UTC first: every time zone's hours are whole quarters
of UTC's (Nepal is +05:45), so the API turns them into the venue's local hours exactly."""


async def sales_by_quarter(cur: Cursor, venue_id: str, days: Days) -> list[tuple[int, int, int]]:
    """(quarter hour since the epoch, receipts, total) of the receipts of ``days``."""
    rows = await cur.fetchall(
        f"SELECT r.issued_at_ms / {QUARTER_MS}, CAST(COUNT(*) AS BIGINT), "
        f"CAST(SUM(r.total) AS BIGINT) FROM receipts r WHERE {_IN_DAYS} "
        f"GROUP BY r.issued_at_ms / {QUARTER_MS}",
        (venue_id, days.first, days.last),
    )
    return [(int(q), int(n), int(total)) for q, n, total in rows]


async def refunds(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """Refunds of the days, with the receipt's number, the refunded lines' names and the tax each
    refund and line gave back (``refund_tax``)."""
    rows = await cur.fetchall(
        "SELECT f.id, f.receipt_id, r.number, f.amount, f.method, f.register, f.user_id, f.at_ms, "
        "f.reason, f.business_date, COALESCE(f.approved_by, '') FROM refunds f "
        "LEFT JOIN receipts r ON r.venue_id = f.venue_id AND r.id = f.receipt_id "
        "WHERE f.venue_id = ? AND f.business_date >= ? AND f.business_date <= ? "
        "ORDER BY f.at_ms, f.id",
        (venue_id, days.first, days.last),
    )
    cols = ("id", "receipt_id", "number", "amount", "method", "register", "user_id", "at_ms")
    out = []
    for row in rows:
        item = dict(zip((*cols, "reason", "business_date", "approved_by"), row, strict=True))
        out.append(await _with_lines(cur, venue_id, item))
    return out


async def voids(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """Orders voided on the days, with the lines they held when voided (``voided``: "order"), then
    each line voided after the kitchen had it (``voided``: "line"; also of an order voided later)."""
    rows = await cur.fetchall(
        f"SELECT id, register, opened_by, opened_at_ms, {_TABLE}, {_TAB}, total, line_detail, "
        "business_date, void_detail FROM orders o WHERE venue_id = ? AND business_date >= ? "
        "AND business_date <= ? AND status = 'void' ORDER BY opened_at_ms, id",
        (venue_id, days.first, days.last),
    )
    cols = ("id", "register", "opened_by", "opened_at_ms", "table", "tab", "total")
    out = []
    for row in rows:
        item = dict(zip(cols, row[:7], strict=True))
        # who voided it, why and who approved it (``void_detail``; empty in a row stored before
        # schema 6 until its day is materialised again)
        voided = [v for v in _json_list(row[9]) if isinstance(v, dict) and not v.get("line_id")]
        first = voided[0] if voided else {}
        item |= {
            "lines": _json_list(row[7]),
            "business_date": row[8],
            "voided_by": first.get("user", ""),
            "reason": first.get("reason", ""),
            "approved_by": first.get("approved_by", ""),
            "voided": "order",
        }
        out.append(item)
    return out + await _line_voids(cur, venue_id, days)


_SENT = (
    '%"sent": true%'  # a void_detail naming a removed line the kitchen had (json.dumps' spacing)
)


async def _line_voids(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """Each line removed after it was sent to the kitchen (a void, not a correction) and not moved to
    another bill, from schema 7's ``void_detail`` (a row written before has none until its day is
    materialised again)."""
    rows = await cur.fetchall(
        f"SELECT id, register, opened_by, opened_at_ms, {_TABLE}, {_TAB}, total, business_date, "
        "void_detail FROM orders o WHERE venue_id = ? AND business_date >= ? "
        "AND business_date <= ? AND void_detail LIKE ? "
        "ORDER BY opened_at_ms, id",
        (venue_id, days.first, days.last, _SENT),
    )
    cols = ("id", "register", "opened_by", "opened_at_ms", "table", "tab", "total")
    out = []
    for row in rows:
        for v in _json_list(row[8]):
            if not (isinstance(v, dict) and v.get("line_id") and v.get("sent")):
                continue
            if v.get("moved_to"):
                continue  # split off to another bill: still sold
            item = dict(zip(cols, row[:7], strict=True))
            item |= {
                "lines": [{"name": v.get("name", ""), "quantity": v.get("quantity", 0)}],
                "business_date": row[7],
                "voided_by": v.get("user", ""),
                "reason": v.get("reason", ""),
                "approved_by": v.get("approved_by", ""),
                "voided": "line",
            }
            out.append(item)
    return out


async def no_sales(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """The drawer's "no sale" openings on the days, oldest first."""
    rows = await cur.fetchall(
        "SELECT id, shift_id, register, user_id, at_ms, reason, approved_by, business_date "
        "FROM no_sales WHERE venue_id = ? AND business_date >= ? AND business_date <= ? "
        "ORDER BY at_ms, id",
        (venue_id, days.first, days.last),
    )
    cols = ("id", "shift_id", "register", "user_id", "at_ms", "reason", "approved_by")
    return [dict(zip((*cols, "business_date"), row, strict=True)) for row in rows]


async def shifts(cur: Cursor, venue_id: str, days: Days) -> list[dict[str, Any]]:
    """Shifts opened on the days: an open one is its X report (so far), a closed one its Z."""
    found = await shift_rows(
        cur,
        "s.venue_id = ? AND s.business_date >= ? AND s.business_date <= ?",
        (venue_id, days.first, days.last),
    )
    for shift in found:
        closed = shift["closed_at_ms"] is not None
        shift["report"] = "Z" if closed else "X"
        counted = shift["counted_cash"]
        # what the drawer held against what the console's records say it should have
        shift["cash_difference"] = counted - shift["drawer_expected"] if closed else None
    return found
