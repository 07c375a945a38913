"""The drawer opened with no sale: a recorded ledger entry, so every opening of the drawer is accounted for.

A "no sale" opening moves no money, but it is when cash goes missing: the X and Z reports list them
(``shift_report``), the console materialises them (``no_sales``) and ``meshpos chaos`` reconciles them
like money records. Needs the ``cash`` right (or a manager's approval on the spot). See
docs/architecture.md (Model).
"""

from __future__ import annotations

from meshpos.errors import DomainError
from meshpos.model.ledger_types import NoSale
from meshpos.model.limits import MAX_NO_SALES_PER_MINUTE
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.venue_base import VenueBase, approval, note, operation

MINUTE_MS = 60_000


class DrawerRules(VenueBase):
    """The drawer's openings without a sale."""

    @operation("record the no-sale opening")
    def no_sale(self, user: str, reason: str, now_ms: int, *, approved_by: str = "") -> NoSale:
        note(reason, "reason")
        shift = self._register_shift(user, "cash", approved_by)
        ledger = self._ledger_of_shift(shift.id)
        recent = [
            n
            for n in ledger.records(NO_SALES)
            if n.register == self.device and 0 <= now_ms - n.at_ms < MINUTE_MS
        ]
        if len(recent) >= MAX_NO_SALES_PER_MINUTE:
            raise DomainError(
                f"the drawer of {self.device} was opened without a sale {len(recent)} times in the "
                "last minute: wait a moment, or check the No sale key is not stuck"
            )
        no_sale_id = self._new_id()
        ledger.write(
            NO_SALES.root,
            no_sale_id,
            {
                "shift_id": shift.id,
                "register": self.device,
                "user": user,
                "at": now_ms,
                "reason": reason,
                **approval(approved_by),
            },
        )
        return NO_SALES.parse_key(ledger, no_sale_id)
