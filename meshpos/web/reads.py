"""The reads of :class:`meshpos.web.port.NodeAPI`, answered from a model ``Venue``.

Anything that holds a Venue (the node, the web tests' fake) gets the page's reads by inheriting
:class:`VenueReads`, so both answer them the same way and the contract tests check one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycrdt import Map

from meshpos.errors import UnknownRecord
from meshpos.model import Catalog, Discount, Order, Receipt, Refund, Shift, StopEntry, Ticket, Venue

KITCHEN = (
    "kitchen/"  # a kitchen day's document: kitchen/<business date> (meshpos.model.Venue.kitchen)
)


class VenueReads:
    """The page's reads over ``self.venue`` (which the subclass provides)."""

    @property
    def venue(self) -> Venue:
        raise NotImplementedError

    def catalog(self) -> Catalog:
        return self.venue.catalog

    def discounts(self) -> list[Discount]:
        """Every discount, by id (the model's Catalog has no listing for them)."""
        entities: Map[Any] = self.venue.replica.doc("catalog").get("discounts", type=Map)
        return [self.venue.catalog.discount(d) for d in sorted(entities.keys())]

    def stops(self) -> dict[str, StopEntry]:
        return self.venue.stoplist.current()

    def orders(self) -> list[Order]:
        return [o for ledger in self.venue.ledgers() for o in ledger.orders()]

    def order(self, order_id: str) -> Order:
        return self.venue.order(order_id)

    def receipts(self) -> list[Receipt]:
        return [r for ledger in self.venue.ledgers() for r in ledger.receipts()]

    def receipt(self, receipt_id: str) -> Receipt:
        return self.venue.receipt(receipt_id)

    def refunds(self, receipt_id: str) -> list[Refund]:
        return [r for ledger in self.venue.ledgers() for r in ledger.refunds(receipt_id)]

    def refunded_quantities(self, receipt_id: str) -> dict[str, int]:
        return self.venue.refunded_quantities(receipt_id)

    def current_shift(self) -> Shift | None:
        return self.venue.open_shift()

    def expected_cash(self, shift: Shift) -> int:
        return self.venue.expected_cash(shift)

    def business_date(self, now_ms: int) -> str:
        return self.venue.business_date(now_ms)

    def tickets(self, date: str, states: Sequence[str]) -> list[Ticket]:
        if KITCHEN + date not in self.venue.replica.names():
            return []  # reading a day that is not loaded would create an empty document for it
        return self.venue.kitchen(date).tickets(tuple(states))

    def ticket(self, ticket_id: str) -> Ticket:
        for name in sorted(self.venue.replica.names(), reverse=True):
            if name.startswith(KITCHEN):
                kitchen = self.venue.kitchen(name.removeprefix(KITCHEN))
                if kitchen.has(ticket_id):
                    return kitchen.ticket(ticket_id)
        raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")
