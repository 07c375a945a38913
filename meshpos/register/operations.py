"""The API register apps call: every operation runs one change of the venue's model and returns once it
is committed to this device's store (and only then is it forwarded to peers).

docs/architecture.md (Node). :class:`RegisterOperations` is mixed into the node, which supplies the venue,
the clock and the engine's ``write``; the web layer's routes call these by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from meshpos.model import (
    CashMove,
    InventoryMove,
    Order,
    PaymentResult,
    Refund,
    Shift,
    StopEntry,
    Ticket,
    Venue,
)

T = TypeVar("T")


class RegisterOperations(ABC):
    """Shifts, orders, payments, refunds, stock, kitchen and stop list: durable on return."""

    @abstractmethod
    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        """Apply ``change(venue, now_ms)`` and return once it is durable. **Changed** (issue 18,
        coalesce): ``wait``, a tap nobody else needs to see at once (opening an order, adding or
        removing a line): its update may wait a moment to leave merged with the sale's next taps
        (config ``linger_ms``); a payment, refund, void, kitchen send, shift, cash or stock move goes
        at once, and takes what waits with it."""

    async def open_shift(self, user: str, opening_cash: int) -> Shift:
        return await self.write(lambda venue, now: venue.open_shift_now(user, opening_cash, now))

    @abstractmethod
    async def load_shift_day(self) -> None:
        """Load the closed day this register's open shift opened on, if it is closed: its close and
        a cash move are written there (**changed**, ownday, the twenty-first session: that day closes
        while the shift is open, ``model/kept_shifts.py``)."""

    async def close_shift(self, user: str, counted_cash: int) -> Shift:
        await self.load_shift_day()
        return await self.write(lambda venue, now: venue.close_shift(user, counted_cash, now))

    async def cash_move(self, user: str, kind: str, amount: int, reason: str = "") -> CashMove:
        await self.load_shift_day()
        return await self.write(lambda venue, now: venue.cash_move(user, kind, amount, reason, now))

    async def open_order(self, user: str, *, table: str = "", tab: str = "") -> Order:
        return await self.write(
            lambda venue, now: venue.open_order(user, now, table=table, tab=tab), wait=True
        )

    async def add_line(
        self,
        user: str,
        order_id: str,
        product_id: str,
        quantity: int = 1,
        *,
        modifiers: Sequence[str] = (),
        discount_id: str | None = None,
        override_stop: bool = False,
    ) -> Order:
        return await self.write(
            lambda venue, now: venue.add_line(
                user,
                order_id,
                product_id,
                quantity,
                now,
                modifiers=modifiers,
                discount_id=discount_id,
                override_stop=override_stop,
            ),
            wait=True,
        )

    async def remove_line(self, user: str, order_id: str, line_id: str, reason: str = "") -> Order:
        return await self.write(
            lambda venue, now: venue.remove_line(user, order_id, line_id, now, reason), wait=True
        )

    async def void_order(self, user: str, order_id: str, reason: str = "") -> Order:
        return await self.write(lambda venue, now: venue.void_order(user, order_id, now, reason))

    async def send_to_kitchen(self, user: str, order_id: str) -> Ticket | None:
        return await self.write(lambda venue, now: venue.send_to_kitchen(user, order_id, now))

    async def pay(
        self,
        user: str,
        order_id: str,
        method: str,
        *,
        amount: int | None = None,
        tip: int = 0,
        tendered: int | None = None,
    ) -> PaymentResult:
        return await self.write(
            lambda venue, now: venue.pay(
                user, order_id, method, now, amount=amount, tip=tip, tendered=tendered
            )
        )

    async def refund(
        self,
        user: str,
        receipt_id: str,
        *,
        lines: Mapping[str, int] | None = None,
        method: str | None = None,
        reason: str = "",
    ) -> Refund:
        return await self.write(
            lambda venue, now: venue.refund(
                user, receipt_id, now, lines=lines, method=method, reason=reason
            )
        )

    async def inventory_move(
        self, user: str, product_id: str, kind: str, quantity: int, reason: str = ""
    ) -> InventoryMove:
        return await self.write(
            lambda venue, now: venue.inventory_move(user, product_id, kind, quantity, now, reason)
        )

    async def bump(self, user: str, ticket_id: str) -> Ticket:
        return await self.write(lambda venue, now: venue.bump(user, ticket_id, now))

    async def recall(self, user: str, ticket_id: str) -> Ticket:
        return await self.write(lambda venue, now: venue.recall(user, ticket_id, now))

    async def set_stop(self, user: str, product_id: str, stopped: bool) -> StopEntry:
        return await self.write(lambda venue, now: venue.set_stop(user, product_id, stopped, now))
