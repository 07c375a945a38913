"""The tax a refund gave back, as the console states it (docs/architecture.md (Relay and console)).

A refund record carries the money it gave back per line (``model.totals.refund_share`` of the line's
amount), not the tax in it: a venue that files its VAT from the console's figures needs that tax, or it
pays tax on money it returned. A refunded line's tax is the same share of the receipt line's tax
(``refund_share`` again, the one rule): the refunded units' share after the units the receipt's earlier
refunds of that line gave back (earlier in the refunds' own order, ``REFUNDS.sort``: ``at_ms`` then
id), so a line refunded in full, in any number of refunds, gives back exactly its tax.

The console computes it from the receipt lines it already holds (no column, no migration: a database of
any schema answers). A refund line whose receipt line the console does not hold has no known tax (None,
never 0: sums leave it out, so the net tax is never stated lower than the truth). A refund is written to
its receipt's ledger day, so its ``business_date`` (the day its tax counts on) is its receipt's.
"""

from __future__ import annotations

from typing import Any

from meshpos.console.cursor import Cursor
from meshpos.model.totals import refund_share

_ALREADY = (
    "(SELECT CAST(SUM(e.quantity) AS BIGINT) FROM refunds g CROSS JOIN refund_lines e "
    "WHERE g.venue_id = f.venue_id AND g.receipt_id = f.receipt_id AND e.venue_id = g.venue_id "
    "AND e.refund_id = g.id AND e.line_id = l.line_id "
    "AND (g.at_ms < f.at_ms OR (g.at_ms = f.at_ms AND g.id < f.id)))"
)
"""Units of the same receipt line that the receipt's earlier refunds gave back (through the refunds'
receipt index, then each refund's lines: ``CROSS JOIN`` keeps SQLite to that order)."""

FIELDS = (
    "refund_id",
    "line_id",
    "quantity",
    "amount",
    "name",
    "product_id",
    "receipt_id",
    "line_quantity",
    "line_tax",
    "already",
)
_SELECT = (
    "SELECT f.id, l.line_id, l.quantity, l.amount, x.name, x.product_id, f.receipt_id, x.quantity, "
    f"x.tax, {_ALREADY} FROM refunds f CROSS JOIN refund_lines l "
    "LEFT JOIN receipt_lines x ON x.venue_id = f.venue_id AND x.receipt_id = f.receipt_id "
    "AND x.line_id = l.line_id WHERE l.venue_id = f.venue_id AND l.refund_id = f.id "
    "AND f.venue_id = ?"
)


def refund_lines_sql(where: str) -> str:
    """Every line of the refunds ``where`` selects (SQL after ``f.venue_id = ?``, on refunds ``f``;
    it may end with an ORDER BY of ``l.position``), as ``FIELDS``; ``with_tax`` adds each one's tax.
    No order of its own: one by ``f.id`` makes SQLite read the venue's refunds by their key."""
    return f"{_SELECT}{where}"


def with_tax(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row of ``refund_lines_sql`` with ``tax``: None when its receipt line is not here."""
    out = dict(zip(FIELDS, row, strict=True))
    if out["line_tax"] is None or out["line_quantity"] is None:
        out["tax"] = None
    else:
        already, quantity = int(out["already"] or 0), int(out["quantity"])
        out["tax"] = refund_share(
            int(out["line_tax"]), int(out["line_quantity"]), already, quantity
        )
    return out


async def refunds_tax(cur: Cursor, venue_id: str, where: str, params: tuple[Any, ...]) -> int:
    """The tax the refunds ``where`` selects gave back (lines of unknown tax left out)."""
    rows = await cur.fetchall(refund_lines_sql(where), (venue_id, *params))
    return sum(tax for row in rows if (tax := with_tax(row)["tax"]) is not None)


def with_net(figures: dict[str, int]) -> dict[str, int]:
    """``figures`` with the net ones: ``net_sales`` (sales minus refunds) and ``net_tax``, the
    receipts' tax (``tax``, gross) minus what their refunds gave back (``refunded_tax``)."""
    return figures | {
        "net_sales": figures["sales"] - figures["refunds"],
        "net_tax": figures["tax"] - figures["refunded_tax"],
    }
