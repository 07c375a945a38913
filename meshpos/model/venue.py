"""A venue as one register or kitchen display sees it: every business rule, checked before anything is written.

Each operation checks its inputs at entry (every text against ``limits``, naming the field), validates
completely, and then writes; its writes complete together or are taken back together whatever raises
(``_writes.all_or_nothing``), so an error changes nothing. Reads skip a record that does not parse and list it
in :meth:`Venue.corrupt_records`: one bad record a peer wrote never takes down the day. Time (``now_ms``) and
ids come in from the caller; the model reads no clocks.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidAmount,
    InvalidInput,
    InvalidQuantity,
    ItemStopped,
    OpenOrdersOnShift,
    OrderNotOpen,
    Overpayment,
    OverRefund,
    PermissionDenied,
    RecordUnusable,
    ShiftClosed,
    ShiftError,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model._records import CorruptEntry, CorruptRegistry, lookup_key
from meshpos.model._writes import all_or_nothing
from meshpos.model.catalog import Catalog, Product
from meshpos.model.clock import HybridClock
from meshpos.model.kitchen import Kitchen, Ticket
from meshpos.model.ledger import (
    CASH_MOVE_KINDS,
    PAYMENT_METHODS,
    CashMove,
    Conflict,
    InventoryMove,
    Ledger,
    Order,
    Payment,
    Receipt,
    Refund,
    Shift,
)
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
    check_text,
)
from meshpos.model.numbering import NUMBERS_DOCUMENT, ReceiptNumbering
from meshpos.model.replica import Replica
from meshpos.model.roles import ROLES
from meshpos.model.stoplist import StopEntry, StopList
from meshpos.model.totals import refund_share

P = ParamSpec("P")
R = TypeVar("R")


def _operation(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A Venue operation: all its writes or none of them (see ``_writes``); a record it needs that is
    corrupt refuses the operation as :class:`RecordUnusable` (a rule, not a crash)."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                with all_or_nothing(what):
                    return method(*args, **kwargs)
            except RecordUnusable:
                raise
            except CorruptRecord as exc:
                raise RecordUnusable(
                    f"cannot {what}: {exc.message} (the record is listed as corrupt; nothing was written)"
                ) from exc

        return run

    return wrap


_id = lookup_key


def _note(value: object, what: str) -> str:
    return check_text(value, what, MAX_NOTE_CHARS)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    payment: Payment
    change: int
    receipt: Receipt | None  # issued when this payment completed the order


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"venue setting timezone {name!r} is not a known time zone") from None


def business_date(now_ms: int, timezone: str = "UTC", cutoff_hour: int = 4) -> str:
    """The business day a moment belongs to: sales at 01:30 count for the evening before."""
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(_zone(timezone))
    return (local - timedelta(hours=cutoff_hour)).date().isoformat()


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{what} must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidQuantity(f"{what} must be between 1 and {MAX_QUANTITY}, got {value}")
    return value


def _money(value: object, what: str, *, allow_zero: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"{what} must be an integer number of minor units (cents), got {value!r}"
        )
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise InvalidAmount(
            f"{what} must be {'at least 0' if allow_zero else 'positive'} and sane, got {value}"
        )
    return value


class Venue:
    """Rules over the catalog, stop list and the loaded ledger and kitchen days of one device."""

    def __init__(
        self,
        replica: Replica,
        *,
        device: str,
        role: str = "register",
        clock: HybridClock | None = None,
        receipt_seq: int = 0,
        receipt_numbers_known: bool = True,
        receipt_series: str = "",
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if role not in ROLES:
            raise DomainError(f"unknown device role {role!r}")
        self.replica = replica
        self.device = device
        self.role = role
        self.clock = clock or HybridClock(device)
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._corrupt = CorruptRegistry()
        self.catalog = Catalog(replica.doc("catalog"))
        self.stoplist = StopList(replica.doc("stoplist"), corrupt=self._corrupt)
        self._ledgers: dict[str, Ledger] = {}
        self.numbering = ReceiptNumbering(
            replica.doc(NUMBERS_DOCUMENT),
            device,
            seq=receipt_seq,
            known=receipt_numbers_known,
            tag=receipt_series,
        )
        self.numbering.catch_up(self.ledgers())

    @property
    def receipt_seq(self) -> int:
        """The last sequence this register issued (or learned) in its current number series."""
        return self.numbering.seq

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        """A new catalog (clear cache brings one) reports its corrupt records here too."""
        catalog.corrupt = self._corrupt
        self._catalog = catalog

    def corrupt_records(self) -> list[CorruptEntry]:
        """The records this device's reads skipped because they do not parse (a peer or a bug wrote
        them): each once, with its document, key and reason. The register shows them as an alarm."""
        return self._corrupt.entries()

    def corrupt_count(self) -> int:
        return len(self._corrupt)

    # --- documents ------------------------------------------------------------------------------
    def business_date(self, now_ms: int) -> str:
        settings = self.catalog.settings()
        return business_date(now_ms, settings.timezone, settings.day_cutoff_hour)

    def ledger(self, date: str) -> Ledger:
        doc = self.replica.doc(f"ledger/{date}")
        cached = self._ledgers.get(date)
        if cached is None or cached.doc is not doc:  # a cleared cache brings a new Doc
            cached = self._ledgers[date] = Ledger(doc, date, corrupt=self._corrupt)
        return cached

    def kitchen(self, date: str) -> Kitchen:
        return Kitchen(self.replica.doc(f"kitchen/{date}"), date, corrupt=self._corrupt)

    def ledgers(self) -> list[Ledger]:
        """The ledger days loaded in memory, newest first."""
        names = [n for n in self.replica.names() if n.startswith("ledger/")]
        return [self.ledger(n.split("/", 1)[1]) for n in sorted(names, reverse=True)]

    def _ledger_holding(self, what: str, key: str, holds: Callable[[Ledger, str], bool]) -> Ledger:
        for ledger in self.ledgers():
            if holds(ledger, key):
                return ledger
        raise UnknownRecord(f"unknown {what} {key!r}")

    def _ledger_of_order(self, order_id: str) -> Ledger:
        return self._ledger_holding("order", order_id, Ledger.has_order)

    def _ledger_of_receipt(self, receipt_id: str) -> Ledger:
        return self._ledger_holding("receipt", receipt_id, Ledger.has_receipt)

    def _ledger_of_shift(self, shift_id: str) -> Ledger:
        return self._ledger_holding("shift", shift_id, Ledger.has_shift)

    # --- reads ----------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        return self._ledger_of_order(_id(order_id, "order id")).order(order_id)

    def receipt(self, receipt_id: str) -> Receipt:
        return self._ledger_of_receipt(_id(receipt_id, "receipt id")).receipt(receipt_id)

    def shift(self, shift_id: str) -> Shift:
        return self._ledger_of_shift(_id(shift_id, "shift id")).shift(shift_id)

    def open_shift(self, register: str | None = None) -> Shift | None:
        register = register or self.device
        for ledger in self.ledgers():
            for shift in ledger.open_shifts_of(register):
                return shift
        return None

    def expected_cash(self, shift: Shift) -> int:
        return shift.opening_cash + sum(ledger.cash_flow(shift.id) for ledger in self.ledgers())

    def refunded_quantities(self, receipt_id: str) -> dict[str, int]:
        done: dict[str, int] = {}
        for refund in self._ledger_of_receipt(receipt_id).refunds(receipt_id):
            for line in refund.lines:
                done[line.line_id] = done.get(line.line_id, 0) + line.quantity
        return done

    def conflicts(self) -> list[Conflict]:
        return [c for ledger in self.ledgers() for c in ledger.conflicts()]

    # --- guards ---------------------------------------------------------------------------------
    def _as_register(self, user: str, right: str) -> Shift | None:
        _id(user, "user")
        if self.role != "register":
            raise PermissionDenied(
                f"a {self.role} device may not write money records (orders, payments, shifts)"
            )
        # a new database has not learned its numbers, open shift or orders yet: no money record at all
        self.numbering.require_known()
        self.catalog.require(user, right)
        return self.open_shift()

    def _register_shift(self, user: str, right: str) -> Shift:
        shift = self._as_register(user, right)
        if shift is None:
            raise ShiftClosed(f"register {self.device} has no open shift: open a shift first")
        return shift

    def _open_order(self, order_id: str) -> tuple[Ledger, Order]:
        ledger = self._ledger_of_order(order_id)
        order = ledger.order(order_id)
        if order.status != "open":
            raise OrderNotOpen(f"order {order_id} is {order.status}")
        return ledger, order

    # --- shifts ---------------------------------------------------------------------------------
    @_operation("open the shift")
    def open_shift_now(self, user: str, opening_cash: int, now_ms: int) -> Shift:
        if self._as_register(user, "open_shift") is not None:
            raise ShiftError(f"register {self.device} already has an open shift")
        _money(opening_cash, "opening cash")
        shift_id = self._new_id()
        ledger = self.ledger(self.business_date(now_ms))
        ledger.write_shift(shift_id, self.device, user, now_ms, opening_cash)
        return ledger.shift(shift_id)

    @_operation("close the shift")
    def close_shift(self, user: str, counted_cash: int, now_ms: int) -> Shift:
        """Close this register's shift. An order on it that is corrupt cannot be paid or voided, so it
        does not hold the shift open: it is skipped like every read skips it, and stays listed in
        :meth:`corrupt_records` (the alarm the cashier and the console see); the payments in it that
        do parse still count in the expected cash."""
        shift = self._register_shift(user, "close_shift")
        _money(counted_cash, "counted cash")
        open_orders = [
            o.id
            for ledger in self.ledgers()
            for o in ledger.orders()
            if o.shift_id == shift.id and o.status == "open"
        ]
        if open_orders:
            raise OpenOrdersOnShift(
                f"shift {shift.id} has {len(open_orders)} open order(s) ({', '.join(open_orders[:3])}): "
                "pay or void them first"
            )
        ledger = self._ledger_of_shift(shift.id)
        ledger.write_shift_close(shift.id, user, now_ms, counted_cash, self.expected_cash(shift))
        return ledger.shift(shift.id)

    @_operation("record the cash move")
    def cash_move(self, user: str, kind: str, amount: int, reason: str, now_ms: int) -> CashMove:
        _note(reason, "reason")
        shift = self._register_shift(user, "cash")
        if kind not in CASH_MOVE_KINDS:
            raise DomainError(f"cash move kind must be 'in' or 'out', got {kind!r}")
        _money(amount, "cash amount", allow_zero=False)
        if kind == "out" and amount > self.expected_cash(shift):
            raise InvalidAmount(
                f"cannot take out {amount}: the drawer should hold {self.expected_cash(shift)}"
            )
        move_id = self._new_id()
        ledger = self._ledger_of_shift(shift.id)
        ledger.write(
            "cash_moves",
            move_id,
            {
                "shift_id": shift.id,
                "kind": kind,
                "amount": amount,
                "reason": reason,
                "user": user,
                "at": now_ms,
            },
        )
        return next(m for m in ledger.cash_moves() if m.id == move_id)

    # --- orders ---------------------------------------------------------------------------------
    @_operation("open the order")
    def open_order(self, user: str, now_ms: int, *, table: str = "", tab: str = "") -> Order:
        check_text(table, "table", MAX_NAME_CHARS)
        check_text(tab, "tab", MAX_NAME_CHARS)
        shift = self._register_shift(user, "sell")
        order_id = self._new_id()
        ledger = self.ledger(self.business_date(now_ms))
        ledger.write_order(
            order_id,
            {
                "table": table,
                "tab": tab,
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

    @_operation("add the line")
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
    ) -> Order:
        _id(order_id, "order id")
        _id(product_id, "product id")
        if isinstance(modifiers, str):
            raise InvalidInput("modifiers must be a list of modifier ids, not one text")
        for modifier in modifiers:
            _id(modifier, "modifier id")
        if discount_id is not None:
            _id(discount_id, "discount id")
        self._register_shift(user, "sell")
        _count(quantity, "quantity")
        ledger, _ = self._open_order(order_id)
        product = self._sellable(product_id, user, override_stop)
        chosen = self._modifiers(product, modifiers)
        discount = None
        if discount_id is not None:
            self.catalog.require(user, "discount")
            found = self.catalog.discount(discount_id)
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
                "unit_price": product.price + sum(m["price_delta"] for m in chosen),
                "modifiers": chosen,
                "tax_rate_bp": tax.rate_bp if tax else 0,
                "tax_included": tax.included if tax else True,
                "discount": discount,
                "user": user,
                "device": self.device,
                "at": now_ms,
                "stamp": self.clock.now(now_ms).encode(),  # keeps the cashier's entry order
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

    @_operation("remove the line")
    def remove_line(
        self, user: str, order_id: str, line_id: str, now_ms: int, reason: str = ""
    ) -> Order:
        _id(order_id, "order id")
        _id(line_id, "line id")
        _note(reason, "reason")
        self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        if line_id not in {line.id for line in order.lines}:
            raise UnknownRecord(f"order {order_id} has no line {line_id!r}")
        if line_id in order.sent_line_ids:
            self.catalog.require(user, "void")  # it was cooked: removing it is a void
        ledger.write_order_record(
            order_id, "removed", line_id, {"user": user, "at": now_ms, "reason": reason}
        )
        return ledger.order(order_id)

    @_operation("apply the discount")
    def apply_order_discount(
        self, user: str, order_id: str, discount_id: str, now_ms: int
    ) -> Order:
        _id(order_id, "order id")
        _id(discount_id, "discount id")
        self._register_shift(user, "discount")
        ledger, order = self._open_order(order_id)
        found = self.catalog.discount(discount_id)
        if found.scope != "order":
            raise DomainError(f"discount {found.name!r} applies to lines, not whole orders")
        if order.payments:
            raise DomainError(
                f"order {order_id} is partly paid: discounts must come before payment"
            )
        ledger.write_order_record(
            order_id,
            "discounts",
            self._new_id(),
            {
                "discount_id": found.id,
                "kind": found.kind,
                "value": found.value,
                "user": user,
                "at": now_ms,
            },
        )
        return ledger.order(order_id)

    @_operation("void the order")
    def void_order(self, user: str, order_id: str, now_ms: int, reason: str = "") -> Order:
        _id(order_id, "order id")
        _note(reason, "reason")
        shift = self._as_register(user, "sell")
        ledger, order = self._open_order(order_id)
        if order.payments:
            raise DomainError(f"order {order_id} has payments: refund them instead of voiding")
        if order.lines:
            self.catalog.require(user, "void")
            if shift is None:
                raise ShiftClosed(f"register {self.device} has no open shift: open a shift first")
        ledger.write_order_record(
            order_id, "voids", self._new_id(), {"user": user, "at": now_ms, "reason": reason}
        )
        return ledger.order(order_id)

    # --- payments and receipts --------------------------------------------------------------------
    @_operation("take the payment")
    def pay(
        self,
        user: str,
        order_id: str,
        method: str,
        now_ms: int,
        *,
        amount: int | None = None,
        tip: int = 0,
        tendered: int | None = None,
    ) -> PaymentResult:
        _id(order_id, "order id")
        shift = self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        if method not in PAYMENT_METHODS:
            raise DomainError(
                f"payment method must be one of {', '.join(PAYMENT_METHODS)}, got {method!r}"
            )
        if not order.lines:
            raise DomainError(f"order {order_id} has no lines to pay for")
        _money(tip, "tip")
        due = order.totals.due
        change = 0
        if tendered is not None:
            if method != "cash":
                raise DomainError(
                    "only cash is tendered with change; give the amount for card payments"
                )
            _money(tendered, "tendered cash", allow_zero=False)
            if tendered < tip:
                raise InvalidAmount(f"tendered {tendered} does not cover the tip {tip}")
            applied = min(tendered - tip, due) if amount is None else _money(amount, "amount")
            change = tendered - tip - applied
            if change < 0:
                raise InvalidAmount(
                    f"tendered {tendered} is less than amount {applied} plus tip {tip}"
                )
        else:
            applied = due if amount is None else _money(amount, "amount")
        if applied > due:
            raise Overpayment(
                f"payment of {applied} exceeds the {due} still due on order {order_id}; give the excess as tip or change"
            )
        if applied == 0 and due > 0:
            raise InvalidAmount("a payment must be for more than 0")
        if applied + tip > MAX_AMOUNT:  # what the drawer or terminal takes in one payment
            raise InvalidAmount(
                f"one payment of {applied} plus tip {tip} is over {MAX_AMOUNT}: split it into parts"
            )
        payment_id = self._new_id()
        receipt_id = self._new_id() if applied == due else None
        # the number's mark is raised first (its own document): a receipt then not written is a gap
        number = self.numbering.issue() if receipt_id is not None else None
        with ledger.doc.transaction():
            ledger.write_order_record(
                order_id,
                "payments",
                payment_id,
                {
                    "method": method,
                    "amount": applied,
                    "tip": tip,
                    "tendered": tendered if tendered else applied + tip,
                    "change": change,
                    "shift_id": shift.id,
                    "register": self.device,
                    "user": user,
                    "at": now_ms,
                },
            )
            if receipt_id is not None and number is not None:
                self._issue_receipt(
                    ledger, ledger.order(order_id), receipt_id, number, user, shift, now_ms
                )
        payment = next(p for p in ledger.order(order_id).payments if p.id == payment_id)
        receipt = ledger.receipt(receipt_id) if receipt_id else None
        return PaymentResult(payment, change, receipt)

    def _issue_receipt(
        self,
        ledger: Ledger,
        order: Order,
        receipt_id: str,
        number: tuple[str, int],
        user: str,
        shift: Shift,
        now_ms: int,
    ) -> None:
        lines = [
            {
                "line_id": line.id,
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": a.discount,
                "tax": a.tax,
                "amount": a.amount,
            }
            for line, a in zip(order.lines, order.amounts, strict=True)
        ]
        t = order.totals
        ledger.write(
            "receipts",
            receipt_id,
            {
                "order_id": order.id,
                "number": number[0],
                "register": self.device,
                "seq": number[1],
                "user": user,
                "shift_id": shift.id,
                "at": now_ms,
                "subtotal": t.subtotal,
                "discount": t.discount,
                "tax": t.tax,
                "total": t.total,
                "lines": lines,
                "payment_ids": [p.id for p in order.payments],
            },
        )
        ledger.write_order_record(order.id, "receipts", receipt_id, number[1])
        for line in order.lines:
            self._write_inventory(
                ledger, line.product_id, "sale", line.quantity, receipt_id, user, now_ms
            )

    def _write_inventory(
        self,
        ledger: Ledger,
        product_id: str,
        kind: str,
        quantity: int,
        ref: str,
        user: str,
        now_ms: int,
    ) -> str:
        move_id = self._new_id()
        ledger.write(
            "inventory",
            move_id,
            {
                "product_id": product_id,
                "kind": kind,
                "quantity": quantity,
                "ref": ref,
                "user": user,
                "device": self.device,
                "at": now_ms,
            },
        )
        return move_id

    @_operation("record the refund")
    def refund(
        self,
        user: str,
        receipt_id: str,
        now_ms: int,
        *,
        lines: Mapping[str, int] | None = None,
        method: str | None = None,
        reason: str = "",
    ) -> Refund:
        _id(receipt_id, "receipt id")
        _note(reason, "reason")
        for line_id in lines or {}:
            _id(line_id, "refund line id")
        if method is not None:
            _id(method, "refund method")
        shift = self._register_shift(user, "refund")
        ledger = self._ledger_of_receipt(receipt_id)
        receipt = ledger.receipt(receipt_id)
        hidden = ledger.corrupt_refund_of(receipt_id)
        if hidden is not None:
            raise RecordUnusable(
                f"receipt {receipt.number} has a corrupt refund ({hidden}): what it gave back is "
                "unknown, so nothing more of it can be refunded here"
            )
        done = self.refunded_quantities(receipt_id)
        by_line = {line.line_id: line for line in receipt.lines}
        wanted = (
            dict(lines)
            if lines is not None
            else {
                line_id: line.quantity - done.get(line_id, 0)
                for line_id, line in by_line.items()
                if line.quantity > done.get(line_id, 0)
            }
        )
        if not wanted:
            raise OverRefund(f"receipt {receipt.number} is already fully refunded")
        refund_lines: list[dict[str, Any]] = []
        for line_id, quantity in wanted.items():
            line = by_line.get(line_id)
            if line is None:
                raise UnknownRecord(f"receipt {receipt.number} has no line {line_id!r}")
            _count(quantity, f"refund quantity of {line.name!r}")
            already = done.get(line_id, 0)
            if already + quantity > line.quantity:
                raise OverRefund(
                    f"cannot refund {quantity} x {line.name!r} on {receipt.number}: "
                    f"{line.quantity} sold, {already} already refunded"
                )
            amount = refund_share(line.amount, line.quantity, already, quantity)
            refund_lines.append({"line_id": line_id, "quantity": quantity, "amount": amount})
        if method is None:
            payments = {p.id: p for p in ledger.order(receipt.order_id).payments}
            method = next(
                (payments[p].method for p in receipt.payment_ids if p in payments), "cash"
            )
        if method not in PAYMENT_METHODS:
            raise DomainError(
                f"refund method must be one of {', '.join(PAYMENT_METHODS)}, got {method!r}"
            )
        if sum(r["amount"] for r in refund_lines) > MAX_AMOUNT:
            raise InvalidAmount(f"one refund is at most {MAX_AMOUNT}: refund fewer lines at a time")
        refund_id = self._new_id()
        with ledger.doc.transaction():
            ledger.write(
                "refunds",
                refund_id,
                {
                    "receipt_id": receipt_id,
                    "lines": refund_lines,
                    "amount": sum(r["amount"] for r in refund_lines),
                    "method": method,
                    "shift_id": shift.id,
                    "register": self.device,
                    "user": user,
                    "at": now_ms,
                    "reason": reason,
                },
            )
            for r in refund_lines:
                product_id = by_line[str(r["line_id"])].product_id
                self._write_inventory(
                    ledger, product_id, "refund", int(r["quantity"]), refund_id, user, now_ms
                )
        return next(r for r in ledger.refunds(receipt_id) if r.id == refund_id)

    # --- stock ----------------------------------------------------------------------------------
    @_operation("record the stock movement")
    def inventory_move(
        self, user: str, product_id: str, kind: str, quantity: int, now_ms: int, reason: str = ""
    ) -> InventoryMove:
        _id(product_id, "product id")
        _note(reason, "reason")
        self._as_register(user, "inventory")
        if kind not in ("writeoff", "supply"):
            raise DomainError(f"a manual stock movement is 'writeoff' or 'supply', got {kind!r}")
        _count(quantity, "quantity")
        self.catalog.product(product_id)
        ledger = self.ledger(self.business_date(now_ms))
        move_id = self._write_inventory(ledger, product_id, kind, quantity, reason, user, now_ms)
        return next(m for m in ledger.inventory() if m.id == move_id)

    # --- kitchen and stop list ------------------------------------------------------------------
    @_operation("send the order to the kitchen")
    def send_to_kitchen(self, user: str, order_id: str, now_ms: int) -> Ticket | None:
        _id(order_id, "order id")
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
                "table": order.table or order.tab,
                "register": self.device,
                "at": now_ms,
                "items": [
                    {
                        "line_id": line.id,
                        "name": line.name,
                        "quantity": line.quantity,
                        "modifiers": [m.name for m in line.modifiers],
                    }
                    for line in unsent
                ],
            },
        )
        with ledger.doc.transaction():
            for line in unsent:
                ledger.write_order_record(order_id, "sent", line.id, ticket_id)
        return kitchen.ticket(ticket_id)

    def _kitchen_of_ticket(self, ticket_id: str) -> Kitchen:
        for name in sorted(
            (n for n in self.replica.names() if n.startswith("kitchen/")), reverse=True
        ):
            kitchen = self.kitchen(name.split("/", 1)[1])
            if kitchen.has(ticket_id):
                return kitchen
        raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")

    @_operation("bump the ticket")
    def bump(self, user: str, ticket_id: str, now_ms: int) -> Ticket:
        _id(user, "user")
        _id(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id, "bump", user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )

    @_operation("recall the ticket")
    def recall(self, user: str, ticket_id: str, now_ms: int) -> Ticket:
        _id(user, "user")
        _id(ticket_id, "ticket id")
        return self._kitchen_of_ticket(ticket_id).act(
            ticket_id, "recall", user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )

    @_operation("change the stop list")
    def set_stop(self, user: str, product_id: str, stopped: bool, now_ms: int) -> StopEntry:
        _id(user, "user")
        _id(product_id, "product id")
        if not isinstance(stopped, bool):
            raise InvalidInput(f"stopped must be true or false, got {stopped!r}")
        self.catalog.user(user)
        self.catalog.product(product_id)
        return self.stoplist.set(
            product_id, stopped, user=user, device=self.device, clock=self.clock, now_ms=now_ms
        )
