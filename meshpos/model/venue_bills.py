"""What a cashier does to an open order's shape: a line's quantity, the order's table or tab, moving it to
another table, and splitting it by items into bills of their own.

Every change is written as records an older node (623a0ca) already reads, except the table: a new
quantity removes the line and adds one in its place (``replaces``), a split removes the lines from the
order and adds copies of them to a new order (``split_from``), so every node of a mixed mesh prices the
bills alike. Where an order is (table, tab) is a ``places`` record in the order's map, the latest by
stamp; an older node ignores it and keeps showing where the order was opened.
See docs/architecture.md (Documents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidInput,
    InvalidQuantity,
    TableTaken,
    UnknownRecord,
)
from meshpos.model.discount_turns import key_in_turn
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import Line, Order
from meshpos.model.limits import MAX_NAME_CHARS, check_text
from meshpos.model.money import format_money
from meshpos.model.totals import order_totals, price_lines
from meshpos.model.venue_base import VenueBase, approval, count, id_of, operation

KITCHEN_ITEM = "kitchen_item"
"""A line split off after it was sent: ``<order id>/<line id>`` of the item its kitchen ticket lists."""


def paid_stays_covered(order: Order, line: Line, quantity: int, currency: str) -> None:
    """Refuse taking ``line`` of a partly paid ``order`` down to ``quantity`` units (0: removing it)
    when what is left would cost less than was paid already.

    Nothing can give a payment of an open order back (a refund is of a receipt), and an order paid
    beyond its total cannot be paid (nothing is due) nor voided (it has payments): it stayed open and
    held its shift open for good, or, with other items left, closed as an overpaid receipt whose cash
    no sale accounts for. Discounts and splits of a partly paid order are refused already; a line
    taken off is the same rule (outside, sixth round; the twentieth session). The cashier takes
    payment for the rest, then refunds the item from the receipt."""
    if not order.payments:
        return
    left = [other.priced() for other in order.lines if other.id != line.id]
    if quantity:
        left.append(dataclasses.replace(line.priced(), quantity=quantity))
    discounts = [(kind, value) for _, kind, value in order.discounts]
    total = order_totals(price_lines(left, discounts)).total
    paid = order.totals.paid
    if total < paid:
        change = f"down to {quantity}" if quantity else "taken off"
        raise DomainError(
            f"{order.words} is partly paid ({format_money(paid, currency)}): with {line.name} "
            f"{change} it would come to {format_money(total, currency)}, less than was paid; take "
            "payment for the rest, then refund the item from the receipt"
        )


def kitchen_items(
    venue: VenueBase, ledger: Ledger, order: Order, lines: list[Line]
) -> list[tuple[str, str]]:
    """The kitchen's names, (order id, line id), of the ``lines`` it has, for a void: a line split
    off after it was sent is known by the line its ticket lists (``kitchen_item``), and voided there
    only when it is all of that item (part of it is no void the kitchen's ticket can show: the cook
    then cooks one too many rather than one too few)."""
    sent = ledger.order_records(order.id, "sent")
    stored = ledger.order_records(order.id, "lines")
    items = []
    for line in lines:
        if line.id not in order.sent_line_ids:
            continue
        record = stored.get(line.id)
        item = record.get(KITCHEN_ITEM) if isinstance(record, Mapping) else None
        if not isinstance(item, str) or "/" not in item:
            items.append((order.id, line.id))
            continue
        item_order, _, item_line = item.partition("/")
        ticket_id = sent.get(line.id)
        try:
            ticket = venue.kitchen(ledger.date).ticket(str(ticket_id))
        except (UnknownRecord, CorruptRecord):
            continue
        if any(i.line_id == item_line and i.quantity == line.quantity for i in ticket.items):
            items.append((item_order, item_line))
    return items


class BillRules(VenueBase):
    """Quantities, tables and tabs, and splitting an order into bills."""

    def _line(self, order: Order, line_id: str) -> Line:
        for line in order.lines:
            if line.id == line_id:
                return line
        raise UnknownRecord(f"{order.words} has no such item (line {line_id!r})")

    def _copy_line(
        self,
        ledger: Ledger,
        source: Order,
        line: Line,
        target: str,
        quantity: int,
        now_ms: int,
        approved_by: str | None = None,
        **link: str,
    ) -> str:
        """A copy of ``line`` with ``quantity`` into order ``target``, every field kept but its quantity
        and ``link`` (``replaces`` or ``split_from``); a line the kitchen has is sent in the copy too (by
        the same ticket), so it is never cooked twice."""
        stored = ledger.order_records(source.id, "lines").get(line.id)
        if not isinstance(stored, Mapping):
            raise CorruptRecord(f"{ledger.name} orders/{source.id}/lines/{line.id}: not a record")
        new_id = self._new_id()
        record: dict[str, Any] = {**stored, "quantity": quantity, "at": now_ms, **link}
        if approved_by is not None:  # who let its discount be given on these units now ("": no one)
            record.pop("approved_by", None)
            record.update(approval(approved_by))
        if line.id in source.sent_line_ids and KITCHEN_ITEM not in record:
            record[KITCHEN_ITEM] = f"{source.id}/{line.id}"  # what its ticket calls it
        ledger.write_order_record(target, "lines", new_id, record)
        if line.id in source.sent_line_ids:
            ticket = ledger.order_records(source.id, "sent").get(line.id)
            ledger.write_order_record(
                target, "sent", new_id, ticket if isinstance(ticket, str) else ""
            )
        return new_id

    @operation("change the quantity")
    def set_quantity(
        self,
        user: str,
        order_id: str,
        line_id: str,
        quantity: int,
        now_ms: int,
        approved_by: str = "",
    ) -> Order:
        """A line's new quantity: the line is replaced by one like it (last writer wins when two
        registers change it at once). A line the kitchen has keeps its quantity: more is a new line,
        fewer is a void (a manager's right), so the kitchen never cooks a number no ticket says. More
        of a discounted line gives its discount on more units: the user, or ``approved_by`` on the
        spot, must be one who may give it (a manager's approval for one coffee is not one for ten)."""
        id_of(order_id, "order id")
        id_of(line_id, "line id")
        self._register_shift(user, "sell")
        count(quantity, "quantity")
        ledger, order = self._open_order(order_id)
        line = self._line(order, line_id)
        if line.id in order.sent_line_ids:
            raise DomainError(
                f"{line.name} on {order.words} was already sent to the kitchen: add more as a new "
                "item, or void it"
            )
        if quantity == line.quantity:
            return order
        if quantity < line.quantity:
            currency = self.catalog.settings().currency
            paid_stays_covered(order, line, quantity, currency)
        approver = None  # fewer units: the discount stays as it was approved
        if line.discount_id is not None and quantity > line.quantity:
            try:
                discount = self.catalog.discount(line.discount_id)
            except UnknownRecord:
                raise DomainError(
                    f"the discount of {line.name} is no longer offered: add more as a new item"
                ) from None
            self.catalog.may_give(approved_by or user, discount)
            approver = approved_by
        root = line.replaces or line.id
        self._copy_line(ledger, order, line, order_id, quantity, now_ms, approver, replaces=root)
        ledger.write_order_record(
            order_id, "removed", line.id, {"user": user, "at": now_ms, "reason": "quantity"}
        )
        return ledger.order(order_id)

    def _open_at_table(self, table: str, other_than: str) -> Order | None:
        """An open order of a loaded day at ``table`` (not ``other_than``), or None."""
        wanted = table.strip().casefold()
        for ledger in self.ledgers():
            for order_id in ledger.order_ids():
                if order_id == other_than or ledger.settled(order_id):
                    continue
                try:
                    order = ledger.order(order_id)
                except CorruptRecord:
                    continue  # listed as corrupt; it cannot hold the table
                if order.status == "open" and order.table.strip().casefold() == wanted:
                    return order
        return None

    @operation("move the order")
    def set_place(self, user: str, order_id: str, now_ms: int, *, table: str, tab: str) -> Order:
        """Where an open order is: a table and/or a tab, "" clearing it. Moving to a table that has
        another open order is refused, naming it (the cashier pays, moves or splits that one first:
        two orders are never merged behind anyone's back)."""
        id_of(order_id, "order id")
        check_text(table, "table", MAX_NAME_CHARS)
        check_text(tab, "tab", MAX_NAME_CHARS)
        self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        if (table, tab) == (order.table, order.tab):
            return order
        if table and table.strip().casefold() != order.table.strip().casefold():
            taken = self._open_at_table(table, order_id)
            if taken is not None:
                raise TableTaken(
                    f"cannot move {order.words} to table {table}: table {table} already has an open "
                    f"order ({taken.number}). Pay or move that order first"
                )
        ledger.write_order_record(
            order_id,
            "places",
            self._new_id(),
            {
                "table": table,
                "tab": tab,
                "user": user,
                "at": now_ms,
                "stamp": self.clock.now(now_ms).encode(),
            },
        )
        return ledger.order(order_id)

    def _discount_name(self, discount_id: str) -> str:
        try:
            return repr(self.catalog.discount(discount_id).name)
        except (UnknownRecord, CorruptRecord):
            return "a fixed discount"

    @operation("split the order")
    def split_order(self, user: str, order_id: str, lines: Mapping[str, int], now_ms: int) -> Order:
        """A new bill (an open order at the same table and tab, on this register's shift) carrying the
        chosen items: ``lines`` maps a line id to how many of it move (the rest stays). A percent order
        discount applies to the new bill too. Refused on an order with payments (split first, then
        pay), with a fixed order discount (it is off the whole: split by amount), or when nothing
        would be left on the original."""
        id_of(order_id, "order id")
        if not isinstance(lines, Mapping):
            raise InvalidInput("lines must map line ids to quantities")
        if not lines:
            raise DomainError("choose at least one item to split off")
        for line_id, quantity in lines.items():
            id_of(line_id, "line id")
            count(quantity, f"quantity of line {line_id}")
        shift = self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        if order.payments:
            raise DomainError(
                f"{order.words} is partly paid: split it before taking payment, or pay it as it is"
            )
        fixed = [d_id for d_id, kind, _ in order.discounts if kind == "fixed"]
        if fixed:  # taken off the whole: on either bill it is lost or given twice when one is small
            raise DomainError(
                f"{self._discount_name(fixed[0])} is taken off the whole of {order.words}: pay it "
                "as one bill, or split it by amount"
            )
        chosen = [(self._line(order, k), q) for k, q in lines.items()]
        for line, quantity in chosen:
            if quantity > line.quantity:
                raise InvalidQuantity(
                    f"{order.words} has {line.quantity} × {line.name}, cannot split off {quantity}"
                )
            if quantity < line.quantity and line.discount_kind == "fixed":
                raise DomainError(
                    f"{line.name} has a fixed discount: split off the whole line or none of it"
                )
        if sum(q for _, q in chosen) == sum(line.quantity for line in order.lines):
            raise DomainError(f"that is everything on {order.words}: leave at least one item on it")
        bill = self._new_id()
        ledger.write_order(
            bill,
            {
                "table": order.table,
                "tab": order.tab,
                "waiter": order.waiter,
                "register": self.device,
                "shift_id": shift.id,
                "at": now_ms,
                "split_from": order_id,
            },
        )
        for line, quantity in chosen:
            root = line.replaces or line.id
            self._copy_line(
                ledger, order, line, bill, quantity, now_ms, split_from=line.id, split_with=""
            )
            if quantity < line.quantity:  # the rest stays, as a line in its place, naming its bill
                rest = line.quantity - quantity
                self._copy_line(
                    ledger, order, line, order_id, rest, now_ms, replaces=root, split_with=bill
                )
            ledger.write_order_record(
                order_id,
                "removed",
                line.id,
                {"user": user, "at": now_ms, "reason": "split", "moved_to": bill},
            )
        given: list[str] = []  # the bill's, in the order's turn (discount_turns)
        for key, stored in sorted(ledger.order_records(order_id, "discounts").items()):
            if isinstance(stored, Mapping):  # percent ones: a fixed one refused the split
                given.append(key_in_turn(given, self._new_id()))
                ledger.write_order_record(
                    bill, "discounts", given[-1], {**stored, "split_from": key}
                )
        return ledger.order(bill)
