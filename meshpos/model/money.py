"""Money arithmetic in integer minor units (cents). Rounding is half-up, applied once per line."""

from __future__ import annotations

BASIS_POINTS = 10_000  # 100 % = 10_000 bp, so 20 % VAT is 2_000 and a 12.5 % discount is 1_250


def round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((abs(numerator) * 2 + denominator) // (2 * denominator))


def percent_of(amount: int, bp: int) -> int:
    return round_div(amount * bp, BASIS_POINTS)


def tax_in(gross: int, rate_bp: int) -> int:
    """Tax contained in a tax-inclusive amount."""
    return gross - round_div(gross * BASIS_POINTS, BASIS_POINTS + rate_bp)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` over ``weights`` proportionally, exactly (largest remainder), so parts sum to total."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    shares = [total * w // weight_sum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


# ISO 4217 currencies whose minor unit is not the cent: how many decimals an amount has (JPY 0, KWD 3).
# Every other code has two. The pages read the same fact from the browser's Intl data (ECMA-402 takes it
# from ISO 4217); this is its one home in Python.
_MINOR_UNIT_DIGITS = {
    code: digits
    for digits, codes in (
        (0, "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"),
        (3, "BHD IQD JOD KWD LYD OMR TND"),
        (4, "CLF UYW"),
    )
    for code in codes.split(" ")
}


def currency_digits(currency: str) -> int:
    """How many decimals an amount in ``currency`` has (its ISO 4217 minor unit): amounts are kept in
    minor units, so 1200 is 1200 JPY but 12.00 EUR and 1.200 KWD; an unknown code has two."""
    return _MINOR_UNIT_DIGITS.get(currency.strip().upper(), 2)


def format_money(amount: int, currency: str = "", decimals: int | None = None) -> str:
    """``amount`` (minor units) as a person reads it, with the currency's decimals unless given."""
    if decimals is None:
        decimals = currency_digits(currency)
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 10**decimals)
    text = f"{sign}{units}.{cents:0{decimals}d}" if decimals else f"{sign}{units}"
    return f"{text} {currency}".strip()
