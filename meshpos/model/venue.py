"""A venue as one register or kitchen display sees it: every business rule, checked before anything is written.

Each operation checks its inputs at entry (every text against ``limits``, naming the field), validates
completely, and then writes; its writes complete together or are taken back together whatever raises
(``_writes.all_or_nothing``), so an error changes nothing. Reads skip a record that does not parse and list it
in :meth:`Venue.corrupt_records`: one bad record a peer wrote never takes down the day. Time (``now_ms``) and
ids come in from the caller; the model reads no clocks.

The operations live by concern in ``venue_orders``, ``venue_bills`` and ``venue_money`` over ``venue_base``; this class
composes them and adds the kitchen display's and the stop list's. See docs/architecture.md (Model).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.errors import DayStillOpen, InvalidInput, UnknownRecord
from meshpos.model.day_end import next_day, what_keeps_open
from meshpos.model.documents import day_of, is_kitchen
from meshpos.model.kitchen import Kitchen, Ticket
from meshpos.model.stoplist import StopEntry
from meshpos.model.venue_base import PaymentResult, business_date, id_of, operation
from meshpos.model.venue_bills import BillRules
from meshpos.model.venue_drawer import DrawerRules
from meshpos.model.venue_money import MoneyRules
from meshpos.model.venue_orders import OrderRules

__all__ = ["DayEnded", "PaymentResult", "Venue", "business_date"]


@dataclass(frozen=True, slots=True)
class DayEnded:
    """A business day a manager ended early, and the day later sales go to."""

    date: str
    next_date: str


class Venue(OrderRules, BillRules, MoneyRules, DrawerRules):
    """Rules over the catalog, stop list and the loaded ledger and kitchen days of one device."""

    def _kitchen_of_ticket(self, ticket_id: str) -> Kitchen:
        for name in sorted(filter(is_kitchen, self.replica.names()), reverse=True):
            kitchen = self.kitchen(day_of(name))
            if kitchen.has(ticket_id):
                return kitchen
        raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")

    @operation("end the business day")
    def end_day(self, user: str, now_ms: int) -> DayEnded:
        """End today's business day early (the ``end_day`` right): refused, naming them, while a shift
        or an order of it (or of an earlier loaded day) is open. Later sales go to the next day; the
        ended day closes once the console holds it (docs/architecture.md (Documents))."""
        self._as_register(user, "end_day")
        date = self.business_date(now_ms)
        ledgers = [ledger for ledger in self.ledgers() if ledger.date <= date]
        drawers = self.open_shifts()  # (kept ones of closed days too: model/kept_shifts.py)
        zone = self.zone()
        reasons = [
            r for ledger in ledgers for r in what_keeps_open(ledger, drawers, self.user_name, zone)
        ]
        reasons += [  # a shift open since a closed day (model/kept_shifts.py)
            f"the shift of {self.user_name(s.user)} on {s.register} (open since "
            f"{self.kept_shifts.day_of(s.id)}) is open"
            for s in self.kept_shifts.open_shifts()
        ]
        if reasons:
            raise DayStillOpen(
                f"business day {date} cannot end yet: {'; '.join(reasons)}. Close the shifts and "
                "pay or void the orders first"
            )
        self.day_ends.end(date, user=user, device=self.device, now_ms=now_ms)
        return DayEnded(date, next_day(date))

    @operation("bump the ticket")
    def bump(self, user: str, ticket_id: str, now_ms: int, seen: str = "") -> Ticket:
        """``seen``: the state the screen showed the ticket in ("" for any; :meth:`Kitchen.act`)."""
        id_of(user, "user")
        id_of(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id,
            "bump",
            user=user,
            device=self.device,
            clock=self.clock,
            now_ms=now_ms,
            seen=seen,
        )

    @operation("recall the ticket")
    def recall(self, user: str, ticket_id: str, now_ms: int, seen: str = "") -> Ticket:
        """``seen``: the state the screen showed the ticket in ("" for any; :meth:`Kitchen.act`)."""
        id_of(user, "user")
        id_of(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id,
            "recall",
            user=user,
            device=self.device,
            clock=self.clock,
            now_ms=now_ms,
            seen=seen,
        )

    @operation("acknowledge the kitchen tickets")
    def acknowledge_tickets(self, date: str, now_ms: int) -> int:
        """This kitchen screen holds every ticket of ``date`` it has (docs/architecture.md (Documents)):
        called by a kds after the tickets were committed, never before."""
        return self.kitchen(date).acknowledge(self.device, now_ms)

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
