"""Conflicts: what registers did concurrently to one order that cannot both stand.

Both sides are kept (docs/architecture.md (Documents)); these are reported, never resolved silently: an
order paid beyond its total, closed twice, voided on one register and paid on another, or changed after
its receipt was issued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meshpos.model.ledger_types import Conflict, Order, Receipt


def order_conflicts(
    orders: Iterable[Order], receipt_or_none: Callable[[str], Receipt | None]
) -> list[Conflict]:
    found: list[Conflict] = []
    for order in orders:
        t = order.totals
        if t.paid > t.total:
            found.append(
                Conflict(
                    "overpaid",
                    order.id,
                    f"payments {t.paid} exceed the order total {t.total} by {t.paid - t.total}",
                )
            )
        receipts = {r: receipt_or_none(r) for r in order.receipt_ids}
        if len(order.receipt_ids) > 1:
            numbers = ", ".join(r.number for r in receipts.values() if r is not None)
            found.append(
                Conflict("double_receipt", order.id, f"order closed twice: receipts {numbers}")
            )
        if order.voided and (order.payments or order.receipt_ids):
            found.append(
                Conflict(
                    "paid_and_void",
                    order.id,
                    "order was voided on one register and paid on another",
                )
            )
        for receipt in receipts.values():
            if receipt is None:
                continue
            if {line.line_id for line in receipt.lines} != {line.id for line in order.lines}:
                found.append(
                    Conflict(
                        "changed_after_receipt",
                        order.id,
                        f"lines changed after receipt {receipt.number} was issued",
                    )
                )
    return found
