"""Stock at the console: units on hand, a product's movements on a range of days, and the supplies and
write-offs a manager enters there (``stock_entries``).

Split from console/manager_reports.py (the twenty-third session, behaviour unchanged). Stock on hand is
the one report that sums a venue's whole history: it is what stock on hand is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpos.console.cursor import Cursor
from meshpos.console.manager_reports import Days

STOCK_SIGN = {"sale": -1, "writeoff": -1, "refund": 1, "supply": 1, "write_off": -1}
"""Which way each kind of movement moves stock: the registers' kinds (``INVENTORY_KINDS``, quantities are
positive) and the console's (``tables.STOCK_KINDS``)."""


_SIGN = f"CASE kind {' '.join(f'WHEN {k!r} THEN {s}' for k, s in STOCK_SIGN.items())} ELSE 0 END"


async def stock_on_hand(cur: Cursor, venue_id: str) -> dict[str, int]:
    """Product -> units on hand: every stock movement the registers recorded and every entry made at
    the console, signed by kind."""
    rows = await cur.fetchall(
        f"SELECT product_id, CAST(SUM({_SIGN} * quantity) AS BIGINT) FROM ("
        "SELECT product_id, kind, quantity FROM inventory_moves WHERE venue_id = ? UNION ALL "
        "SELECT product_id, kind, quantity FROM stock_entries WHERE venue_id = ?) x "
        "GROUP BY product_id ORDER BY product_id",
        (venue_id, venue_id),
    )
    return {str(p): int(n) for p, n in rows}


async def stock_movements(
    cur: Cursor, venue_id: str, product_id: str, days: Days
) -> list[dict[str, Any]]:
    """One product's movements on the days, oldest first: the registers' (with the number of the
    receipt a sale or refund moved stock for) and the console's."""
    rows = await cur.fetchall(
        "SELECT m.id, m.kind, m.quantity, m.ref, m.user_id, m.device, m.at_ms, m.business_date, "
        "'register', r.number FROM inventory_moves m "
        "LEFT JOIN receipts r ON r.venue_id = m.venue_id AND r.id = m.ref "
        "WHERE m.venue_id = ? AND m.product_id = ? AND m.business_date >= ? "
        "AND m.business_date <= ? UNION ALL "
        "SELECT id, kind, quantity, note, who, 'console', at_ms, business_date, 'console', NULL "
        "FROM stock_entries WHERE venue_id = ? AND product_id = ? AND business_date >= ? "
        "AND business_date <= ? ORDER BY 7, 1",
        (venue_id, product_id, days.first, days.last) * 2,
    )
    cols = ("id", "kind", "quantity", "note", "user_id", "device", "at_ms", "business_date")
    out = []
    for row in rows:
        item = dict(zip((*cols, "source", "receipt_number"), row, strict=True))
        item["change"] = STOCK_SIGN.get(str(item["kind"]), 0) * int(item["quantity"])
        out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class StockEntry:
    """A supply or write-off entered at the console (``stock_entries``)."""

    id: str
    product_id: str
    quantity: int
    kind: str
    note: str
    who: str
    at_ms: int
    business_date: str


async def add_stock_entry(cur: Cursor, venue_id: str, entry: StockEntry) -> None:
    await cur.execute(
        "INSERT INTO stock_entries (venue_id, id, product_id, quantity, kind, note, who, at_ms, "
        "business_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            venue_id,
            entry.id,
            entry.product_id,
            entry.quantity,
            entry.kind,
            entry.note,
            entry.who,
            entry.at_ms,
            entry.business_date,
        ),
    )
