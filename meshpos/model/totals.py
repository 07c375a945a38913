"""Order totals derived from line and discount records: never stored, so replicas cannot disagree on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meshpos.model.money import allocate, percent_of, tax_in


@dataclass(frozen=True, slots=True)
class PricedLine:
    """What totals need to know about a line (a subset of the ledger's Line)."""

    id: str
    quantity: int
    unit_price: int
    tax_rate_bp: int
    tax_included: bool
    discount_kind: str | None = None
    discount_value: int = 0


@dataclass(frozen=True, slots=True)
class LineAmount:
    line_id: str
    gross: int  # unit price x quantity
    discount: int  # line discount plus this line's share of order discounts
    tax: int
    amount: int  # what the guest pays for this line, tax included


@dataclass(frozen=True, slots=True)
class OrderTotals:
    subtotal: int
    discount: int
    tax: int
    total: int
    paid: int = 0
    tips: int = 0

    @property
    def due(self) -> int:
        return max(self.total - self.paid, 0)


def discount_amount(kind: str | None, value: int, base: int) -> int:
    if kind == "percent":
        return min(percent_of(base, value), base)
    if kind == "fixed":
        return min(value, base)
    return 0


def price_lines(
    lines: Sequence[PricedLine], order_discounts: Sequence[tuple[str, int]] = ()
) -> list[LineAmount]:
    gross = [line.unit_price * line.quantity for line in lines]
    line_disc = [
        discount_amount(line.discount_kind, line.discount_value, g)
        for line, g in zip(lines, gross, strict=True)
    ]
    nets = [g - d for g, d in zip(gross, line_disc, strict=True)]
    remaining = sum(nets)
    order_disc = 0
    for kind, value in order_discounts:
        cut = discount_amount(kind, value, remaining)
        order_disc += cut
        remaining -= cut
    # (no order discount: every share is 0, what ``allocate`` gives, without its sort)
    shares = allocate(order_disc, nets) if order_disc else [0] * len(nets)
    priced = []
    for line, g, ld, net, share in zip(lines, gross, line_disc, nets, shares, strict=True):
        final_net = net - share
        if line.tax_included:
            tax, amount = tax_in(final_net, line.tax_rate_bp), final_net
        else:
            tax = percent_of(final_net, line.tax_rate_bp)
            amount = final_net + tax
        priced.append(LineAmount(line.id, g, ld + share, tax, amount))
    return priced


def order_totals(amounts: Sequence[LineAmount], paid: int = 0, tips: int = 0) -> OrderTotals:
    subtotal = discount = tax = total = 0
    for a in amounts:  # (one pass, not four: every tap's read of its order sums them, issue 18)
        subtotal += a.gross
        discount += a.discount
        tax += a.tax
        total += a.amount
    return OrderTotals(subtotal, discount, tax, total, paid=paid, tips=tips)


def refund_share(line_amount: int, line_quantity: int, already: int, quantity: int) -> int:
    """Money back for ``quantity`` more units when ``already`` were refunded; full refunds sum exactly."""

    def upto(k: int) -> int:
        return line_amount * k // line_quantity if k < line_quantity else line_amount

    return upto(already + quantity) - upto(already)
