"""A ``meshpos console`` process holds only the venues that are live (issue 15, "the console holds only
what is live"): it starts with many venues without loading one, a relay connecting loads its venue, the
venue unloads once idle, and nothing is lost: the receipts stay in the reports, and an edit made while
the venue is unloaded reaches the register when it comes back.

Real processes: the console and a register (the venue's relay) on loopback, a real SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from meshpos.console import hash_token, new_venue_token, open_console_db
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register

OTHER_VENUES = 300  # registered, never connected: none of them may load
IDLE_S = 1.0  # --venue-idle-seconds of the console under test
DEADLINE_S = 30.0  # generous: a loaded machine; nothing here measures speed
PRODUCT = "burger"


async def _register_venues(url: str, count: int) -> None:
    db = await open_console_db(url)
    try:
        for i in range(count):
            await db.add_venue(f"other-{i:04d}", f"Other {i}", hash_token(new_venue_token()))
    finally:
        await db.close()


@pytest.mark.slow
def test_a_console_loads_a_venue_when_its_relay_connects_and_unloads_it_when_idle(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    asyncio.run(_register_venues(url, OTHER_VENUES))
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(
        tmp_path / "console",
        [authority.directory],
        db=url,
        args=["--venue-idle-seconds", str(IDLE_S)],
    ).start()
    register: NodeProcess | None = None
    venue = f"/api/venues/{authority.venue_id}"
    try:

        def process() -> dict[str, Any]:
            shown: dict[str, Any] = console.call("GET", "/api/console")
            return shown

        started = process()
        assert started["venues"] == OTHER_VENUES + 1
        assert started["loaded"] == []  # start-up loads no venue
        # the status, reports and catalog read the database: nothing loads for them
        status = console.call("GET", f"{venue}/status")
        assert status["loaded"] is False
        assert console.call("GET", f"{venue}/receipts") == []
        assert process()["loaded"] == []

        register = start_console_register(authority, tmp_path, console, last_octet=12)
        wait_for(
            lambda: process()["loaded"] == [authority.venue_id],
            DEADLINE_S,
            "the relay's venue loaded, and only it",
        )
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        receipt = register.sell(CASHIER, [PRODUCT])

        def reported() -> set[str]:
            return {r["id"] for r in console.call("GET", f"{venue}/receipts")}

        wait_for(lambda: receipt["id"] in reported(), DEADLINE_S, "the sale in the reports")
        wait_for(
            lambda: register is not None and register.status()["colour"] == "green",
            DEADLINE_S,
            "the register synced with the console",
            on=[register.events],
        )
        register.kill()  # the relay goes: nothing holds the venue any more

        wait_for(
            lambda: process()["loaded"] == [],
            DEADLINE_S,
            lambda: f"the idle venue unloaded: {process()}",
        )
        assert process()["counters"]["hubs_unloaded"] >= 1
        assert receipt["id"] in reported()  # the reports are the database's
        catalog = console.call("GET", f"{venue}/catalog")  # read from the database
        price = next(p["price"] for p in catalog if p["id"] == PRODUCT)
        assert process()["loaded"] == []

        # an edit loads the venue, commits, and the venue unloads again
        console.call("POST", f"{venue}/prices", {"product_id": PRODUCT, "price": price + 7})
        wait_for(lambda: process()["loaded"] == [], DEADLINE_S, "unloaded after the edit")
        assert process()["counters"]["hubs_loaded"] >= 2

        # the register comes back: its venue loads again, the edit made meanwhile reaches it
        register.start()

        def register_price() -> int | None:
            assert register is not None
            products = register.call("GET", "/api/catalog")["products"]
            return next((p["price"] for p in products if p["id"] == PRODUCT), None)

        wait_for(
            lambda: register_price() == price + 7,
            DEADLINE_S,
            "the edit made while the venue was unloaded, on the register",
            on=[register.events],
        )
        assert process()["loaded"] == [authority.venue_id]
        assert receipt["id"] in reported()
    finally:
        if register is not None:
            register.kill()
        console.stop()
