"""Which tender a refund goes back by, on a receipt paid by several (card and cash): the rule.

A refund is one record with one method (every release and the console read it so), so it goes back by
one tender:

* **The cashier may choose it** (``method``): any payment method, except **cash beyond what the
  receipt took in cash less the cash already given back on it**: the drawer never pays out cash it
  did not take for that receipt (before, a card-and-cash receipt's refund was recorded as card while
  the cashier could hand over cash, or given back in cash over what cash paid, and the drawer count
  was off either way).
* **Otherwise, the tenders in the order the receipt was paid**: the first that can take the refund
  whole (what it paid less what was given back by it) takes it. When none can (one item paid partly
  by card, partly in cash), the first non-cash tender takes it: the card terminal may refund more than
  the card paid, the drawer may not. A receipt paid in cash alone is refunded in cash, within the bound.

The register page shows each tender with what it paid and what is left of it, and the rule, and lets
the cashier choose (docs/api.md: ``GET /api/receipts/{id}`` ``tenders``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshpos.errors import OverRefund, RecordUnusable
from meshpos.model.ledger_types import Payment, Receipt, Refund

CASH = "cash"


@dataclass(frozen=True, slots=True)
class Tender:
    """One payment method of a receipt: what it paid (tips not included: a refund gives back lines)
    and what refunds by it gave back so far."""

    method: str
    paid: int
    refunded: int

    @property
    def left(self) -> int:
        return max(0, self.paid - self.refunded)


def receipt_tenders(
    receipt: Receipt, payments: Iterable[Payment], refunds: Iterable[Refund]
) -> tuple[Tender, ...]:
    """The receipt's tenders in the order it was paid (a method that only gave refunds last, with
    nothing paid: a refund recorded before this rule)."""
    by_id = {p.id: p for p in payments}
    paid: dict[str, int] = {}
    for payment_id in receipt.payment_ids:
        p = by_id.get(payment_id)
        if p is not None:
            paid[p.method] = paid.get(p.method, 0) + p.amount
    refunded: dict[str, int] = {}
    for r in refunds:
        refunded[r.method] = refunded.get(r.method, 0) + r.amount
    methods = [*paid, *(m for m in refunded if m not in paid)]
    return tuple(Tender(m, paid.get(m, 0), refunded.get(m, 0)) for m in methods)


def refund_method(tenders: tuple[Tender, ...], amount: int, chosen: str | None, number: str) -> str:
    """The method a refund of ``amount`` on receipt ``number`` goes back by (the module's rule);
    OverRefund for cash beyond the bound, RecordUnusable when the receipt's payments cannot be read
    and nobody chose."""
    cash = next((t for t in tenders if t.method == CASH), Tender(CASH, 0, 0))
    if chosen == CASH or (chosen is None and not any(t.paid for t in tenders if t.method != CASH)):
        if not tenders:
            raise RecordUnusable(
                f"the payments of receipt {number} cannot be read, so neither the cash it took nor "
                "its tenders are known: refund it by card or other"
            )
        if amount > cash.left:
            raise OverRefund(
                f"cannot give back {amount} in cash on receipt {number}: it took {cash.paid} in cash "
                f"and {cash.refunded} of that was given back already, so at most {cash.left} can "
                "leave the drawer for it; give the rest back by card or other"
            )
        return CASH
    if chosen is not None:
        return chosen
    whole = next((t.method for t in tenders if t.paid and amount <= t.left), None)
    if whole is not None:
        return whole
    return next(t.method for t in tenders if t.paid and t.method != CASH)
