"""The spellings of a table or tab a manager's search means, read back from the receipts' orders.

**Changed** (outside round 5, outside): Reports -> Receipts compared tables in capitals in SQL
(``UPPER(table) = ?``, the search capitalised by Python). SQLite's ``UPPER`` changes ASCII letters
only, and PostgreSQL's follows the cluster's locale (ASCII only under ``C``), so "Été 1", "Küche" or
"Кухня 2" was found by no spelling at all, even typed as the register wrote it. The names the range's
orders hold are few (a venue's tables and tabs), so they are read once and compared in Python, the way
a register compares them (``model/receipt_search``); the receipts are then those at one of the
matching names, exactly (tests/outside/test_table_search_letters.py).
"""

from __future__ import annotations

from meshpos.console.cursor import Cursor


async def table_spellings(
    cur: Cursor, venue_id: str, first: str, last: str, typed: str
) -> list[str]:
    """The table and tab names of the orders of the receipts of the days ``first`` to ``last``
    that are ``typed`` in any case: where an order is now and where it was opened (a manager may
    know either)."""
    rows = await cur.fetchall(
        "SELECT DISTINCT o.current_table, o.table_label, o.current_tab, o.tab FROM receipts r "
        "JOIN orders o ON o.venue_id = r.venue_id AND o.id = r.order_id "
        "WHERE r.venue_id = ? AND r.business_date >= ? AND r.business_date <= ?",
        (venue_id, first, last),
    )
    wanted = typed.upper()
    return sorted({n for row in rows for n in row if isinstance(n, str) and n.upper() == wanted})
