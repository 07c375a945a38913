"""Conflicts: what registers did concurrently to one order that cannot both stand.

Both sides are kept (docs/architecture.md (Documents)); these are reported, never resolved silently: an
order paid beyond its total, closed twice, voided on one register and paid on another, or changed after
its receipt was issued, one item split off into two bills by two registers at once, or one receipt
refunded on two registers at once beyond what it sold (``over_refunds``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meshpos.model.ledger_types import Conflict, Line, Order, Receipt, Refund


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


def split_also_on(bill: Order, orders: Iterable[Order]) -> tuple[Line, Order] | None:
    """A line of ``bill`` whose item another register split off into another bill at the same time
    (:func:`split_twice`), with that other bill; None if there is none. Paying both would charge the
    item twice, so the payment waits until one of them is voided."""
    wanted = {line.split_from: line for line in bill.lines if line.split_from}
    if not wanted:
        return None
    for other in orders:
        if other.id == bill.id or other.voided:
            continue
        for line in other.lines:
            if line.split_from in wanted:
                return wanted[line.split_from], other
    return None


def bill_to_keep(source: Order, line: Line, bills: Iterable[Order]) -> Order | None:
    """Of two bills holding ``line``'s item (split off at once), the one whose split the order kept:
    each partial split left the rest of the line on ``source`` and only the later rest stands
    (``order_lines.latest_replacements``), made in the same operation, at the same time, as its bill.
    The rest names its bill (``split_with``); a rest written before it did is matched by time. None
    where it cannot tell (the whole line moved; or, for an older rest, both at the same millisecond,
    which two registers splitting at once often are)."""
    root = line.replaces or line.split_from
    rests = [kept for kept in source.lines if kept.replaces == root]
    if len(rests) != 1:
        return None
    rest = rests[0]
    if rest.split_with:
        same = [bill for bill in bills if bill.id == rest.split_with]
    else:
        same = [bill for bill in bills if bill.opened_at_ms == rest.at_ms]
    return same[0] if len(same) == 1 else None


def over_refunds(
    refunds: Iterable[Refund], receipt_or_none: Callable[[str], Receipt | None]
) -> list[Conflict]:
    """A receipt whose refunds give back more of a line than it sold: each register checks what was
    refunded before it refunds, but two registers refunding one receipt at once (a partition, or the
    same second) each saw none of the other's. Both refunds stand (the money left both drawers) and
    are reported, on the receipt's order, naming the line and the refunds."""
    by_receipt: dict[str, list[Refund]] = {}
    for refund in refunds:
        by_receipt.setdefault(refund.receipt_id, []).append(refund)
    found = []
    for receipt_id, given in by_receipt.items():
        receipt = receipt_or_none(receipt_id) if len(given) > 1 else None
        if receipt is None:
            continue
        beyond = []  # one conflict per receipt (an alarm is one per kind and order)
        for line in receipt.lines:
            back = [(r, q.quantity) for r in given for q in r.lines if q.line_id == line.line_id]
            refunded = sum(quantity for _, quantity in back)
            if refunded > line.quantity:
                named = ", ".join(f"{r.id} on {r.register} by {r.user}" for r, _ in back)
                beyond.append(
                    f"{line.quantity} x {line.name!r} sold, {refunded} refunded ({named})"
                )
        if beyond:
            detail = f"receipt {receipt.number}: {'; '.join(beyond)}"
            found.append(Conflict("refunded_twice", receipt.order_id, detail))
    return found
