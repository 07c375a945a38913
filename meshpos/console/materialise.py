"""Turn a ``ledger/<date>`` document into relational rows, through the model's typed reads only.

The model validates every field and converts pycrdt's floats back to integers, so no float and no
unchecked value reaches a table. A corrupt record raises ``CorruptRecord`` (naming it) and nothing of
that document is written: a half-materialised day would give totals that look right and are not.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.console.records import LedgerConflict, MaterialiseResult, RecordBatch, Row
from meshpos.console.sqlbase import check_document
from meshpos.model import Ledger

if TYPE_CHECKING:
    from meshpos.console.db import ConsoleDB


def ledger_rows(ledger: Ledger) -> RecordBatch:
    """Rows for every record table; pure, so it is tested without a database."""
    day = ledger.date
    rows: dict[str, tuple[Row, ...]] = {}
    rows["shifts"] = tuple(
        Row(
            s.id,
            {
                "business_date": day,
                "register": s.register,
                "opened_by": s.user,
                "opened_at_ms": s.opened_at_ms,
                "opening_cash": s.opening_cash,
            },
            {
                "closed_by": s.close.user if s.close else None,
                "closed_at_ms": s.close.closed_at_ms if s.close else None,
                "counted_cash": s.close.counted_cash if s.close else None,
                "expected_cash": s.close.expected_cash if s.close else None,
                "difference": s.close.difference if s.close else None,
            },
        )
        for s in ledger.shifts()
    )
    orders = ledger.orders()
    rows["orders"] = tuple(
        Row(
            o.id,
            {
                "business_date": day,
                "register": o.register,
                "shift_id": o.shift_id,
                "opened_by": o.waiter,
                "opened_at_ms": o.opened_at_ms,
                "table_label": o.table,
                "tab": o.tab,
            },
            {
                "status": o.status,
                "line_count": len(o.lines),
                "subtotal": o.totals.subtotal,
                "discount": o.totals.discount,
                "tax": o.totals.tax,
                "total": o.totals.total,
                "paid": o.totals.paid,
                "tips": o.totals.tips,
                "receipt_ids": json.dumps(list(o.receipt_ids)),
            },
        )
        for o in orders
    )
    rows["payments"] = tuple(
        Row(
            p.id,
            {
                "business_date": day,
                "order_id": p.order_id,
                "method": p.method,
                "amount": p.amount,
                "tip": p.tip,
                "tendered": p.tendered,
                "change_given": p.change,
                "shift_id": p.shift_id,
                "register": p.register,
                "user_id": p.user,
                "at_ms": p.at_ms,
            },
        )
        for o in orders
        for p in o.payments
    )
    rows["receipts"] = tuple(
        Row(
            r.id,
            {
                "business_date": day,
                "number": r.number,
                "register": r.register,
                "seq": r.seq,
                "user_id": r.user,
                "order_id": r.order_id,
                "shift_id": r.shift_id,
                "issued_at_ms": r.issued_at_ms,
                "subtotal": r.subtotal,
                "discount": r.discount,
                "tax": r.tax,
                "total": r.total,
                "payment_ids": json.dumps(list(r.payment_ids)),
            },
            children={
                "receipt_lines": tuple(
                    {
                        "position": i,
                        "line_id": ln.line_id,
                        "product_id": ln.product_id,
                        "name": ln.name,
                        "quantity": ln.quantity,
                        "unit_price": ln.unit_price,
                        "discount": ln.discount,
                        "tax": ln.tax,
                        "amount": ln.amount,
                    }
                    for i, ln in enumerate(r.lines)
                )
            },
        )
        for r in ledger.receipts()
    )
    rows["refunds"] = tuple(
        Row(
            f.id,
            {
                "business_date": day,
                "receipt_id": f.receipt_id,
                "amount": f.amount,
                "method": f.method,
                "shift_id": f.shift_id,
                "register": f.register,
                "user_id": f.user,
                "at_ms": f.at_ms,
                "reason": f.reason,
            },
            children={
                "refund_lines": tuple(
                    {
                        "position": i,
                        "line_id": ln.line_id,
                        "quantity": ln.quantity,
                        "amount": ln.amount,
                    }
                    for i, ln in enumerate(f.lines)
                )
            },
        )
        for f in ledger.refunds()
    )
    rows["cash_moves"] = tuple(
        Row(
            m.id,
            {
                "business_date": day,
                "shift_id": m.shift_id,
                "kind": m.kind,
                "amount": m.amount,
                "reason": m.reason,
                "user_id": m.user,
                "at_ms": m.at_ms,
            },
        )
        for m in ledger.cash_moves()
    )
    rows["inventory_moves"] = tuple(
        Row(
            m.id,
            {
                "business_date": day,
                "product_id": m.product_id,
                "kind": m.kind,
                "quantity": m.quantity,
                "ref": m.ref,
                "user_id": m.user,
                "device": m.device,
                "at_ms": m.at_ms,
            },
        )
        for m in ledger.inventory()
    )
    conflicts = tuple(LedgerConflict(c.kind, c.order_id, c.detail) for c in ledger.conflicts())
    return RecordBatch(ledger.name, rows, conflicts)


async def materialise(
    db: ConsoleDB, venue_id: str, doc_name: str, doc: Doc[Any], *, at_ms: int | None = None
) -> MaterialiseResult:
    """Upsert what ``doc`` holds into the relational tables; safe to repeat at any time.

    Only ``ledger/<date>`` documents have relational rows; any other valid document name gives an
    empty result. Reads ``doc`` on the calling thread (a pycrdt Doc must stay on one thread).
    """
    check_document(doc_name)
    if not doc_name.startswith("ledger/"):
        return MaterialiseResult(venue_id, doc_name, {})
    batch = ledger_rows(Ledger.snapshot(doc, doc_name.split("/", 1)[1]))
    return await db.write_records(venue_id, batch, at_ms=at_ms)


async def materialise_stored(
    db: ConsoleDB, venue_id: str, doc_name: str, *, at_ms: int | None = None
) -> MaterialiseResult:
    """Materialise what the console holds of a document (after ``append_updates``)."""
    check_document(doc_name)
    if not doc_name.startswith("ledger/"):
        return MaterialiseResult(venue_id, doc_name, {})
    state = await db.load_document(venue_id, doc_name)
    if state is None:
        return MaterialiseResult(venue_id, doc_name, {})
    # Reading a big day takes seconds of Python: do it on a worker thread so the console keeps
    # serving. The Doc is created and read there and never leaves it (a Doc must stay on one thread).
    batch = await asyncio.to_thread(_rows_from_state, state, doc_name.split("/", 1)[1])
    return await db.write_records(venue_id, batch, at_ms=at_ms)


def _rows_from_state(state: bytes, date: str) -> RecordBatch:
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return ledger_rows(Ledger(doc, date))
