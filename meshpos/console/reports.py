"""Read-only queries behind the console's pages and JSON API: receipts, shifts, totals, alarms.

Each report is one SQL statement, so it reads one committed state even while a relay uploads. Sums
are cast to BIGINT because PostgreSQL's SUM of a BIGINT is NUMERIC (a Decimal in Python): money stays
an ``int`` from the ledger to the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshpos.console.cursor import Cursor
from meshpos.console.records import Alarm
from meshpos.console.refund_tax import refunds_tax, with_net
from meshpos.console.tables import RECORD_TABLES, TABLES
from meshpos.errors import StoreError
from meshpos.model.records import LEDGER_RECORDS

_CHILDREN = {c.name: (t, c) for t in RECORD_TABLES for c in t.children}


def _sum(expr: str, table: str, where: str) -> str:
    return f"CAST(COALESCE((SELECT SUM({expr}) FROM {table} x WHERE {where}), 0) AS BIGINT)"


def _day(date: str | None, alias: str = "") -> tuple[str, tuple[str, ...]]:
    prefix = f"{alias}." if alias else ""
    return (f" AND {prefix}business_date = ?", (date,)) if date is not None else ("", ())


def _columns(table: str, *, leave_out: tuple[str, ...] = ()) -> list[str]:
    """``id`` and the columns of a record table, as its spec declares them."""
    spec = TABLES[table]
    return ["id", *(c.name for c in (*spec.fixed, *spec.mutable) if c.name not in leave_out)]


def _days(days: tuple[str, str] | None) -> tuple[str, tuple[str, ...]]:
    if days is None:
        return "", ()
    return " AND business_date >= ? AND business_date <= ?", days


def record_parent(table: str) -> str:
    """The record table whose business days bound ``table``'s rows (a line's: its receipt's)."""
    if table in TABLES:
        return table
    if table in _CHILDREN:
        return _CHILDREN[table][0].name
    known = sorted([*TABLES, *_CHILDREN])
    raise StoreError(f"unknown table {table!r}; known: {', '.join(known)}")


async def records(
    cur: Cursor, venue_id: str, table: str, days: tuple[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every stored column of one table (of the business days ``days``, first and last included: all
    of them without), for the JSON API and for tests that compare content."""
    record_parent(table)  # (an unknown table is refused before any SQL names it)
    if table in TABLES:
        cols = [*_columns(table), "digest", "state_digest", "seen_at_ms"]
        day, params = _days(days)
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE venue_id = ?{day} ORDER BY id"
    else:
        parent, child = _CHILDREN[table]
        cols = [child.parent_key, *(c.name for c in child.columns)]
        day, params = _days(days)
        if day:
            day = (
                f" AND {child.parent_key} IN (SELECT id FROM {parent.name} WHERE venue_id = ?{day})"
            )
            params = (venue_id, *params)
        sql = (
            f"SELECT {', '.join(cols)} FROM {table} WHERE venue_id = ?{day} "
            f"ORDER BY {child.parent_key}, position"
        )
    rows = await cur.fetchall(sql, (venue_id, *params))
    return [dict(zip(cols, row, strict=True)) for row in rows]


_RECEIPT_COLS = _columns("receipts", leave_out=("payment_ids",))


def refunded_sum(alias: str) -> str:
    """What was refunded of the receipt ``alias`` (a sum over its refunds, by their index)."""
    return _sum(
        "x.amount", "refunds", f"x.venue_id = {alias}.venue_id AND x.receipt_id = {alias}.id"
    )


async def receipts(
    cur: Cursor, venue_id: str, date: str | None, limit: int | None, offset: int
) -> list[dict[str, Any]]:
    """Reports -> Receipts: oldest first, with what was refunded of each."""
    day, params = _day(date, "r")
    page = ""
    paging: tuple[int, ...] = ()
    if limit is not None:
        page, paging = " LIMIT ? OFFSET ?", (int(limit), int(offset))
    return await receipt_rows(cur, f"r.venue_id = ?{day}", (venue_id, *params, *paging), page)


async def receipt_rows(
    cur: Cursor, where: str, params: Sequence[Any], page: str = ""
) -> list[dict[str, Any]]:
    """The receipts (alias ``r``) ``where`` selects, oldest first, each with what was refunded."""
    rows = await cur.fetchall(
        f"SELECT {', '.join('r.' + c for c in _RECEIPT_COLS)}, {refunded_sum('r')} "
        f"FROM receipts r WHERE {where} ORDER BY r.issued_at_ms, r.number{page}",
        params,
    )
    return [dict(zip((*_RECEIPT_COLS, "refunded"), row, strict=True)) for row in rows]


_SHIFT_COLS = _columns("shifts")
_SHIFT_SUMS = {
    "receipts": "CAST((SELECT COUNT(*) FROM receipts x WHERE x.venue_id = s.venue_id "
    "AND x.shift_id = s.id) AS BIGINT)",
    "sales": _sum("x.total", "receipts", "x.venue_id = s.venue_id AND x.shift_id = s.id"),
    "cash_taken": _sum(
        "x.amount + x.tip",
        "payments",
        "x.venue_id = s.venue_id AND x.shift_id = s.id AND x.method = 'cash'",
    ),
    "card_taken": _sum(
        "x.amount + x.tip",
        "payments",
        "x.venue_id = s.venue_id AND x.shift_id = s.id AND x.method <> 'cash'",
    ),
    "refunds": _sum("x.amount", "refunds", "x.venue_id = s.venue_id AND x.shift_id = s.id"),
    "cash_refunds": _sum(
        "x.amount",
        "refunds",
        "x.venue_id = s.venue_id AND x.shift_id = s.id AND x.method = 'cash'",
    ),
    "cash_in": _sum(
        "x.amount", "cash_moves", "x.venue_id = s.venue_id AND x.shift_id = s.id AND x.kind = 'in'"
    ),
    "cash_out": _sum(
        "x.amount",
        "cash_moves",
        "x.venue_id = s.venue_id AND x.shift_id = s.id AND x.kind = 'out'",
    ),
    # the drawer's openings with no sale (issue 17): what a register's X and Z list
    "no_sales": "CAST((SELECT COUNT(*) FROM no_sales x WHERE x.venue_id = s.venue_id "
    "AND x.shift_id = s.id) AS BIGINT)",
}


async def shifts(cur: Cursor, venue_id: str, date: str | None) -> list[dict[str, Any]]:
    """Shifts with their drawer: ``drawer_expected`` is recomputed from the materialised records,
    so it can be checked against the ``expected_cash`` the register wrote at close."""
    day, params = _day(date, "s")
    return await shift_rows(cur, f"s.venue_id = ?{day}", (venue_id, *params))


async def shift_rows(cur: Cursor, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The shifts (alias ``s``) ``where`` selects, each with its sums and ``drawer_expected``."""
    names = (*_SHIFT_COLS, *_SHIFT_SUMS)
    rows = await cur.fetchall(
        f"SELECT {', '.join('s.' + c for c in _SHIFT_COLS)}, {', '.join(_SHIFT_SUMS.values())} "
        f"FROM shifts s WHERE {where} ORDER BY s.opened_at_ms, s.id",
        params,
    )
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["drawer_expected"] = (
            item["opening_cash"]
            + item["cash_taken"]
            + item["cash_in"]
            - item["cash_out"]
            - item["cash_refunds"]
        )
        out.append(item)
    return out


TOTALS = {
    "receipts": ("COUNT(*)", "receipts", ""),
    "sales": ("SUM(total)", "receipts", ""),
    "tax": ("SUM(tax)", "receipts", ""),
    "discounts": ("SUM(discount)", "receipts", ""),
    "payments": ("SUM(amount)", "payments", ""),
    "tips": ("SUM(tip)", "payments", ""),
    "refunds": ("SUM(amount)", "refunds", ""),
    "refund_count": ("COUNT(*)", "refunds", ""),
    "cash_in": ("SUM(amount)", "cash_moves", " AND kind = 'in'"),
    "cash_out": ("SUM(amount)", "cash_moves", " AND kind = 'out'"),
    "orders_open": ("COUNT(*)", "orders", " AND status = 'open'"),
    "shifts_open": ("COUNT(*)", "shifts", " AND closed_at_ms IS NULL"),
}


async def totals(cur: Cursor, venue_id: str, date: str | None) -> dict[str, int]:
    """Sums of money facts (minor units) and counts, with the net figures (``with_net``)."""
    day, day_params = _day(date)
    parts = []
    params: list[str] = []
    for expr, table, extra in TOTALS.values():
        parts.append(
            f"CAST(COALESCE((SELECT {expr} FROM {table} WHERE venue_id = ?{day}{extra}), 0) "
            "AS BIGINT)"
        )
        params += [venue_id, *day_params]
    rows = await cur.fetchall(f"SELECT {', '.join(parts)}", params)
    out = {name: int(value) for name, value in zip(TOTALS, rows[0], strict=True)}
    out["refunded_tax"] = await refunds_tax(cur, venue_id, _day(date, "f")[0], day_params)
    return with_net(out)


async def alarms(cur: Cursor, venue_id: str) -> list[Alarm]:
    rows = await cur.fetchall(
        "SELECT kind, table_name, record_id, old_digest, new_digest, document, detail, "
        "first_seen_ms FROM alarms WHERE venue_id = ? "
        "ORDER BY first_seen_ms, table_name, record_id, new_digest",
        (venue_id,),
    )
    return [
        Alarm(venue_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), new=False)
        for r in rows
    ]


# (table, column naming the device that wrote the record), as each record's spec declares it
DEVICE_COLUMNS = tuple(
    (spec.table, spec.device) for spec in LEDGER_RECORDS if spec.device is not None
)


async def registers(cur: Cursor, venue_id: str) -> list[dict[str, Any]]:
    """Per register: how many receipts the console holds from it and when the last of its records
    arrived (``seen_at_ms`` is the console's clock when a record was first materialised)."""
    parts = " UNION ALL ".join(
        f"SELECT {column} AS device, {int(table == 'receipts')} AS receipt, seen_at_ms AS seen "
        f"FROM {table} WHERE venue_id = ?"
        for table, column in DEVICE_COLUMNS
    )
    rows = await cur.fetchall(
        "SELECT device, CAST(SUM(receipt) AS BIGINT), CAST(MAX(seen) AS BIGINT) "
        f"FROM ({parts}) x GROUP BY device ORDER BY device",
        (venue_id,) * len(DEVICE_COLUMNS),
    )
    return [
        {"register": str(device), "receipts": int(count), "last_record_ms": int(last)}
        for device, count, last in rows
        if device
    ]
