"""A venue as one register or kitchen display sees it: every business rule, checked before anything is written.

Each operation checks its inputs at entry (every text against ``limits``, naming the field), validates
completely, and then writes; its writes complete together or are taken back together whatever raises
(``_writes.all_or_nothing``), so an error changes nothing. Reads skip a record that does not parse and list it
in :meth:`Venue.corrupt_records`: one bad record a peer wrote never takes down the day. Time (``now_ms``) and
ids come in from the caller; the model reads no clocks.

The operations live by concern in ``venue_orders`` and ``venue_money`` over ``venue_base``; this class
composes them and adds the kitchen display's and the stop list's. See docs/architecture.md (Model).
"""

from __future__ import annotations

from meshpos.errors import InvalidInput, UnknownRecord
from meshpos.model.kitchen import Kitchen, Ticket
from meshpos.model.stoplist import StopEntry
from meshpos.model.venue_base import ROLES, PaymentResult, business_date, id_of, operation
from meshpos.model.venue_money import MoneyRules
from meshpos.model.venue_orders import OrderRules

__all__ = ["ROLES", "PaymentResult", "Venue", "business_date"]


class Venue(OrderRules, MoneyRules):
    """Rules over the catalog, stop list and the loaded ledger and kitchen days of one device."""

    def _kitchen_of_ticket(self, ticket_id: str) -> Kitchen:
        for name in sorted(
            (n for n in self.replica.names() if n.startswith("kitchen/")), reverse=True
        ):
            kitchen = self.kitchen(name.split("/", 1)[1])
            if kitchen.has(ticket_id):
                return kitchen
        raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")

    @operation("bump the ticket")
    def bump(self, user: str, ticket_id: str, now_ms: int) -> Ticket:
        id_of(user, "user")
        id_of(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id, "bump", user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )

    @operation("recall the ticket")
    def recall(self, user: str, ticket_id: str, now_ms: int) -> Ticket:
        id_of(user, "user")
        id_of(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id, "recall", user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )

    @operation("change the stop list")
    def set_stop(self, user: str, product_id: str, stopped: bool, now_ms: int) -> StopEntry:
        id_of(user, "user")
        id_of(product_id, "product id")
        if not isinstance(stopped, bool):
            raise InvalidInput(f"stopped must be true or false, got {stopped!r}")
        self.catalog.user(user)
        self.catalog.product(product_id)
        return self.stoplist.set(
            product_id, stopped, user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )
