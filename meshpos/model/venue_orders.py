"""The operations on an open order: open it, add and remove lines, discount it, void it, send it to the
kitchen. Lines carry a hybrid-clock stamp so every register lists them in the cashier's order; see
docs/architecture.md (Model).

**Changed** (outside round 5, outside): a line's price (the product's plus its modifiers' deltas) is
never below zero. A modifier may lower a price, but one that took off more than the product cost sold a
negative line, and its receipt (negative, "paid" with 0) took money off the shift's sales and tax with
nothing but the ``sell`` right: no refund, approval or audit line (tests/outside/test_negative_line_price.py).
**Changed** (outside round 5, outside): a percent order discount is given once per order: given twice
(a second tap, or a waiter's tablet that gave it already) it took 19 % for "10 %", and an order
discount cannot be taken off again. A fixed one may repeat: each is a voucher handed in
(tests/outside/test_percent_discount_twice.py).
**Changed** (outside, sixth round; the twentieth session): a line of a partly paid order is not taken off
(nor its quantity lowered, ``venue_bills``) when what is left would cost less than was paid: the order
then could be neither paid nor voided and held its shift open for good (``paid_stays_covered``;
tests/outside/test_line_off_paid_order.py).
**Changed** (open rules, rules, the twentieth session): an order's discounts apply in the order given,
each to what the ones before left; the rule is in their records' keys (``discount_turns.key_in_turn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidInput,
    ItemStopped,
    OrderFull,
    PermissionDenied,
    RecordUnusable,
    ShiftClosed,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model.catalog import Product
from meshpos.model.discount_turns import key_in_turn
from meshpos.model.kitchen import Ticket
from meshpos.model.ledger_types import Order
from meshpos.model.limits import MAX_NAME_CHARS, MAX_ORDER_LINES, check_text
from meshpos.model.line_price import below_zero
from meshpos.model.venue_base import (
    VenueBase,
    approval,
    count,
    id_of,
    note,
    operation,
    unless_empty,
)
from meshpos.model.venue_bills import kitchen_items, paid_stays_covered


class OrderRules(VenueBase):
    """Orders, their lines and discounts, and what is sent to the kitchen."""

    # --- orders ---------------------------------------------------------------------------------
    @operation("open the order")
    def open_order(self, user: str, now_ms: int, *, table: str = "", tab: str = "") -> Order:
        check_text(table, "table", MAX_NAME_CHARS)
        check_text(tab, "tab", MAX_NAME_CHARS)
        shift = self._register_shift(user, "sell")
        order_id = self._new_id()
        ledger = self.ledger(self.business_date(now_ms))
        ledger.write_order(
            order_id,
            {
                **unless_empty(table=table, tab=tab),
                "waiter": user,
                "register": self.device,
                "shift_id": shift.id,
                "at": now_ms,
            },
        )
        return ledger.order(order_id)

    def _sellable(self, product_id: str, user: str, override_stop: bool) -> Product:
        try:
            product = self.catalog.product(product_id)
        except CorruptRecord as exc:
            raise RecordUnusable(
                f"product {product_id!r} cannot be sold: its catalog record is corrupt ({exc.message})"
            ) from exc
        if not product.active:
            raise UnknownProduct(f"product {product.name!r} ({product_id}) is not on sale")
        if self.stoplist.is_stopped(product_id):
            if not override_stop:
                raise ItemStopped(f"{product.name!r} is on the stop list")
            if "override_stop" not in self.catalog.rights(user):
                raise PermissionDenied(
                    f"user {user!r} may not sell {product.name!r}: it is on the stop list"
                )
        return product

    @operation("add the line")
    def add_line(
        self,
        user: str,
        order_id: str,
        product_id: str,
        quantity: int,
        now_ms: int,
        *,
        modifiers: Sequence[str] = (),
        discount_id: str | None = None,
        override_stop: bool = False,
        approved_by: str = "",
    ) -> Order:
        """``approved_by``: a user who may give the line's discount approved it on the spot."""
        id_of(order_id, "order id")
        id_of(product_id, "product id")
        if isinstance(modifiers, str):
            raise InvalidInput("modifiers must be a list of modifier ids, not one text")
        for modifier in modifiers:
            id_of(modifier, "modifier id")
        if discount_id is not None:
            id_of(discount_id, "discount id")
        self._register_shift(user, "sell")
        count(quantity, "quantity")
        ledger, order = self._open_order(order_id)
        if len(order.lines) >= MAX_ORDER_LINES:
            raise OrderFull(
                f"{order.words} has {len(order.lines)} lines, the most an order may hold "
                f"({MAX_ORDER_LINES}): add to a line's quantity, or split the order into bills"
            )
        product = self._sellable(product_id, user, override_stop)
        chosen = self._modifiers(product, modifiers)
        unit_price = product.price + sum(m["price_delta"] for m in chosen)
        if unit_price < 0:  # (the console refuses such a menu too: one rule, line_price)
            deltas = [(m["name"], m["price_delta"]) for m in chosen]
            currency = self.catalog.settings().currency
            raise DomainError(
                f"{below_zero(product.name, product.price, deltas, currency)} (a modifier takes "
                "off more than the product costs: correct it in the menu)"
            )
        discount = None
        if discount_id is not None:
            found = self.catalog.discount(discount_id)
            self.catalog.may_give(approved_by or user, found)
            if found.scope != "line":
                raise DomainError(f"discount {found.name!r} applies to whole orders, not lines")
            discount = {"id": found.id, "kind": found.kind, "value": found.value}
        tax = self.catalog.tax(product.tax_id) if product.tax_id else None
        line_id = self._new_id()
        ledger.write_order_record(
            order_id,
            "lines",
            line_id,
            {
                "product_id": product.id,
                "name": product.name,
                "quantity": quantity,
                "unit_price": unit_price,
                **unless_empty(modifiers=chosen, discount=discount),
                "tax_rate_bp": tax.rate_bp if tax else 0,
                "tax_included": tax.included if tax else True,
                "user": user,
                "device": self.device,
                "at": now_ms,
                "stamp": self.clock.now(now_ms).encode(),  # keeps the cashier's entry order
                **approval(approved_by if discount is not None else ""),
            },
        )
        return ledger.order(order_id)

    def _modifiers(self, product: Product, chosen: Sequence[str]) -> list[dict[str, Any]]:
        if len(set(chosen)) != len(chosen):
            raise DomainError(f"{product.name!r}: a modifier was chosen twice")
        picked: list[dict[str, Any]] = []
        remaining = set(chosen)
        for group_id in product.modifier_groups:
            group = self.catalog.modifier_group(group_id)
            in_group = [m for m in group.modifiers if m.id in remaining]
            if not group.min_select <= len(in_group) <= group.max_select:
                raise DomainError(
                    f"{product.name!r}: choose {group.min_select} to {group.max_select} of {group.name!r}"
                )
            remaining -= {m.id for m in in_group}
            picked += [{"id": m.id, "name": m.name, "price_delta": m.price_delta} for m in in_group]
        if remaining:
            raise UnknownRecord(
                f"{product.name!r}: modifier(s) {sorted(remaining)} are not offered for it"
            )
        return picked

    @operation("remove the line")
    def remove_line(
        self,
        user: str,
        order_id: str,
        line_id: str,
        now_ms: int,
        reason: str = "",
        approved_by: str = "",
    ) -> Order:
        id_of(order_id, "order id")
        id_of(line_id, "line id")
        note(reason, "reason")
        self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        line = next((line for line in order.lines if line.id == line_id), None)
        if line is None:
            raise UnknownRecord(f"{order.words} has no such item (line {line_id!r})")
        paid_stays_covered(order, line, 0, self.catalog.settings().currency)
        if line_id in order.sent_line_ids:
            self.require(user, "void", approved_by)  # it was cooked: removing it is a void
        else:
            approved_by = ""  # nothing needed approving
        record = {"user": user, "at": now_ms, "reason": reason}
        ledger.write_order_record(order_id, "removed", line_id, {**record, **approval(approved_by)})
        for item in kitchen_items(self, ledger, order, [line]):  # the kitchen has it: marked void
            self.kitchen(ledger.date).void(item[0], item[1], {**record, "register": self.device})
        return ledger.order(order_id)

    @operation("apply the discount")
    def apply_order_discount(
        self, user: str, order_id: str, discount_id: str, now_ms: int, approved_by: str = ""
    ) -> Order:
        id_of(order_id, "order id")
        id_of(discount_id, "discount id")
        self._register_shift(user, "discount", approved_by)
        ledger, order = self._open_order(order_id)
        found = self.catalog.discount(discount_id)
        self.catalog.may_give(approved_by or user, found)
        if found.scope != "order":
            raise DomainError(f"discount {found.name!r} applies to lines, not whole orders")
        if order.payments:
            raise DomainError(f"{order.words} is partly paid: discounts must come before payment")
        if found.kind == "percent" and any(given[0] == found.id for given in order.discounts):
            raise DomainError(
                f"{order.words} has {found.name!r} already: a percent discount is given once"
            )
        ledger.write_order_record(
            order_id,
            "discounts",
            key_in_turn(ledger.order_records(order_id, "discounts"), self._new_id()),
            {
                "discount_id": found.id,
                "kind": found.kind,
                "value": found.value,
                "user": user,
                "at": now_ms,
                **approval(approved_by),
            },
        )
        return ledger.order(order_id)

    @operation("void the order")
    def void_order(
        self, user: str, order_id: str, now_ms: int, reason: str = "", approved_by: str = ""
    ) -> Order:
        id_of(order_id, "order id")
        note(reason, "reason")
        shift = self._as_register(user, "sell")
        ledger, order = self._open_order(order_id)
        if order.payments:
            raise DomainError(f"{order.words} has payments: refund them instead of voiding")
        if order.lines:
            self.require(user, "void", approved_by)
            if shift is None:
                raise ShiftClosed(f"register {self.device} has no open shift: open a shift first")
        else:
            approved_by = ""  # an empty order is voided by whoever sells
        record = {"user": user, "at": now_ms, "reason": reason}
        ledger.write_order_record(
            order_id, "voids", self._new_id(), {**record, **approval(approved_by)}
        )
        if order.sent_line_ids:  # the kitchen has some of it: every screen marks it void
            kitchen, marked = self.kitchen(ledger.date), {**record, "register": self.device}
            kitchen.void(order_id, None, marked)
            for item in kitchen_items(self, ledger, order, list(order.lines)):
                if item[0] != order_id:  # a line split off another order after it was sent
                    kitchen.void(item[0], item[1], marked)
        return ledger.order(order_id)

    def _station(self, product_id: str) -> str:
        """The kitchen station a product's tickets go to; a product gone from the catalog since the line
        was added (or unreadable) still goes to the kitchen, to no station in particular."""
        try:
            return self.catalog.product(product_id).kitchen
        except (UnknownRecord, CorruptRecord):
            return ""

    @operation("send the order to the kitchen")
    def send_to_kitchen(self, user: str, order_id: str, now_ms: int) -> Ticket | None:
        id_of(order_id, "order id")
        self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        unsent = [line for line in order.lines if line.id not in order.sent_line_ids]
        if not unsent:
            return None
        kitchen = self.kitchen(ledger.date)
        ticket_id = self._new_id()
        kitchen.write_ticket(
            ticket_id,
            {
                "order_id": order_id,
                **unless_empty(table=order.table, tab=order.tab),
                "register": self.device,
                "user": user,
                "at": now_ms,
                **({"bill": order.split_from} if order.split_from else {}),
                "items": [
                    {
                        "line_id": line.id,
                        "name": line.name,
                        "quantity": line.quantity,
                        **unless_empty(
                            modifiers=[m.name for m in line.modifiers],
                            station=self._station(line.product_id),
                        ),
                    }
                    for line in unsent
                ],
            },
        )
        with ledger.doc.transaction():
            for line in unsent:
                ledger.write_order_record(order_id, "sent", line.id, ticket_id)
        return kitchen.ticket(ticket_id)
