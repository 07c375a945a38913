"""``price_lines`` and ``order_totals`` were made cheaper for every read of an order (issue 18: no
``allocate`` sort when there is no order discount, one pass for the sums): on seeded random orders they
give exactly what the plain definitions give."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from meshpos.model.ledger_types import Line
from meshpos.model.money import allocate, percent_of, tax_in
from meshpos.model.order_lines import line_amounts
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


@pytest.mark.parametrize("seed", range(20))
def test_an_orders_kept_line_amounts_are_its_lines_priced_together(seed: int) -> None:
    """``order_lines.line_amounts`` (an order with no order discount: each line's amount kept with
    its parse) gives what ``price_lines`` of all the lines gives, read after read as lines come and
    a line's record is replaced (a new parse of the same id is priced again)."""
    rng = random.Random(seed)
    order_id = f"o{seed}"

    def line(i: int) -> Line:
        return Line(
            id=f"l{i}",
            order_id=order_id,
            product_id="p",
            name="P",
            quantity=rng.randint(1, 9),
            unit_price=rng.choice([0, 1, 250, 999, 1250, rng.randint(0, 100_000)]),
            modifiers=(),
            tax_rate_bp=rng.choice([0, 888, 1000, 2000, 10_000]),
            tax_included=rng.random() < 0.5,
            discount_id=None,
            discount_kind=rng.choice([None, "percent", "fixed"]),
            discount_value=rng.choice([0, 500, 1000, 5000, 10_000]),
            user="u",
            device="R1",
            at_ms=i,
            stamp=f"{i:04d}",
        )

    lines: list[Line] = []
    for _ in range(30):
        if lines and rng.random() < 0.3:  # a line's record replaced: another parse, other values
            k = rng.randrange(len(lines))
            lines[k] = replace(line(k), id=lines[k].id)
        else:
            lines.append(line(len(lines)))
        assert line_amounts(order_id, lines) == price_lines([x.priced() for x in lines])
