"""X and Z reports, "no sale" openings, the blind count and receipt search through a register's API
(issue 17): every answer is checked against the OpenAPI document (``Client`` with the served document)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.model import Replica, Venue, hash_pin
from meshpos.model.sample import CASHIER, COOK, MANAGER, sample_catalog

from ..mesh.kit import make_device, make_venue
from ..mesh.test_older_days import _append, an_older_nodes_day
from .conftest import running
from .kit import PIN, Client, http, make_configs
from .test_api_approval import paid_receipt


async def client(node: Any) -> Client:
    answer = await http(node.api_url, "GET", "/api/openapi.json")
    return Client.of(node, answer.json())


@pytest.fixture
async def reg(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as (r1,):
        yield await client(r1)


def _blind_catalog() -> bytes:
    replica = Replica()
    catalog = Venue(replica, device="console", role="console").catalog
    sample_catalog(catalog, pin_hash=hash_pin(PIN))
    catalog.put_settings(dataclasses.replace(catalog.settings(), blind_count=True))
    return replica.doc("catalog").get_update()


@pytest.fixture
async def blind(tmp_path: Path) -> AsyncIterator[Client]:
    authority = make_venue(tmp_path)
    path = make_device(authority, tmp_path, "R1", catalog=_blind_catalog(), heartbeat_interval=0.2)
    async with running([load_config(path, env={})]) as (r1,):
        yield await client(r1)


async def test_x_report_then_a_cashiers_z_leaves_the_day_to_a_manager(reg: Client) -> None:
    await reg.error(409, "shift_closed", "GET", "/api/shifts/current/report")
    shift = await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
    receipt = await paid_receipt(reg, "espresso", "croissant")
    await reg.ok(
        "POST", "/api/shifts/current/cash-moves", {"user": CASHIER, "kind": "in", "amount": 300}
    )
    line = receipt["lines"][0]
    await reg.ok(
        "POST",
        f"/api/receipts/{receipt['id']}/refunds",
        {"user": CASHIER, "lines": {line["line_id"]: 1}, "approver": MANAGER, "approver_pin": PIN},
    )
    opened = await reg.ok(
        "POST", "/api/shifts/current/no-sales", {"user": CASHIER, "reason": "change"}
    )
    assert (opened["user"], opened["register"], opened["shift_id"]) == (CASHIER, "R1", shift["id"])

    x = await reg.ok("GET", "/api/shifts/current/report")
    assert (x["report"], x["receipts"], x["sales"]) == ("X", 1, receipt["total"])
    assert (x["cash_taken"], x["card_taken"], x["cash_in"]) == (receipt["total"], 0, 300)
    assert (x["refunds"], x["cash_refunds"]) == (line["amount"], line["amount"])
    current = await reg.ok("GET", "/api/shifts/current")
    assert x["drawer_expected"] == current["expected_cash"]
    assert x["drawer_expected"] == 1_000 + receipt["total"] + 300 - line["amount"]
    assert [n["id"] for n in x["no_sales"]] == [opened["id"]]
    assert await reg.ok("GET", "/api/no-sales") == [opened]
    assert await reg.ok("GET", f"/api/shifts/{shift['id']}/report") == x

    z = await reg.ok(
        "POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": x["drawer_expected"]}
    )
    assert z["day"] is None
    assert "Anna may not end the business day" in z["day_open"]
    assert z["z"]["report"] == "Z"
    assert z["z"]["shift"]["close"]["counted_cash"] == x["drawer_expected"]
    assert {k: v for k, v in z["z"].items() if k not in ("report", "shift")} == {
        k: v for k, v in x.items() if k not in ("report", "shift")
    }
    assert await reg.ok("GET", f"/api/shifts/{shift['id']}/report") == z["z"]
    await reg.error(
        409, "shift_closed", "POST", "/api/shifts/current/z", {"user": MANAGER, "counted_cash": 0}
    )
    ended = await reg.ok("POST", "/api/day/close", {"user": MANAGER})  # the day ends as before
    assert ended["date"] == (await reg.ok("GET", "/api/days"))["ended"][0]


async def test_a_managers_z_of_the_last_shift_ends_the_day(reg: Client) -> None:
    today = (await reg.ok("GET", "/api/days"))["today"]
    await reg.ok("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 0})
    order = await reg.ok("POST", "/api/orders", {"user": MANAGER, "table": "9"})
    await reg.ok(
        "POST", f"/api/orders/{order['id']}/lines", {"user": MANAGER, "product_id": "fries"}
    )
    refused = await reg.error(
        409,
        "open_orders_on_shift",
        "POST",
        "/api/shifts/current/z",
        {"user": MANAGER, "counted_cash": 0},
    )
    assert "the order at table 9" in refused
    assert (await reg.ok("GET", "/api/shifts/current"))["shift"] is not None  # nothing closed
    await reg.ok("POST", f"/api/orders/{order['id']}/void", {"user": MANAGER})
    z = await reg.ok("POST", "/api/shifts/current/z", {"user": MANAGER, "counted_cash": 0})
    assert z["day"]["date"] == today
    assert z["day_open"] == ""
    assert (await reg.ok("GET", "/api/days"))["ended"] == [today]


async def test_a_no_sale_without_the_cash_right_needs_approval(reg: Client) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    path = "/api/shifts/current/no-sales"
    message = await reg.error(403, "needs_approval", "POST", path, {"user": COOK})
    assert "right: cash" in message
    assert await reg.ok("GET", "/api/no-sales") == []
    done = await reg.ok(
        "POST", path, {"user": COOK, "reason": "coins", "approver": MANAGER, "approver_pin": PIN}
    )
    assert (done["user"], done["approved_by"], done["reason"]) == (COOK, MANAGER, "coins")
    too_long = await reg.error(
        400, "bad_field", "POST", path, {"user": CASHIER, "reason": "x" * 501}
    )
    assert "reason" in too_long
    assert len(await reg.ok("GET", "/api/no-sales")) == 1


async def test_the_blind_count_hides_the_expected_cash_until_counted(blind: Client) -> None:
    await blind.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 500})
    receipt = await paid_receipt(blind, "lemonade")
    assert (await blind.ok("GET", "/api/shifts/current"))["expected_cash"] is None
    assert (await blind.ok("GET", "/api/shifts/current/report"))["drawer_expected"] is None
    z = await blind.ok("POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": 400})
    expected = 500 + receipt["total"]
    assert z["z"]["drawer_expected"] == expected
    assert z["z"]["shift"]["close"]["expected_cash"] == expected


async def test_receipts_are_found_by_number_table_and_amount(reg: Client) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    at_four = await paid_receipt(reg, "burger")  # paid_receipt's orders are at table 4
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER, "tab": "Smith"})
    await reg.ok(
        "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "espresso"}
    )
    paid = await reg.ok(
        "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"}
    )
    smith = paid["receipt"]

    async def found(query: str) -> list[str]:
        return [f["receipt"]["number"] for f in await reg.ok("GET", f"/api/receipt-search?{query}")]

    assert await found("") == [smith["number"], at_four["number"]]
    assert await found(f"number={at_four['number'].lower()}") == [at_four["number"]]
    assert await found("table=4") == [at_four["number"]]
    assert await found("table=smith") == [smith["number"]]
    assert await found(f"amount={smith['total']}") == [smith["number"]]
    assert await found(f"amount={smith['total']}&table=4") == []
    assert await found("limit=1") == [smith["number"]]
    hit = (await reg.ok("GET", "/api/receipt-search?table=Smith"))[0]
    assert (hit["table"], hit["tab"]) == ("", "Smith")
    assert "amount" in await reg.error(400, "bad_field", "GET", "/api/receipt-search?amount=-1")
    assert "date" in await reg.error(400, "bad_field", "GET", "/api/receipt-search?date=2026-13-01")
    assert await found("date=2001-01-01") == []
    await reg.error(404, "unknown_shift", "GET", "/api/shifts/no-such-shift/report")


async def test_a_past_days_receipt_written_by_an_older_node_is_found_and_reopened(
    tmp_path: Path,
) -> None:
    """Yesterday's day in the store, as a 623a0ca-era register R9 wrote it (records as maps): found by
    amount on its date, reopened for a reprint, and its shift's X report read from it."""
    configs = make_configs(tmp_path, [("R1", "register")])
    yesterday_ms = int(time.time() * 1000) - 86_400_000
    name, update, receipt_ids = an_older_nodes_day(yesterday_ms)
    await _append(configs[0].db_path, name, update)
    date = name.split("/", 1)[1]
    async with running(configs) as (r1,):
        reg = await client(r1)
        found = await reg.ok("GET", f"/api/receipt-search?date={date}")
        assert sorted(f["receipt"]["id"] for f in found) == sorted(receipt_ids)
        burger = max(found, key=lambda f: f["receipt"]["total"])["receipt"]
        by_amount = await reg.ok("GET", f"/api/receipt-search?date={date}&amount={burger['total']}")
        assert [f["receipt"]["id"] for f in by_amount] == [burger["id"]]
        assert await reg.ok("GET", f"/api/receipt-search?amount={burger['total']}") == []  # today's
        view = await reg.ok("GET", f"/api/receipts/{burger['id']}")
        assert view["receipt"]["number"] == burger["number"]
        x = await reg.ok("GET", f"/api/shifts/{burger['shift_id']}/report")
        assert (x["report"], x["receipts"], x["shift"]["register"]) == ("X", 2, "R9")
        assert x["sales"] == sum(f["receipt"]["total"] for f in found) == x["cash_taken"]
