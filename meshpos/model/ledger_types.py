"""The money records of a ledger day as the model hands them out: plain, typed, integer money.

Each is built by its parser in :mod:`meshpos.model.records` (which also declares its document root and its
relational columns) and never from a pycrdt value directly; see docs/architecture.md (Documents).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.model.totals import LineAmount, OrderTotals, PricedLine

PAYMENT_METHODS = ("cash", "card", "other")
CASH_MOVE_KINDS = ("in", "out")
MANUAL_INVENTORY_KINDS = (
    "writeoff",
    "supply",
)  # what a person records; sales and refunds move stock too
INVENTORY_KINDS = ("sale", "refund", *MANUAL_INVENTORY_KINDS)


@dataclass(frozen=True, slots=True)
class LineModifier:
    id: str
    name: str
    price_delta: int


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A line record of an order that does not parse (a malicious or broken device wrote it): left out
    of the order and its totals, shown so, and listed as a corrupt record (the alarm)."""

    line_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    order_id: str
    product_id: str
    name: str
    quantity: int
    unit_price: int  # product price plus modifier deltas, at the time of sale
    modifiers: tuple[LineModifier, ...]
    tax_rate_bp: int
    tax_included: bool
    discount_id: str | None
    discount_kind: str | None
    discount_value: int
    user: str
    device: str
    at_ms: int
    stamp: str
    replaces: str = ""  # the line of the same order this one took the place of (a new quantity)
    split_from: str = ""  # the line of another order this one was split off from
    split_with: str = (
        ""  # a split's rest: the bill split off in the same operation (``bill_to_keep``)
    )
    approved_by: str = ""  # who approved its discount on the spot ("": nobody had to)

    def priced(self) -> PricedLine:
        return PricedLine(
            self.id,
            self.quantity,
            self.unit_price,
            self.tax_rate_bp,
            self.tax_included,
            self.discount_kind,
            self.discount_value,
        )


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    order_id: str
    method: str
    amount: int  # counts toward the order total
    tip: int
    tendered: int  # cash handed over (amount + tip + change for cash, else amount + tip)
    change: int
    shift_id: str
    register: str
    user: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    line_id: str
    product_id: str
    name: str
    quantity: int
    unit_price: int
    discount: int
    tax: int
    amount: int


@dataclass(frozen=True, slots=True)
class Receipt:
    id: str
    order_id: str
    number: str  # e.g. R2-000123, final even offline: each register has its own sequence
    register: str
    seq: int
    user: str
    shift_id: str
    issued_at_ms: int
    subtotal: int
    discount: int
    tax: int
    total: int
    lines: tuple[ReceiptLine, ...]
    payment_ids: tuple[str, ...]


ORDER_NUMBER_CHARS = 6
"""How much of an order's id the register page and the messages a cashier reads show as its number."""


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: str
    quantity: int
    amount: int


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    receipt_id: str
    lines: tuple[RefundLine, ...]
    amount: int
    method: str
    shift_id: str
    register: str
    user: str
    at_ms: int
    reason: str
    approved_by: str = ""  # the user who approved a cashier's refund on the spot, if one had to


@dataclass(frozen=True, slots=True)
class ShiftClose:
    user: str
    closed_at_ms: int
    counted_cash: int
    expected_cash: int
    z: bool = False  # closed with a Z report: the day's last Z ends it (shift_report.last_z)

    @property
    def difference(self) -> int:
        return self.counted_cash - self.expected_cash


@dataclass(frozen=True, slots=True)
class Shift:
    id: str
    register: str
    user: str
    opened_at_ms: int
    opening_cash: int
    close: ShiftClose | None

    @property
    def is_open(self) -> bool:
        return self.close is None


@dataclass(frozen=True, slots=True)
class CashMove:
    id: str
    shift_id: str
    kind: str
    amount: int
    reason: str
    user: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class NoSale:
    """The drawer opened with no sale ("no sale"): recorded because an opening nobody can explain is
    how cash goes missing; who, when, on which register and shift, and why."""

    id: str
    shift_id: str
    register: str
    user: str
    at_ms: int
    reason: str
    approved_by: str = ""


@dataclass(frozen=True, slots=True)
class InventoryMove:
    id: str
    product_id: str
    kind: str
    quantity: int  # positive; the kind says which way stock moved
    ref: str
    user: str
    device: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """Something two registers did during a partition that cannot be merged silently."""

    # overpaid | double_receipt | changed_after_receipt | paid_and_void | split_twice | refunded_twice
    kind: str
    order_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class Removal:
    """A void of an order (``line_id`` empty) or of one of its lines: who, when, why, who approved it."""

    line_id: str
    user: str
    at_ms: int
    reason: str
    approved_by: str
    name: str = (
        ""  # the removed line's item, quantity, and whether the kitchen had it (a line void)
    )
    quantity: int = 0
    sent: bool = False
    moved_to: str = ""  # the bill a split moved it to: not a void


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    table: str
    tab: str
    waiter: str
    register: str
    shift_id: str
    opened_at_ms: int
    lines: tuple[Line, ...]  # active lines, oldest first
    amounts: tuple[LineAmount, ...]
    discounts: tuple[tuple[str, str, int], ...]  # order-level (discount id, kind, value)
    payments: tuple[Payment, ...]
    receipt_ids: tuple[str, ...]
    voided: bool
    sent_line_ids: frozenset[str]
    totals: OrderTotals
    opened_table: str = (
        ""  # where it was opened (the console's record keeps these: they never change)
    )
    opened_tab: str = ""
    split_from: str = ""  # the order this bill was split off from
    removals: tuple[
        Removal, ...
    ] = ()  # its voids and removed lines, oldest first (the console's detail)
    discounts_approved_by: tuple[str, ...] = ()
    """Who approved each of ``discounts`` on the spot, in the same order ("": nobody had to)."""
    unreadable_lines: tuple[UnreadableLine, ...] = ()
    """Line records that do not parse: not in ``lines`` nor the totals (read with a registry only)."""

    @property
    def words(self) -> str:
        """The order as a cashier names it: by its table or tab, else by the short number the register
        page shows (``#`` and the id's first ``ORDER_NUMBER_CHARS`` characters), never a raw id."""
        if self.table:
            return f"the order at table {self.table}"
        if self.tab:
            return f"the order on tab {self.tab}"
        return f"order {self.number}"

    @property
    def number(self) -> str:
        """The short number the register page shows for the order."""
        return f"#{self.id[:ORDER_NUMBER_CHARS]}"

    @property
    def status(self) -> str:
        if self.receipt_ids:
            return "paid"
        return "void" if self.voided else "open"
