"""The business days through the node's API: ``GET /api/days`` and a manager's ``POST /api/day/close``
(refused, naming them, while shifts or orders are open; later sales go to the next day)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER, MANAGER

from .conftest import running
from .kit import Client, http, make_configs


@pytest.fixture
async def reg(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as (r1,):
        answer = await http(r1.api_url, "GET", "/api/openapi.json")
        doc: dict[str, Any] = answer.json()
        yield Client.of(r1, doc)


def next_day(date: str) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


async def test_a_manager_ends_the_day_once_nothing_of_it_is_open(reg: Client) -> None:
    days = await reg.ok("GET", "/api/days")
    today = days["today"]
    assert days["closed"] == []
    assert days["ended"] == []
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER, "table": "7"})
    await reg.error(403, "permission_denied", "POST", "/api/day/close", {"user": CASHIER})
    message = await reg.error(409, "day_still_open", "POST", "/api/day/close", {"user": MANAGER})
    assert f"business day {today} cannot end yet" in message
    assert "the shift of Anna on R1" in message
    assert "the order at table 7 on R1 is open" in message
    assert (await reg.ok("GET", "/api/days"))["ended"] == []  # refused: nothing written
    await reg.ok("POST", f"/api/orders/{order['id']}/void", {"user": CASHIER})
    await reg.ok("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
    ended = await reg.ok("POST", "/api/day/close", {"user": MANAGER})
    assert ended == {"date": today, "next_date": next_day(today)}
    days = await reg.ok("GET", "/api/days")
    assert days["today"] == next_day(today)
    assert days["ended"] == [today]
    shift = await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    assert shift["id"]
    assert next_day(today) in (await reg.ok("GET", "/api/days"))["loaded"]  # its sales go there


async def test_receipts_of_a_day_never_held_are_none(reg: Client) -> None:
    assert await reg.ok("GET", "/api/receipts?date=2001-01-01") == []
    assert "2001-01-01" not in (await reg.ok("GET", "/api/days"))["loaded"]


@pytest.mark.parametrize(
    "date", ["2026-13-01", "2026-00-10", "2026-02-32", "2026-1-01", "%ED%A0%80", "2026-02-01x"]
)
async def test_a_date_no_business_day_has_is_a_clear_400(reg: Client, date: str) -> None:
    """Before, a month 13 passed the parameter's pattern and the document name check refused it
    deeper down: 503 for a client's typo."""
    message = await reg.error(400, "bad_field", "GET", f"/api/receipts?date={date}")
    assert "date" in message
    assert await reg.ok("GET", "/api/kitchen/tickets?date=2026-12-31") is not None
