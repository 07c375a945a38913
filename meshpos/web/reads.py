"""The reads of :class:`meshpos.web.port.NodeAPI`, answered from a model ``Venue``.

Anything that holds a Venue (the node, the web tests' fake) gets the page's reads by inheriting
:class:`VenueReads`, so both answer them the same way and the contract tests check one behaviour.

The reads a page makes after every change (open orders, a page of the day's receipts, the current shift,
one receipt by id, the shift's expected cash) come from a :class:`meshpos.model.day_index.DayIndex` that looks again only at the
ledger days that changed, so their cost follows the live day, not the history a node holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycrdt import Map

from meshpos.errors import UnknownRecord
from meshpos.model import Catalog, Discount, Order, Receipt, Refund, Shift, StopEntry, Ticket, Venue
from meshpos.model._records import lookup_key
from meshpos.model.day_index import DayIndex
from meshpos.model.documents import (
    CATALOG,
    day_of,
    is_kitchen,
    is_ledger,
    kitchen_name,
    ledger_name,
)
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import NoSale
from meshpos.model.numbering import looks_numbered
from meshpos.model.receipt_search import (
    ReceiptFound,
    ReceiptQuery,
    search_at_table,
    search_receipts,
)
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.refund_tenders import Tender
from meshpos.model.shift_report import ShiftReport
from meshpos.web.port import BusinessDays


class VenueReads:
    """The page's reads over ``self.venue`` (which the subclass provides)."""

    _day_index: DayIndex | None = None

    @property
    def venue(self) -> Venue:
        raise NotImplementedError

    @property
    def index(self) -> DayIndex:
        """The venue's day index (a new one if the venue was replaced)."""
        index = self._day_index
        if index is None or index.venue is not self.venue:
            index = self._day_index = DayIndex(self.venue)
        return index

    def catalog(self) -> Catalog:
        return self.venue.catalog

    def discounts(self) -> list[Discount]:
        """Every discount, by id (the model's Catalog has no listing for them)."""
        entities: Map[Any] = self.venue.replica.doc(CATALOG).get("discounts", type=Map)
        return [self.venue.catalog.discount(d) for d in sorted(entities.keys())]

    def stops(self) -> dict[str, StopEntry]:
        return self.venue.stoplist.current()

    def orders(self) -> list[Order]:
        return [o for ledger in self.venue.ledgers() for o in ledger.orders()]

    def open_orders(self) -> list[Order]:
        return self.index.open_orders()

    def order(self, order_id: str) -> Order:
        return self.venue.order(order_id)

    def receipts(self, date: str, limit: int, before: str | None = None) -> list[Receipt]:
        return self.index.receipts(date, limit, before)

    def receipt_count(self) -> int:
        return sum(ledger.receipt_count() for ledger in self.venue.ledgers())

    def _ledger_of_receipt(self, receipt_id: str) -> Ledger:
        date = self.index.day_of_receipt(lookup_key(receipt_id, "receipt id"))
        if date is None:
            raise UnknownRecord(f"unknown receipt {receipt_id!r}")
        return self.venue.ledger(date)

    def receipt(self, receipt_id: str) -> Receipt:
        """A receipt by its id, or by its number (``R2-000123``, as printed) on a loaded day."""
        try:
            return self._ledger_of_receipt(receipt_id).receipt(receipt_id)
        except UnknownRecord:
            if not looks_numbered(receipt_id):
                raise
            for ledger in self.venue.ledgers():  # newest first
                found = ledger.receipt_numbered(receipt_id)
                if found is not None:
                    return ledger.receipt(found)
            raise

    def refunds(self, receipt_id: str) -> list[Refund]:
        """A receipt's refunds: they are written to its own day (``Venue.refund``)."""
        return self._ledger_of_receipt(receipt_id).refunds(receipt_id)

    def refunded_quantities(self, receipt_id: str) -> dict[str, int]:
        return self.venue.refunded_quantities(receipt_id)

    def tenders(self, receipt_id: str) -> tuple[Tender, ...]:
        return self.venue.tenders(receipt_id)

    def current_shift(self) -> Shift | None:
        return self.index.open_shift()

    def expected_cash(self, shift: Shift) -> int:
        return self.index.expected_cash(shift)

    def shift(self, shift_id: str) -> Shift:
        return self.venue.shift(shift_id)

    def shift_report(self, shift_id: str) -> ShiftReport:
        blind = self.venue.catalog.settings().blind_count
        return self.index.shift_report(self.venue.shift(shift_id), blind=blind)

    def kept_part(self, shift_id: str, date: str) -> bool:
        return self.venue.kept_parts.holds(shift_id, date)

    def no_sales(self, date: str) -> list[NoSale]:
        if ledger_name(date) not in self.venue.replica.names():
            return []  # reading a day that is not loaded would create an empty document for it
        return self.venue.ledger(date).records(NO_SALES)

    def search_receipts(self, date: str, query: ReceiptQuery, limit: int) -> list[ReceiptFound]:
        if ledger_name(date) not in self.venue.replica.names():
            return []
        ledger = self.venue.ledger(date)
        placed = self.index.at_table(date, query.table) if query.table else None
        if placed is not None:  # the orders at the table, from the day's index: their receipts only
            return search_at_table(ledger, placed, query, limit)
        return search_receipts(ledger, query, limit)

    def business_date(self, now_ms: int) -> str:
        return self.venue.business_date(now_ms)

    def business_days(
        self, closed: set[str], dropped: frozenset[str] | set[str] = frozenset()
    ) -> BusinessDays:
        """Today, the loaded, the ``closed`` and the ``dropped`` ledger days, the days ended early."""
        venue = self.venue
        loaded = {day_of(n) for n in venue.replica.names() if is_ledger(n)}
        return BusinessDays(
            today=venue.business_date(self.now_ms()),
            loaded=tuple(sorted(loaded)),
            closed=tuple(sorted(closed - loaded)),
            ended=tuple(venue.day_ends.days()),
            dropped=tuple(sorted(dropped)),
        )

    def now_ms(self) -> int:
        raise NotImplementedError

    def tickets(self, date: str, states: Sequence[str]) -> list[Ticket]:
        if kitchen_name(date) not in self.venue.replica.names():
            return []  # reading a day that is not loaded would create an empty document for it
        return self.venue.kitchen(date).tickets(tuple(states))

    def tickets_being_made(self, before: str, states: Sequence[str], now_ms: int) -> list[Ticket]:
        # the day that ended last only: a venue offline for weeks keeps its past days loaded
        days = [day_of(n) for n in self.venue.replica.names() if is_kitchen(n)]
        ended = max((d for d in days if d < before), default="")
        return self.venue.tickets_being_made(ended, now_ms, tuple(states)) if ended else []

    def ticket(self, ticket_id: str) -> Ticket:
        for name in sorted(self.venue.replica.names(), reverse=True):
            if is_kitchen(name):
                kitchen = self.venue.kitchen(day_of(name))
                if kitchen.has(ticket_id):
                    return kitchen.ticket(ticket_id)
        raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")
