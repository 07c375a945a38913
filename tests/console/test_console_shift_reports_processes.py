"""A register's X and Z reports against the console's shift report for the same shift (issue 17): a
``meshpos console`` process and a ``meshpos node`` register (the venue's relay) on loopback, a real
SQLite file. The register sells, refunds (one refund a manager approves with their PIN), moves cash and
opens the drawer with no sale; its X report and then its Z (which also ends the business day: it is the
venue's only shift) must show the figures the console computes from what it materialised, and the
console must hold the no-sale opening and the refund's approver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER, MANAGER

from .reports_bed import DEADLINE_S, give_manager_a_pin, register_and_console, sell_a_day

PIN = "2468"
# the figures a register's report and the console's shift report both give, under the same names
FIGURES = (
    "receipts",
    "sales",
    "cash_taken",
    "card_taken",
    "refunds",
    "cash_refunds",
    "cash_in",
    "cash_out",
    "drawer_expected",
)


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """A register's report as the console's row names it (no-sales counted)."""
    out = {k: report[k] for k in FIGURES}
    return out | {
        "no_sales": len(report["no_sales"]),
        "opening_cash": report["shift"]["opening_cash"],
    }


@pytest.mark.slow
def test_x_and_z_reports_equal_the_consoles_shift_report(tmp_path: Path) -> None:
    with register_and_console(tmp_path) as (console, register, venue_id):
        venue = f"/api/venues/{venue_id}"
        give_manager_a_pin(console, register, venue_id, PIN)
        sold = sell_a_day(register)
        register.call(
            "POST", "/api/shifts/current/cash-moves", {"user": CASHIER, "kind": "in", "amount": 700}
        )
        opened = register.call(
            "POST",
            "/api/shifts/current/no-sales",
            {"user": CASHIER, "reason": "change for a guest"},
        )
        latte = sold[0]
        approved = register.call(
            "POST",
            f"/api/receipts/{latte['id']}/refunds",
            {"user": CASHIER, "reason": "spilt", "approver": MANAGER, "approver_pin": PIN},
        )
        assert approved["approved_by"] == MANAGER

        x = register.call("GET", "/api/shifts/current/report")
        assert x["report"] == "X"
        assert [n["id"] for n in x["no_sales"]] == [opened["id"]]
        today = datetime.now(UTC).date()  # the business day is today's or yesterday's (cut-off)
        span = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"

        def console_shift() -> dict[str, Any]:
            [row] = console.call("GET", f"{venue}/reports/shifts?{span}")
            return dict(row)

        wait_for(
            lambda: {k: console_shift()[k] for k in _figures(x)} == _figures(x),
            DEADLINE_S,
            f"the console's X report equal to the register's {_figures(x)}",
            ignore=(ValueError,),  # the shift is not at the console yet
        )
        assert console_shift()["report"] == "X"

        z = register.call(
            "POST",
            "/api/shifts/current/z",
            {"user": MANAGER, "counted_cash": x["drawer_expected"] - 40},
        )
        assert z["day"] is not None  # the only shift of the venue: its Z ends the business day
        assert z["day"]["date"] in register.call("GET", "/api/days")["ended"]
        closed = _figures(z["z"])
        assert closed == _figures(x)  # nothing happened between the X and the Z
        wait_for(
            lambda: console_shift()["report"] == "Z",
            DEADLINE_S,
            lambda: f"the Z at the console: {console_shift()}",
        )
        row = console_shift()
        assert {k: row[k] for k in closed} == closed
        assert (row["counted_cash"], row["cash_difference"]) == (x["drawer_expected"] - 40, -40)

        refunds = console.call("GET", f"{venue}/reports/refunds?{span}")
        assert {f["id"]: f["approved_by"] for f in refunds} == {
            approved["id"]: MANAGER,
            **{f["id"]: "" for f in refunds if f["id"] != approved["id"]},
        }
        assert next(f for f in refunds if f["id"] == approved["id"])["approved_by_name"] == "Max P."
        [no_sale] = console.call("GET", f"{venue}/reports/no-sales?{span}")
        assert (no_sale["id"], no_sale["cashier"], no_sale["reason"]) == (
            opened["id"],
            "Anna",
            "change for a guest",
        )
        assert no_sale["shift_id"] == x["shift"]["id"]
