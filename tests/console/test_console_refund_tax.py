"""Found from the outside (red, thirteenth session): the console's reports never said the tax a refund
gave back.

A real register and console (``reports_bed``). Every figure agreed to the cent across the register's
receipts and X report, the console's shift report, sales by product, category and cashier, refunds,
receipts and totals, for partial refunds (one unit of three, lines of an order with a fixed voucher spread
over them), a percent order discount, taxes included (10 %, 20 %) and added (8.875 %), a split tender and a
void. But a refund carried only its amount: the tax of the sales reports and the totals was the tax of
every receipt, refunded or not, and no report (nor its CSV) said how much of it went back, so a venue
that filed its VAT from the console paid it on money it returned. The refund's tax is the refunded units'
share of their lines' tax (``model.totals.refund_share``, as their amount is; ``console/refund_tax.py``):
each refund and refund line states it, and the totals and sales reports state ``tax`` (gross),
``refunded_tax`` and ``net_tax``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER, MANAGER

from .reports_bed import DEADLINE_S, register_and_console


@pytest.mark.slow
def test_the_console_says_the_tax_a_refund_gave_back(tmp_path: Path) -> None:
    with register_and_console(tmp_path) as (console, register, venue_id):
        receipt = register.sell(CASHIER, ["lemonade", "espresso"])  # 420 at 20 %, 250 at 10 % incl.
        taxes = {line["product_id"]: line["tax"] for line in receipt["lines"]}
        assert taxes == {"lemonade": 70, "espresso": 23}
        lemonade = next(ln["line_id"] for ln in receipt["lines"] if ln["product_id"] == "lemonade")
        register.call(
            "POST",
            f"/api/receipts/{receipt['id']}/refunds",
            {"user": MANAGER, "lines": {lemonade: 1}, "reason": "warm"},
        )
        today = datetime.now(UTC).date()
        span = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
        venue = f"/api/venues/{venue_id}"
        wait_for(
            lambda: len(console.call("GET", f"{venue}/reports/refunds?{span}")) == 1,
            DEADLINE_S,
            "the refund at the console",
        )
        totals = console.call("GET", f"{venue}/totals")
        assert (totals["tax"], totals["refunded_tax"], totals["net_tax"]) == (93, 70, 23)
        [refund] = console.call("GET", f"{venue}/reports/refunds?{span}")
        assert refund["amount"] == 420
        assert refund.get("tax") == 70, refund  # what the venue does not owe
        assert [(x["name"], x["tax"]) for x in refund["lines"]] == [("Lemonade", 70)]
        exported = console.client.request("GET", f"{venue}/reports/refunds?{span}&format=csv")
        [row] = csv.DictReader(io.StringIO(exported.body))
        assert (row["amount"], row["tax"]) == ("420", "70")
        by_product = console.call("GET", f"{venue}/reports/sales?{span}&by=product")
        assert {
            r["product_id"]: (r["tax"], r["refunded_tax"], r["net_tax"]) for r in by_product
        } == {
            "lemonade": (70, 70, 0),
            "espresso": (23, 0, 23),
        }
