"""Finding a past receipt on a register: by its number, its order's table or tab, or its amount.

What a cashier has in hand when a guest comes back: the number printed on the slip (or part of it), the
table, or what was paid. The console's Reports -> Receipts searches its tables the same way
(``console/manager_reports.py`` ``ReceiptSearch``: number anywhere in it, case-insensitive; table or tab
exactly, case-insensitive; amount equal to the total); this searches one ledger day a register holds.
A search by table reads only the receipts of the orders at that table (``table_index``), not the day.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.errors import CorruptRecord, UnknownRecord
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import Receipt
from meshpos.model.records import RECEIPTS
from meshpos.model.table_index import Placed


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """What to search by; empty (or None) is "any"."""

    number: str = ""
    table: str = ""
    amount: int | None = None


@dataclass(frozen=True, slots=True)
class ReceiptFound:
    """A receipt that matched, with its order's table and tab (what a list of them shows)."""

    receipt: Receipt
    table: str
    tab: str


def search_receipts(ledger: Ledger, query: ReceiptQuery, limit: int) -> list[ReceiptFound]:
    """Up to ``limit`` receipts of ``ledger``'s day matching every part of ``query``, newest first."""
    number, table = query.number.upper(), query.table.upper()
    found: list[ReceiptFound] = []
    for receipt in sorted(ledger.receipts(), key=RECEIPTS.sort, reverse=True):
        if not _matches(receipt, number, query.amount):
            continue
        try:
            order = ledger.order(receipt.order_id)
            where = (order.table, order.tab)
        except (UnknownRecord, CorruptRecord):  # its order not here yet, or unreadable
            where = ("", "")
        if table and table not in (where[0].upper(), where[1].upper()):
            continue
        found.append(ReceiptFound(receipt, *where))
        if len(found) >= limit:
            break
    return found


def search_at_table(
    ledger: Ledger, placed: list[Placed], query: ReceiptQuery, limit: int
) -> list[ReceiptFound]:
    """``search_receipts`` for a ``query`` with a table: ``placed`` are the day's orders at it (from
    the day's table index), so only their receipts are read."""
    where = {r: (p.table, p.tab) for p in placed for r in p.receipt_ids}
    number = query.number.upper()
    found: list[ReceiptFound] = []
    for receipt in sorted(
        ledger.records_of(RECEIPTS, sorted(where)), key=RECEIPTS.sort, reverse=True
    ):
        if not _matches(receipt, number, query.amount):
            continue
        found.append(ReceiptFound(receipt, *where[receipt.id]))
        if len(found) >= limit:
            break
    return found


def _matches(receipt: Receipt, number: str, amount: int | None) -> bool:
    """The number (upper-cased, anywhere in it) and the amount (the total) of a query, if given."""
    if number and number not in receipt.number.upper():
        return False
    return amount is None or receipt.total == amount
