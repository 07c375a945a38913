"""A register's shift open since an earlier business day, as the manager sees it at the console (the
twenty-first session, part shifts), in Debian's Chromium against a real ``meshpos console`` process
and a real register uploading through its relay.

The cashier opens a shift while the venue keeps UTC-12's clock (its day starts at midnight); the
manager then moves the venue to Kiritimati's (UTC+14): the venue's business day is now one or two days
after the one the shift opened on, whatever the hour. The status (``registers``: ``shift_open_since``),
its devices table, the shifts report (``open_since``) and its page say "open since <that day>"; before
the move they say nothing. On main the console said nothing at all: the register's own status did.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER

from ..console.reports_bed import catalog_at_console, register_and_console
from ..mesh.kit import ConsoleProcess, NodeProcess
from .cdp import Browser
from .test_pages_browser import q

BEHIND = "Etc/GMT+12"  # UTC-12
AHEAD = "Pacific/Kiritimati"  # UTC+14: with a cut-off at midnight, always a later day than UTC-12's
DEADLINE_S = 60


def _zone(console: ConsoleProcess, venue: str, zone: str) -> str:
    """Set the venue's time zone (cut-off at midnight) at the console: its business day now."""
    settings = console.call("GET", f"{venue}/settings")
    console.call("POST", f"{venue}/settings", {**settings, "timezone": zone, "day_cutoff_hour": 0})
    day: str = console.call("GET", venue)["business_day"]
    return day


def _open_shift_a_day_ago(console: ConsoleProcess, register: NodeProcess, venue_id: str) -> str:
    """The shift opened under UTC-12's day, then the venue moved ahead; (the day it opened on)."""
    venue = f"/api/venues/{venue_id}"
    catalog_at_console(console, venue_id)
    opened_on = _zone(console, venue, BEHIND)
    wait_for(
        lambda: register.call("GET", "/api/days")["today"] == opened_on,
        DEADLINE_S,
        "the register on UTC-12's day",
    )
    shift = register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    wait_for(
        lambda: any(s["id"] == shift["id"] for s in console.call("GET", f"{venue}/shifts")),
        DEADLINE_S,
        "the shift at the console",
    )
    since = _since(console, venue_id)
    if console.call("GET", venue)["business_day"] == opened_on:  # (not past UTC-12's midnight)
        assert since is None  # open on today's business day: nothing to say
    today = _zone(console, venue, AHEAD)
    assert today > opened_on
    return opened_on


def _since(console: ConsoleProcess, venue_id: str) -> Any:
    registers = console.call("GET", f"/api/venues/{venue_id}/status")["registers"]
    return registers["R1"]["shift_open_since"]


@pytest.mark.slow
async def test_the_console_says_a_shift_is_open_since_an_earlier_day(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    with register_and_console(tmp_path, open_shift=False) as (console, register, venue_id):
        opened_on = await asyncio.to_thread(_open_shift_a_day_ago, console, register, venue_id)
        assert _since(console, venue_id) == opened_on
        today = console.call("GET", f"/api/venues/{venue_id}")["business_day"]
        path = f"/api/venues/{venue_id}/reports/shifts?from={opened_on}&to={today}"
        (row,) = console.call("GET", path)
        assert row["report"] == "X"
        assert row["open_since"] == opened_on

        token = read_token(tmp_path / "console" / "console-admin.token")
        page = await browser.new_page("console open shift")
        await page.goto(f"{console.ready['api']}/?token={token}#status")
        device = "#registers tr[data-device=R1]"
        await page.wait(
            f"{q(device)}?.dataset.shiftOpenSince === '{opened_on}'",
            timeout=30,
            what="the register's row saying its shift is open since an earlier day",
        )
        assert f"open since {opened_on}: close it" in await page.text(device)
        await page.screenshot(artifacts / "1-console-devices-shift-open-since.png")

        await page.goto(f"{console.ready['api']}/?token={token}#reports")
        await page.click("#report-tabs [data-report=shifts]")
        await page.fill("#report-from", opened_on)
        await page.fill("#report-to", today)
        assert await page.eval(f"{q('#report-from')}.value") == opened_on
        await page.click("#report-range button[type=submit]")
        shown = "#shifts tbody tr[data-report=X]"
        await page.wait(
            f"{q(shown)}?.dataset.openSince === '{opened_on}'",
            timeout=30,
            what="the shift's X saying it is open since an earlier day",
        )
        assert f"open since {opened_on}: close it" in await page.text(shown)
        await page.screenshot(artifacts / "2-console-shifts-open-since.png")
