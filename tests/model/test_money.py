from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshpos.model import currency_digits, format_money
from meshpos.model.money import allocate, percent_of, round_div, tax_in
from meshpos.model.totals import PricedLine, price_lines, refund_share


def test_round_div_is_half_away_from_zero() -> None:
    assert [round_div(n, 2) for n in (1, 3, 5, -1, -3)] == [1, 2, 3, -1, -2]
    assert round_div(10, 3) == 3
    assert percent_of(1075, 1000) == 108
    assert tax_in(1100, 1000) == 100


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_allocate_sums_exactly(total: int, weights: list[int]) -> None:
    shares = allocate(total, weights)
    assert len(shares) == len(weights)
    if sum(weights) > 0:
        assert sum(shares) == total
        assert all(s >= 0 for s in shares)


@given(st.integers(0, 10**9), st.integers(1, 500), st.data())
def test_refund_shares_sum_to_the_line_amount(
    amount: int, quantity: int, data: st.DataObject
) -> None:
    done, parts = 0, []
    while done < quantity:
        step = data.draw(st.integers(1, quantity - done))
        parts.append(refund_share(amount, quantity, done, step))
        done += step
    assert sum(parts) == amount
    assert all(p >= 0 for p in parts)


@given(
    st.lists(
        st.tuples(
            st.integers(1, 50),
            st.integers(0, 100_000),
            st.sampled_from([0, 1000, 2000, 888]),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.tuples(st.sampled_from(["percent", "fixed"]), st.integers(0, 10_000)), max_size=3),
)
def test_line_amounts_add_up_and_stay_integer(
    raw: list[tuple[int, int, int, bool]], discounts: list[tuple[str, int]]
) -> None:
    lines = [PricedLine(str(i), q, p, rate, inc) for i, (q, p, rate, inc) in enumerate(raw)]
    amounts = price_lines(lines, discounts)
    gross = sum(q * p for q, p, _, _ in raw)
    assert sum(a.gross for a in amounts) == gross
    assert 0 <= sum(a.discount for a in amounts) <= gross
    for a in amounts:
        assert all(type(v) is int for v in (a.gross, a.discount, a.tax, a.amount))
        assert a.tax >= 0


def test_format_money() -> None:
    assert format_money(123456, "EUR") == "1234.56 EUR"
    assert format_money(-5) == "-0.05"


def test_money_is_shown_with_the_currencys_own_decimals() -> None:
    """Amounts are minor units of the venue's currency: the yen has none, the Kuwaiti dinar three."""
    assert [currency_digits(c) for c in ("EUR", "JPY", "KWD", "jpy", "CLF")] == [2, 0, 3, 0, 4]
    assert currency_digits("XYZ") == 2  # a code the table does not know: the usual two
    assert format_money(1200, "JPY") == "1200 JPY"
    assert format_money(1200, "EUR") == "12.00 EUR"
    assert format_money(-1205, "KWD") == "-1.205 KWD"
    assert format_money(1200, "JPY", decimals=2) == "12.00 JPY"  # an explicit count wins
