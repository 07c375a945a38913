"""Each money record of a ledger day declared once: its document root, its parser and its relational columns.

A spec (:class:`~meshpos.model.record_spec.RecordSpec`) is what every layer reads about a kind of record:
the model lists it from its root with its parser (:meth:`meshpos.model.ledger.Ledger.records`), the console
derives its table, its rows and its digests from the columns (``console/tables.py``,
``console/materialise.py``), reports and the register list read the column naming the device (``device``),
chaos reconciliation reads the column naming the parent record (``parent``), and the register's "not at the
console yet" counts take their kinds from ``tally``. Adding a money record is: its type in
``ledger_types``, its parser and spec here, the Venue operation that writes it and the route that calls it
(docs/architecture.md (Where to change what)).

Parsers read through :class:`Fields` only, so every value is checked (pycrdt hands integers back as floats,
and a peer may have written anything) and a bad one raises CorruptRecord naming the document and field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from meshpos.errors import CorruptRecord
from meshpos.model._records import Fields
from meshpos.model.catalog import DISCOUNT_KINDS
from meshpos.model.ledger_layout import order_parts, sale_moves
from meshpos.model.ledger_types import (
    CASH_MOVE_KINDS,
    INVENTORY_KINDS,
    PAYMENT_METHODS,
    CashMove,
    InventoryMove,
    Order,
    Payment,
    Receipt,
    ReceiptLine,
    Refund,
    RefundLine,
    Shift,
    ShiftClose,
)
from meshpos.model.order_detail import line_detail, order_discounts, removals, void_detail
from meshpos.model.order_lines import order_amounts, parse_lines, unreadable_lines
from meshpos.model.record_spec import (
    Children,
    Column,
    Derived,
    RecordSource,
    RecordSpec,
    TallyKind,
    Value,
    col,
)
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.totals import order_totals

# --- parsers ------------------------------------------------------------------------------------


def parse_shift(src: RecordSource, shift_id: str) -> Shift:
    rec = src.record("shifts", shift_id)
    c = src.optional("shift_closes", shift_id)
    close = None
    if c is not None:
        counted, expected = c.amount("counted_cash"), c.integer("expected_cash")
        close = ShiftClose(
            c.text("user"), c.integer("at"), counted, expected, c.opt_flag("z") is True
        )
    return Shift(
        shift_id,
        rec.text("register"),
        rec.text("user"),
        rec.integer("at"),
        rec.amount("opening_cash"),
        close,
    )


def parse_payment(order_id: str, payment_id: str, f: Fields) -> Payment:
    return Payment(
        id=payment_id,
        order_id=order_id,
        method=f.choice("method", PAYMENT_METHODS),
        amount=f.amount("amount"),
        tip=f.amount("tip"),
        tendered=f.amount("tendered"),
        change=f.amount("change"),
        shift_id=f.text("shift_id"),
        register=f.text("register"),
        user=f.text("user"),
        at_ms=f.integer("at"),
    )


def parse_order(
    order_id: str,
    om: Mapping[str, Any],
    where: str,
    unreadable: list[tuple[str, CorruptRecord]] | None = None,
) -> Order:
    """An order from its plain values (``om``: info and parts); status and totals are derived. With
    ``unreadable``, a line that does not parse is left out and added there (a device's bad line must
    not make the whole order unusable); without, it makes the order corrupt (strict reads)."""
    info = Fields(om.get("info"), f"{where} info")
    parts = order_parts(om, where)
    removed = parts["removed"]
    lines = parse_lines(order_id, parts["lines"], removed, where, unreadable)
    place = latest_place(parts["places"], where)
    discounts = sorted(
        (
            (
                k,
                f.text("discount_id"),
                f.choice("kind", DISCOUNT_KINDS),
                f.integer("value"),
                f.opt_text("approved_by") or "",
            )
            for k, f in (
                (k, Fields(v, f"{where} discounts/{k}")) for k, v in parts["discounts"].items()
            )
        ),
        key=lambda d: d[0],
    )
    payments = sorted(
        (
            parse_payment(order_id, k, Fields(v, f"{where} payments/{k}"))
            for k, v in parts["payments"].items()
        ),
        key=lambda p: (p.at_ms, p.id),
    )
    amounts = order_amounts(order_id, lines, [(kind, value) for _, _, kind, value, _ in discounts])
    totals = order_totals(amounts, sum(p.amount for p in payments), sum(p.tip for p in payments))
    return Order(
        id=order_id,
        table=(info.opt_text("table") or "") if place is None else place.text("table"),
        tab=(info.opt_text("tab") or "") if place is None else place.text("tab"),
        waiter=info.text("waiter"),
        register=info.text("register"),
        shift_id=info.text("shift_id"),
        opened_at_ms=info.integer("at"),
        lines=tuple(lines),
        amounts=tuple(amounts),
        discounts=tuple((d_id, kind, value) for _, d_id, kind, value, _ in discounts),
        payments=tuple(payments),
        receipt_ids=tuple(sorted(parts["receipts"])),
        voided=bool(parts["voids"]),
        sent_line_ids=frozenset(parts["sent"]),
        totals=totals,
        opened_table=info.opt_text("table") or "",
        opened_tab=info.opt_text("tab") or "",
        split_from=info.opt_text("split_from") or "",
        removals=removals(parts, where),
        discounts_approved_by=tuple(by for *_, by in discounts),
        unreadable_lines=unreadable_lines(unreadable),
    )


def latest_place(places: Mapping[str, Any], where: str) -> Fields | None:
    """The order's latest ``places`` record (table and tab set after it was opened), by stamp then key."""
    if not places:
        return None
    found = [(Fields(v, f"{where} places/{k}"), k) for k, v in places.items()]
    return max(found, key=lambda fk: (fk[0].text("stamp"), fk[1]))[0]


def receipt_of(receipt_id: str, f: Fields) -> Receipt:
    return Receipt(
        id=receipt_id,
        order_id=f.text("order_id"),
        number=f.text("number"),
        register=f.text("register"),
        seq=f.integer("seq"),
        user=f.text("user"),
        shift_id=f.text("shift_id"),
        issued_at_ms=f.integer("at"),
        subtotal=f.integer("subtotal"),
        discount=f.integer("discount"),
        tax=f.integer("tax"),
        total=f.integer("total"),
        lines=tuple(
            ReceiptLine(
                ln.text("line_id"),
                ln.text("product_id"),
                ln.text("name"),
                ln.integer("quantity"),
                ln.integer("unit_price"),
                ln.integer("discount"),
                ln.integer("tax"),
                ln.integer("amount"),
            )
            for ln in f.records("lines")
        ),
        payment_ids=tuple(str(p) for p in f.array("payment_ids")),
    )


def refund_of(refund_id: str, f: Fields) -> Refund:
    return Refund(
        id=refund_id,
        receipt_id=f.text("receipt_id"),
        lines=tuple(
            RefundLine(ln.text("line_id"), ln.quantity("quantity"), ln.amount("amount"))
            for ln in f.records("lines")
        ),
        amount=f.amount("amount"),
        method=f.choice("method", PAYMENT_METHODS),
        shift_id=f.text("shift_id"),
        register=f.text("register"),
        user=f.text("user"),
        at_ms=f.integer("at"),
        reason=f.opt_text("reason") or "",
        approved_by=f.opt_text("approved_by") or "",
    )


def parse_cash_move(src: RecordSource, move_id: str) -> CashMove:
    f = src.record("cash_moves", move_id)
    return CashMove(
        move_id,
        f.text("shift_id"),
        f.choice("kind", CASH_MOVE_KINDS),
        f.amount("amount"),
        f.opt_text("reason") or "",
        f.text("user"),
        f.integer("at"),
    )


def parse_inventory(src: RecordSource, move_id: str) -> InventoryMove:
    f = src.record("inventory", move_id)
    return InventoryMove(
        move_id,
        f.text("product_id"),
        f.choice("kind", INVENTORY_KINDS),
        f.quantity("quantity"),
        f.opt_text("ref") or "",
        f.text("user"),
        f.text("device"),
        f.integer("at"),
    )


# --- the specs ----------------------------------------------------------------------------------


def _close(attr: str) -> Callable[[Shift], Value]:
    def get(shift: Shift) -> Value:
        value: Value = getattr(shift.close, attr) if shift.close is not None else None
        return value

    return get


def _nullable(name: str, kind: str, get: Callable[[Any], Value]) -> Column:
    return Column(name, kind, get, nullable=True)


SHIFTS: RecordSpec[Shift] = RecordSpec(
    "shifts",
    "shifts",
    parse_shift,
    lambda s: (s.opened_at_ms, s.id),
    fixed=(
        col("register"),
        col("opened_by", attr="user"),
        col("opened_at_ms", "int"),
        col("opening_cash", "int"),
    ),
    mutable=(
        _nullable("closed_by", "text", _close("user")),
        _nullable("closed_at_ms", "int", _close("closed_at_ms")),
        _nullable("counted_cash", "int", _close("counted_cash")),
        _nullable("expected_cash", "int", _close("expected_cash")),
        _nullable("difference", "int", _close("difference")),
    ),
    indexes=("register", "business_date"),
    device="register",
    tally=TallyKind("shift_events", "shift opening or closing", "shift openings and closings"),
    reads=("shifts", "shift_closes"),  # a shift's close is under shift_closes/<shift id>
)
ORDERS: RecordSpec[Order] = RecordSpec(
    "orders",
    "orders",
    lambda src, key: src.order(key),
    lambda o: (o.opened_at_ms, o.id),
    fixed=(
        col("register"),
        col("shift_id"),
        col("opened_by", attr="waiter"),
        col("opened_at_ms", "int"),
        # where it was opened, written once (insert-only); where it is now: current_table/_tab
        col("table_label", attr="opened_table"),
        col("tab", attr="opened_tab"),
    ),
    mutable=(
        col("status"),
        Column("line_count", "int", lambda o: len(o.lines)),
        *(col(name, "int", f"totals.{name}") for name in ("subtotal", "discount", "tax")),
        *(col(name, "int", f"totals.{name}") for name in ("total", "paid", "tips")),
        Column("receipt_ids", "text", lambda o: json.dumps(list(o.receipt_ids))),
        # what a receipt's detail shows of its lines and a void of what it dropped (the receipt keeps
        # amounts only); nullable: rows stored before schema 4 have none
        _nullable("line_detail", "text", line_detail),
        _nullable("order_discounts", "text", order_discounts),
        # schema 6: who voided the order or removed its lines, why, and who approved it
        _nullable("void_detail", "text", void_detail),
        # schema 7: where the order is now (moved, or given a tab, after it was opened); mutable, so
        # out of the row's digest: rows stored before keep theirs, and it is NULL until their day is
        # materialised again (the reports then show where the order was opened)
        _nullable("current_table", "text", attrgetter("table")),
        _nullable("current_tab", "text", attrgetter("tab")),
    ),
    indexes=("shift_id", "business_date"),
    device="register",
)
PAYMENTS: RecordSpec[Payment] = RecordSpec(
    "payments",
    "orders/<order id>/payments",
    None,
    lambda p: (p.at_ms, p.id),
    fixed=(
        col("order_id"),
        col("method"),
        col("amount", "int"),
        col("tip", "int"),
        col("tendered", "int"),
        col("change_given", "int", "change"),
        col("shift_id"),
        col("register"),
        col("user_id", attr="user"),
        col("at_ms", "int"),
    ),
    indexes=("order_id", "shift_id", "business_date"),
    in_order=lambda o: o.payments,
    reads=("orders",),
    device="register",
    parent="order_id",
    tally=TallyKind("payments", "payment", "payments"),
)
RECEIPTS: RecordSpec[Receipt] = RecordSpec(
    "receipts",
    "receipts",
    lambda src, key: receipt_of(key, src.record("receipts", key)),
    lambda r: (r.issued_at_ms, r.number),
    fixed=(
        col("number"),
        col("register"),
        col("seq", "int"),
        col("user_id", attr="user"),
        col("order_id"),
        col("shift_id"),
        col("issued_at_ms", "int"),
        col("subtotal", "int"),
        col("discount", "int"),
        col("tax", "int"),
        col("total", "int"),
        Column("payment_ids", "text", lambda r: json.dumps(list(r.payment_ids))),
    ),
    children=(
        Children(
            "receipt_lines",
            "receipt_id",
            (
                col("line_id"),
                col("product_id"),
                col("name"),
                *(col(n, "int") for n in ("quantity", "unit_price", "discount", "tax", "amount")),
            ),
            lambda r: r.lines,
        ),
    ),
    indexes=("business_date", "shift_id", "order_id", "number"),  # number: duplicate alarm
    device="register",
    parent="order_id",
    tally=TallyKind("receipts", "receipt", "receipts"),
)
REFUNDS: RecordSpec[Refund] = RecordSpec(
    "refunds",
    "refunds",
    lambda src, key: refund_of(key, src.record("refunds", key)),
    lambda r: (r.at_ms, r.id),
    fixed=(
        col("receipt_id"),
        col("amount", "int"),
        col("method"),
        col("shift_id"),
        col("register"),
        col("user_id", attr="user"),
        col("at_ms", "int"),
        col("reason"),
        # schema 6: who approved a cashier's refund on the spot; rows stored before keep their digest
        Column("approved_by", "text", attrgetter("approved_by"), nullable=True, late=True),
    ),
    children=(
        Children(
            "refund_lines",
            "refund_id",
            (col("line_id"), col("quantity", "int"), col("amount", "int")),
            lambda r: r.lines,
        ),
    ),
    indexes=("receipt_id", "shift_id", "business_date"),
    device="register",
    parent="receipt_id",
    tally=TallyKind("refunds", "refund", "refunds"),
)
CASH_MOVES: RecordSpec[CashMove] = RecordSpec(
    "cash_moves",
    "cash_moves",
    parse_cash_move,
    lambda m: (m.at_ms, m.id),
    fixed=(
        col("shift_id"),
        col("kind"),
        col("amount", "int"),
        col("reason"),
        col("user_id", attr="user"),
        col("at_ms", "int"),
    ),
    indexes=("shift_id", "business_date"),
    tally=TallyKind("cash_moves", "cash movement", "cash movements", by=None),
)
INVENTORY_MOVES: RecordSpec[InventoryMove] = RecordSpec(
    "inventory_moves",
    "inventory",
    parse_inventory,
    lambda m: (m.at_ms, m.id),
    fixed=(
        col("product_id"),
        col("kind"),
        col("quantity", "int"),
        col("ref"),
        col("user_id", attr="user"),
        col("device"),
        col("at_ms", "int"),
    ),
    indexes=("product_id", "business_date"),
    device="device",
    tally=TallyKind("stock_moves", "stock movement", "stock movements", by="device"),
    derived=Derived("receipts", sale_moves),
)

LEDGER_RECORDS: tuple[RecordSpec[Any], ...] = (
    RECEIPTS,
    PAYMENTS,
    REFUNDS,
    SHIFTS,
    CASH_MOVES,
    INVENTORY_MOVES,
    ORDERS,
    NO_SALES,
)
"""Every record kind of a ledger day: the ones a register owes the console in the order it names them
("2 receipts and 1 payment"), then orders (counted by their payments and receipts)."""
LEDGER_ROOTS = tuple(dict.fromkeys(root for spec in LEDGER_RECORDS for root in spec.reads))
"""Every root of a ledger document the model reads."""
