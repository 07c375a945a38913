"""Conflicts: what registers did concurrently to one order that cannot both stand.

Both sides are kept (docs/architecture.md (Documents)); these are reported, never resolved silently: an
order paid beyond its total, closed twice, voided on one register and paid on another, or changed after
its receipt was issued, or one item split off into two bills by two registers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meshpos.model.ledger_types import Conflict, Order, Receipt


def order_conflicts(
    orders: Iterable[Order], receipt_or_none: Callable[[str], Receipt | None]
) -> list[Conflict]:
    found: list[Conflict] = []
    orders = list(orders)
    found += split_twice(orders)
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


def split_twice(orders: Iterable[Order]) -> list[Conflict]:
    """An item two registers split off the same order at once is on two bills: both are kept (neither
    register's bill is dropped behind its back) and reported, on the later bill."""
    bills: dict[str, list[Order]] = {}
    for order in orders:
        for line in order.lines:
            if line.split_from:
                bills.setdefault(line.split_from, []).append(order)
    found = []
    for held in bills.values():
        if len({o.id for o in held}) > 1:
            first, *later = sorted(held, key=lambda o: (o.opened_at_ms, o.id))
            found += [
                Conflict(
                    "split_twice",
                    o.id,
                    f"one item was split off into two bills at once: {first.number} and {o.number}",
                )
                for o in later
            ]
    return found
