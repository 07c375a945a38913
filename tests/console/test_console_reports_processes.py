"""Reports a manager reads, against sales a real register made: a ``meshpos console`` process and a
``meshpos node`` register (the venue's relay) on loopback, a real SQLite file. The register sells with a
modifier, a line discount and an order discount, refunds and voids; every figure of the
console's reports is checked against what the register itself answers for the same receipts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for

from .reports_bed import register_and_console, sell_a_day

DEADLINE_S = 30.0  # generous: a loaded machine; nothing here measures speed


@pytest.mark.slow
def test_the_reports_show_what_a_real_register_sold(tmp_path: Path) -> None:
    with register_and_console(tmp_path) as (console, register, venue_id):
        sold = sell_a_day(register)
        receipts = {
            r["id"]: register.call("GET", f"/api/receipts/{r['id']}") for r in sold
        }  # as the register holds them, with their refunds
        venue = f"/api/venues/{venue_id}/reports"
        today = datetime.now(UTC).date()  # the business day is today's or yesterday's (cut-off)
        span = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"

        def reported() -> dict[str, Any]:
            found: dict[str, Any] = console.call("GET", f"{venue}/receipts?{span}")
            return found

        wait_for(
            lambda: (
                {r["id"] for r in reported()["items"]} == set(receipts)
                and sum(r["refunded"] for r in reported()["items"]) > 0
            ),
            DEADLINE_S,
            lambda: f"the register's sales and refund in the reports: {reported()}",
        )
        wait_for(
            lambda: register.status()["colour"] == "green",
            DEADLINE_S,
            "the register synced with the console",
            on=[register.events],
        )
        shown = {r["id"]: r for r in reported()["items"]}
        for receipt_id, view in receipts.items():
            receipt = view["receipt"]
            row = shown[receipt_id]
            assert (row["number"], row["total"], row["register"]) == (
                receipt["number"],
                receipt["total"],
                "R1",
            )
            assert row["refunded"] == sum(f["amount"] for f in view["refunds"])
            detail = console.call("GET", f"{venue}/receipts/{receipt_id}")
            assert [(x["product_id"], x["quantity"], x["amount"]) for x in detail["lines"]] == [
                (x["product_id"], x["quantity"], x["amount"]) for x in receipt["lines"]
            ]
            assert detail["cashier"] in ("Anna", "Max")  # the catalog's names, not ids
        latte = console.call("GET", f"{venue}/receipts/{sold[0]['id']}")
        assert [m["id"] for m in latte["lines"][0]["modifiers"]] == ["large", "oat"]
        table = console.call("GET", f"{venue}/receipts/{sold[1]['id']}")
        assert (table["table"], table["opened_table"]) == ("7", "4")  # moved after it was opened
        assert [d["discount_id"] for d in table["order_discounts"]] == ["happy"]
        assert "staff" in {x["discount_id"] for x in table["lines"]}
        searched = console.call("GET", f"{venue}/receipts?{span}&table=7&cashier=max")
        assert [r["id"] for r in searched["items"]] == [sold[1]["id"]]

        quantity = Counter[str]()
        for view in receipts.values():
            for line in view["receipt"]["lines"]:
                quantity[line["product_id"]] += line["quantity"]
        by_product = console.call("GET", f"{venue}/sales?{span}&by=product")
        assert {r["product_id"]: r["quantity"] for r in by_product} == dict(quantity)
        refunds = console.call("GET", f"{venue}/refunds?{span}")
        assert [(f["number"], f["reason"]) for f in refunds] == [(sold[2]["number"], "cold")]
        voids = console.call("GET", f"{venue}/voids?{span}")
        assert [[x["product_id"] for x in v["lines"]] for v in voids] == [["burger"]]
        shifts = console.call("GET", f"{venue}/shifts?{span}")
        assert [(s["report"], s["receipts"], s["sales"]) for s in shifts] == [
            ("X", len(receipts), sum(v["receipt"]["total"] for v in receipts.values()))
        ]
        csv = console.client.request("GET", f"{venue}/receipts?{span}&format=csv")
        assert csv.status == 200
        assert len(csv.body.strip().splitlines()) == len(receipts) + 1
