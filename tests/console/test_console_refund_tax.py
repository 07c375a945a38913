"""Found from the outside (red, thirteenth session), not fixed: the console's reports never say the tax a
refund gave back.

A real register and console (``reports_bed``). Every figure agreed to the cent across the register's
receipts and X report, the console's shift report, sales by product, category and cashier, refunds,
receipts and totals, for partial refunds (one unit of three, lines of an order with a fixed voucher spread
over them), a percent order discount, taxes included (10 %, 20 %) and added (8.875 %), a split tender and a
void. But a refund carries only its amount: the tax of the sales reports and the totals is the tax of
every receipt, refunded or not, and no report (nor its CSV) says how much of it went back, so a venue
that files its VAT from the console pays it on money it returned. The refund's tax is the refunded units'
share of their lines' tax (``model.totals.refund_share``, as their amount is); stating it needs the
console to store it per refund line (a schema change) and every report of refunds to show it: marked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER, MANAGER

from .reports_bed import DEADLINE_S, register_and_console


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="a refund's tax is in no report of the console")
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
        assert console.call("GET", f"{venue}/totals")["tax"] == 93  # every receipt's tax
        [refund] = console.call("GET", f"{venue}/reports/refunds?{span}")
        assert refund["amount"] == 420
        assert refund.get("tax") == 70, refund  # what the venue does not owe
