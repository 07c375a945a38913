"""The register's receipt search by table reads the receipts at that table, not the day's (the day's
orders are read once, at the first search; then the index follows the orders as they change)."""

from __future__ import annotations

from collections import Counter

import pytest

from meshpos.model import Venue
from meshpos.model import records as records_module
from meshpos.model.ledger import Ledger
from meshpos.model.receipt_search import ReceiptQuery, search_receipts
from meshpos.model.sample import CASHIER
from meshpos.web.reads import VenueReads

from .conftest import NOW, make_venue, sync


class Reads(VenueReads):
    def __init__(self, venue: Venue) -> None:
        self._venue = venue

    @property
    def venue(self) -> Venue:
        return self._venue

    def now_ms(self) -> int:
        return NOW


def sell(venue: Venue, at: int, table: str = "", tab: str = "") -> str:
    order = venue.open_order(CASHIER, at, table=table, tab=tab)
    venue.add_line(CASHIER, order.id, "fries", 1, at)
    paid = venue.pay(CASHIER, order.id, "card", at)
    assert paid.receipt is not None
    return paid.receipt.id


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Receipts and orders read from the documents, counted."""
    seen = Counter[str]()
    receipt_of, order = records_module.receipt_of, Ledger._order

    def counted_receipt(*args: object) -> object:
        seen["receipts"] += 1
        return receipt_of(*args)  # type: ignore[arg-type]

    def counted_order(self: Ledger, order_id: str) -> object:
        seen["orders"] += 1
        return order(self, order_id)

    monkeypatch.setattr(records_module, "receipt_of", counted_receipt)
    monkeypatch.setattr(Ledger, "_order", counted_order)
    return seen


def _day(others: int) -> tuple[Reads, str, set[str]]:
    r1 = make_venue("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    for i in range(others):
        sell(r1, NOW + i, table=f"T{i % 7}")
    at_nine = {
        sell(r1, NOW + others, table="Terrace 9"),
        sell(r1, NOW + others + 1, tab="terrace 9"),
    }
    return Reads(r1), r1.business_date(NOW), at_nine


@pytest.mark.parametrize("others", [5, 300])
def test_a_search_by_table_reads_its_matches_whatever_the_day_holds(
    parsed: Counter[str], others: int
) -> None:
    reads, date, at_nine = _day(others)
    query = ReceiptQuery(table="TERRACE 9")
    first = reads.search_receipts(date, query, 50)  # the day's orders are read once, here
    assert {f.receipt.id for f in first} == at_nine
    parsed.clear()
    again = reads.search_receipts(date, query, 50)
    assert [f.receipt.id for f in again] == [f.receipt.id for f in first]
    # before: every receipt of the day and the order of each (2 + others, each time)
    assert parsed == Counter(receipts=2)
    assert [(f.table, f.tab) for f in again] == [("", "terrace 9"), ("Terrace 9", "")]
    with_number = reads.search_receipts(date, ReceiptQuery("", "terrace 9", 10**9), 50)
    assert with_number == []  # every given part must match


def test_the_index_follows_sales_moves_and_another_registers_orders(parsed: Counter[str]) -> None:
    reads, date, at_nine = _day(20)
    r1 = reads.venue
    query = ReceiptQuery(table="Terrace 9")
    assert {f.receipt.id for f in reads.search_receipts(date, query, 50)} == at_nine
    # a sale at the table after the first search
    at_nine.add(sell(r1, NOW + 100, table="terrace 9"))
    moved = r1.open_order(CASHIER, NOW + 101, table="T1")
    r1.add_line(CASHIER, moved.id, "fries", 1, NOW + 101)
    r1.set_place(CASHIER, moved.id, NOW + 102, table="Terrace 9", tab="")  # moved to the table
    paid = r1.pay(CASHIER, moved.id, "card", NOW + 103)
    assert paid.receipt is not None
    at_nine.add(paid.receipt.id)
    r2 = make_venue("R2", catalog_from=r1.replica)
    sync(r1.replica, r2.replica)
    r2.open_shift_now(CASHIER, 0, NOW)
    at_nine.add(sell(r2, NOW + 104, table="TERRACE 9"))  # another register's, synced in
    sync(r1.replica, r2.replica)
    found = reads.search_receipts(date, query, 50)
    assert {f.receipt.id for f in found} == at_nine
    # the same answer as reading the whole day
    whole = search_receipts(r1.ledger(date), query, 50)
    assert [(f.receipt.id, f.table, f.tab) for f in found] == [
        (f.receipt.id, f.table, f.tab) for f in whole
    ]
