"""The tax refunds gave back, as the console's reports state it, on SQLite and PostgreSQL: per refund and
refund line (Reports -> Refunds), by product, category and cashier (Sales), and in the totals of a day
and of all time, each against what the model's own rule says (``model.totals.refund_share`` of the
receipt line's tax, after the units the line's earlier refunds gave back)."""

from __future__ import annotations

from collections import Counter

from meshpos.console import ConsoleDB, materialise
from meshpos.console import manager_reports as q
from meshpos.console.refund_tax import FIELDS, with_tax
from meshpos.model import Venue
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.model.totals import refund_share

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, ledger_doc, make_register, sell

DAYS = q.Days(DATE, DATE)


def _refunded_day() -> Venue:
    """Three espressos refunded one, then two (the tax does not divide by three: the shares must add
    up to the line's tax exactly), a lemonade refunded whole, a burger not refunded."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 10_000, NOW)
    a = sell(r1, ("espresso", 3), ("lemonade", 1), at=NOW + 10)
    sell(r1, ("burger", 1), at=NOW + 20)
    espresso = next(line for line in a.lines if line.product_id == "espresso")
    lemonade = next(line for line in a.lines if line.product_id == "lemonade")
    assert espresso.tax % 3, "a tax that divides by three tests no rounding"
    r1.refund(MANAGER, a.id, NOW + 30, lines={espresso.line_id: 1}, reason="cold")
    r1.refund(MANAGER, a.id, NOW + 40, lines={espresso.line_id: 2, lemonade.line_id: 1})
    return r1


def _expected(venue: Venue) -> dict[str, dict[str, int]]:
    """refund id -> line id -> the tax it gave back, by the model's rule, refunds in their order."""
    ledger = venue.ledger(DATE)
    lines = {line.line_id: line for r in ledger.receipts() for line in r.lines}
    done = Counter[str]()
    out: dict[str, dict[str, int]] = {}
    for refund in sorted(ledger.refunds(), key=lambda f: (f.at_ms, f.id)):
        for x in refund.lines:
            line = lines[x.line_id]
            share = refund_share(line.tax, line.quantity, done[x.line_id], x.quantity)
            out.setdefault(refund.id, {})[x.line_id] = share
            done[x.line_id] += x.quantity
    return out


async def test_refunds_sales_and_totals_state_the_tax_refunds_gave_back(
    venue_db: ConsoleDB,
) -> None:
    r1 = _refunded_day()
    await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    expected = _expected(r1)
    ledger = r1.ledger(DATE)
    receipt_lines = {line.line_id: line for r in ledger.receipts() for line in r.lines}
    gross = sum(r.tax for r in ledger.receipts())
    back = sum(t for lines in expected.values() for t in lines.values())
    espresso = next(x for x in receipt_lines.values() if x.product_id == "espresso")
    assert espresso.tax == sum(
        t for lines in expected.values() for i, t in lines.items() if i == espresso.line_id
    ), "the refund shares of a line refunded whole add up to its tax"

    refunds = await venue_db.report(lambda cur: q.refunds(cur, VENUE, DAYS))
    assert {f["id"]: {x["line_id"]: x["tax"] for x in f["lines"]} for f in refunds} == expected
    assert {f["id"]: f["tax"] for f in refunds} == {i: sum(x.values()) for i, x in expected.items()}

    [refunded] = {f.receipt_id for f in ledger.refunds()}
    detail = await venue_db.report(lambda cur: q.receipt_detail(cur, VENUE, refunded))
    assert detail is not None
    assert {
        f["id"]: (f["tax"], {x["line_id"]: x["tax"] for x in f["lines"]}) for f in detail["refunds"]
    } == {i: (sum(x.values()), x) for i, x in expected.items()}

    for totals in (await venue_db.totals(VENUE, DATE), await venue_db.totals(VENUE)):
        assert (totals["tax"], totals["refunded_tax"], totals["net_tax"]) == (
            gross,
            back,
            gross - back,
        )

    by_product = await venue_db.report(lambda cur: q.sales_by_product(cur, VENUE, DAYS))
    product_back = Counter[str]()
    for lines in expected.values():
        for line_id, tax in lines.items():
            product_back[receipt_lines[line_id].product_id] += tax
    assert {r["product_id"]: (r["refunded_tax"], r["net_tax"]) for r in by_product} == {
        p: (product_back[p], sum(x.tax for x in receipt_lines.values() if x.product_id == p) - b)
        for p in {x.product_id for x in receipt_lines.values()}
        for b in (product_back[p],)
    }
    [cashier] = await venue_db.report(lambda cur: q.sales_by_cashier(cur, VENUE, DAYS))
    assert (cashier["user_id"], cashier["tax"], cashier["refunded_tax"], cashier["net_tax"]) == (
        CASHIER,
        gross,
        back,
        gross - back,
    )


def test_a_refund_line_whose_receipt_line_is_not_here_or_is_absurd_has_no_made_up_tax() -> None:
    """Unknown, not 0, without its receipt line (sums leave it out: the net tax is never understated);
    a peer's receipt line of no units (records are parsed, not trusted) gives no division by zero."""
    row = dict.fromkeys(FIELDS) | {"refund_id": "f", "line_id": "l", "quantity": 1, "amount": 5}
    assert with_tax(tuple(row.values()))["tax"] is None
    zero = row | {"line_quantity": 0, "line_tax": 70, "already": None}
    assert with_tax(tuple(zero.values()))["tax"] == 0
    more = row | {
        "line_quantity": 2,
        "line_tax": 70,
        "already": 2,
    }  # two registers refunded at once
    assert with_tax(tuple(more.values()))["tax"] == 0  # never more than the line's tax in all
