"""The operations that move money: shifts and their cash, payments and the receipts they complete, refunds
and stock movements. Written with integer minor units only; see docs/architecture.md (Model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidAmount,
    OpenOrdersOnShift,
    Overpayment,
    OverRefund,
    RecordUnusable,
    ShiftError,
    UnknownRecord,
)
from meshpos.model._records import Fields
from meshpos.model.conflicts import bill_to_keep, split_also_on
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_layout import SALE_MOVES_FIELD
from meshpos.model.ledger_types import (
    CASH_MOVE_KINDS,
    MANUAL_INVENTORY_KINDS,
    PAYMENT_METHODS,
    CashMove,
    InventoryMove,
    Order,
    Receipt,
    Refund,
    Shift,
)
from meshpos.model.limits import MAX_AMOUNT
from meshpos.model.records import (
    CASH_MOVES,
    INVENTORY_MOVES,
    RECEIPTS,
    REFUNDS,
    parse_payment,
    receipt_of,
)
from meshpos.model.refund_tenders import refund_method
from meshpos.model.totals import refund_share
from meshpos.model.venue_base import (
    PaymentResult,
    VenueBase,
    approval,
    count,
    id_of,
    money,
    note,
    operation,
)


class MoneyRules(VenueBase):
    """Shifts, cash, payments, receipts, refunds and stock of one register."""

    # --- shifts ---------------------------------------------------------------------------------
    @operation("open the shift")
    def open_shift_now(self, user: str, opening_cash: int, now_ms: int) -> Shift:
        if self._as_register(user, "open_shift") is not None:
            raise ShiftError(f"register {self.device} already has an open shift")
        money(opening_cash, "opening cash")
        shift_id = self._new_id()
        ledger = self.ledger(self.business_date(now_ms))
        ledger.write_shift(shift_id, self.device, user, now_ms, opening_cash)
        return ledger.shift(shift_id)

    @operation("close the shift")
    def close_shift(self, user: str, counted_cash: int, now_ms: int, *, z: bool = False) -> Shift:
        """Close this register's shift (``z``: with a Z report). An order on it that is corrupt cannot
        be paid or voided, so it does not hold the shift open: it is skipped like every read skips it,
        and stays listed in :meth:`corrupt_records` (the alarm the cashier and the console see); the
        payments in it that do parse still count in the expected cash."""
        shift = self._register_shift(user, "close_shift")
        money(counted_cash, "counted cash")
        open_orders = [
            o.words
            for ledger in self.ledgers()
            for o in ledger.orders()
            if o.shift_id == shift.id and o.status == "open"
        ]
        if open_orders:
            raise OpenOrdersOnShift(
                f"the shift of {self.user_name(shift.user)} on {shift.register} has "
                f"{len(open_orders)} open order(s) ({', '.join(open_orders[:3])}): pay or void them first"
            )
        ledger = self._ledger_of_shift(shift.id)
        expected = self.expected_cash(shift)
        ledger.write_shift_close(shift.id, user, now_ms, counted_cash, expected, z=z)
        return ledger.shift(shift.id)

    @operation("record the cash move")
    def cash_move(self, user: str, kind: str, amount: int, reason: str, now_ms: int) -> CashMove:
        note(reason, "reason")
        shift = self._register_shift(user, "cash")
        if kind not in CASH_MOVE_KINDS:
            raise DomainError(f"cash move kind must be 'in' or 'out', got {kind!r}")
        money(amount, "cash amount", allow_zero=False)
        if kind == "out" and amount > self.expected_cash(shift):
            raise InvalidAmount(
                f"cannot take out {amount}: the drawer should hold {self.expected_cash(shift)}"
            )
        move_id = self._new_id()
        ledger = self._ledger_of_shift(shift.id)
        ledger.write(
            CASH_MOVES.root,
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

    # --- payments and receipts --------------------------------------------------------------------
    @operation("take the payment")
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
        id_of(order_id, "order id")
        shift = self._register_shift(user, "sell")
        ledger, order = self._open_order(order_id)
        if method not in PAYMENT_METHODS:
            raise DomainError(
                f"payment method must be one of {', '.join(PAYMENT_METHODS)}, got {method!r}"
            )
        if not order.lines:
            raise DomainError(f"{order.words} has no lines to pay for")
        twice = split_also_on(order, ledger.orders()) if order.split_from else None
        if twice is not None:  # two registers split one item off at once: one bill must go first
            line, other = twice
            try:
                keep = bill_to_keep(ledger.order(order.split_from), line, (order, other))
            except (CorruptRecord, UnknownRecord):
                keep = None
            if keep is None:
                which = "void one of the two bills and check the items left on the order"
            else:
                which = f"void bill {(other if keep is order else order).number} (the order kept "
                which += f"the split of bill {keep.number})"
            raise DomainError(
                f"{line.name} on {order.words} was also split off into bill {other.number} on another "
                f"register at the same time: {which}, then take payment"
            )
        money(tip, "tip")
        due = order.totals.due
        change = 0
        if tendered is not None:
            if method != "cash":
                raise DomainError(
                    "only cash is tendered with change; give the amount for card payments"
                )
            money(tendered, "tendered cash", allow_zero=False)
            if tendered < tip:
                raise InvalidAmount(f"tendered {tendered} does not cover the tip {tip}")
            applied = min(tendered - tip, due) if amount is None else money(amount, "amount")
            change = tendered - tip - applied
            if change < 0:
                raise InvalidAmount(
                    f"tendered {tendered} is less than amount {applied} plus tip {tip}"
                )
        else:
            applied = due if amount is None else money(amount, "amount")
        if applied > due:
            raise Overpayment(
                f"payment of {applied} exceeds the {due} still due on {order.words}; give the excess as tip or change"
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
        record = {
            "method": method,
            "amount": applied,
            "tip": tip,
            "tendered": tendered if tendered else applied + tip,
            "change": change,
            "shift_id": shift.id,
            "register": self.device,
            "user": user,
            "at": now_ms,
        }
        receipt = None
        with ledger.doc.transaction():
            if receipt_id is None or number is None:
                ledger.write_payment(order_id, payment_id, record)
            else:  # the receipt, then the payment under its key (one entry: ledger_layout.receipt_payment)
                paid = [p.id for p in order.payments] + [payment_id]
                receipt = self._issue_receipt(
                    ledger, order, receipt_id, number, user, shift, now_ms, paid
                )
                ledger.write_receipt_payment(order_id, receipt_id, number[1], payment_id, record)
        # the payment as a read of the order would give it, from the record just written (the same
        # values: a read parses its JSON text), not a parse of the whole order again (issue 18)
        where = f"{ledger.name} orders/{order_id} payments/{payment_id}"
        payment = parse_payment(order_id, payment_id, Fields(record, where))
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
        payment_ids: list[str],
    ) -> Receipt:
        """Write the receipt; it returns what a read of it would give, from the record it wrote (the
        same values: a read parses its JSON text), not a read of it again (issue 18)."""
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
        record = {
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
            "payment_ids": payment_ids,
            SALE_MOVES_FIELD: True,  # its lines are its stock movements: none written apart
        }
        ledger.write(RECEIPTS.root, receipt_id, record)
        return receipt_of(receipt_id, Fields(record, f"{ledger.name} receipts/{receipt_id}"))

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
            INVENTORY_MOVES.root,
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

    @operation("record the refund")
    def refund(
        self,
        user: str,
        receipt_id: str,
        now_ms: int,
        *,
        lines: Mapping[str, int] | None = None,
        method: str | None = None,
        reason: str = "",
        approved_by: str = "",
    ) -> Refund:
        id_of(receipt_id, "receipt id")
        note(reason, "reason")
        for line_id in lines or {}:
            id_of(line_id, "refund line id")
        if method is not None:
            id_of(method, "refund method")
        shift = self._register_shift(user, "refund", approved_by)
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
            count(quantity, f"refund quantity of {line.name!r}")
            already = done.get(line_id, 0)
            if already + quantity > line.quantity:
                raise OverRefund(
                    f"cannot refund {quantity} x {line.name!r} on {receipt.number}: "
                    f"{line.quantity} sold, {already} already refunded"
                )
            amount = refund_share(line.amount, line.quantity, already, quantity)
            refund_lines.append({"line_id": line_id, "quantity": quantity, "amount": amount})
        if method is not None and method not in PAYMENT_METHODS:
            raise DomainError(
                f"refund method must be one of {', '.join(PAYMENT_METHODS)}, got {method!r}"
            )
        total = sum(int(r["amount"]) for r in refund_lines)
        if total > MAX_AMOUNT:
            raise InvalidAmount(f"one refund is at most {MAX_AMOUNT}: refund fewer lines at a time")
        method = refund_method(self.tenders(receipt_id), total, method, receipt.number)
        refund_id = self._new_id()
        with ledger.doc.transaction():
            ledger.write(
                REFUNDS.root,
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
                    **approval(approved_by),
                },
            )
            for r in refund_lines:
                product_id = by_line[str(r["line_id"])].product_id
                self._write_inventory(
                    ledger, product_id, "refund", int(r["quantity"]), refund_id, user, now_ms
                )
        return next(r for r in ledger.refunds(receipt_id) if r.id == refund_id)

    # --- stock ----------------------------------------------------------------------------------
    @operation("record the stock movement")
    def inventory_move(
        self, user: str, product_id: str, kind: str, quantity: int, now_ms: int, reason: str = ""
    ) -> InventoryMove:
        id_of(product_id, "product id")
        note(reason, "reason")
        self._as_register(user, "inventory")
        if kind not in MANUAL_INVENTORY_KINDS:
            raise DomainError(f"a manual stock movement is 'writeoff' or 'supply', got {kind!r}")
        count(quantity, "quantity")
        self.catalog.product(product_id)
        ledger = self.ledger(self.business_date(now_ms))
        move_id = self._write_inventory(ledger, product_id, kind, quantity, reason, user, now_ms)
        return ledger.inventory_move(move_id)
