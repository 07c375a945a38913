"""``price_lines`` and ``order_totals`` were made cheaper for every read of an order (issue 18: no
``allocate`` sort when there is no order discount, one pass for the sums): on seeded random orders they
give exactly what the plain definitions give."""

from __future__ import annotations

import random

import pytest

from meshpos.model.money import allocate, percent_of, tax_in
from meshpos.model.totals import (
    LineAmount,
    OrderTotals,
    PricedLine,
    discount_amount,
    order_totals,
    price_lines,
)


def _reference_lines(
    lines: list[PricedLine], order_discounts: list[tuple[str, int]]
) -> list[LineAmount]:
    gross = [line.unit_price * line.quantity for line in lines]
    line_disc = [
        discount_amount(x.discount_kind, x.discount_value, g)
        for x, g in zip(lines, gross, strict=True)
    ]
    nets = [g - d for g, d in zip(gross, line_disc, strict=True)]
    remaining, order_disc = sum(nets), 0
    for kind, value in order_discounts:
        cut = discount_amount(kind, value, remaining)
        order_disc += cut
        remaining -= cut
    shares = allocate(order_disc, nets)
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


def _reference_totals(amounts: list[LineAmount], paid: int, tips: int) -> OrderTotals:
    return OrderTotals(
        subtotal=sum(a.gross for a in amounts),
        discount=sum(a.discount for a in amounts),
        tax=sum(a.tax for a in amounts),
        total=sum(a.amount for a in amounts),
        paid=paid,
        tips=tips,
    )


@pytest.mark.parametrize("seed", range(40))
def test_prices_and_totals_are_the_plain_definitions(seed: int) -> None:
    rng = random.Random(seed)
    lines = [
        PricedLine(
            f"l{i}",
            rng.randint(1, 9),
            rng.choice([0, 1, 250, 999, 1250, rng.randint(0, 100_000)]),
            rng.choice([0, 888, 1000, 2000, 10_000]),
            rng.random() < 0.5,
            rng.choice([None, "percent", "fixed"]),
            rng.choice([0, 500, 1000, 5000, 10_000]),
        )
        for i in range(rng.randint(0, 6))
    ]
    discounts = [
        (rng.choice(["percent", "fixed"]), rng.choice([0, 1, 500, 1000, 10_000]))
        for _ in range(rng.choice([0, 0, 1, 2]))
    ]
    amounts = price_lines(lines, discounts)
    assert amounts == _reference_lines(lines, discounts)
    paid, tips = rng.randint(0, 10_000), rng.randint(0, 500)
    assert order_totals(amounts, paid, tips) == _reference_totals(amounts, paid, tips)
