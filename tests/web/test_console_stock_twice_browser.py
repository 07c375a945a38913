"""Found from the outside (the twenty-first session), as a manager entering a delivery on the console's
Reports -> Stock: a double click on "Enter" (or Enter pressed again while the page had not answered)
entered the supply twice, 24 croissants delivered and 48 on hand, and every stock report after it was
off. A stock entry is a movement, not a value, so the same request twice counts twice. The form now
takes nothing more until the first entry is answered.

Debian's Chromium against a real ``meshpos console`` process (SQLite). Both submits are dispatched on
the form in one go, as a quick double click does before any answer; the requests the page sent are
counted before a later read of the page's own (its request is sent after both). On main two entries go
out (and the console stores both).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meshpos.harness.wait import until
from meshpos.localapi import read_token

from ..mesh.kit import ConsoleProcess, make_venue
from .cdp import Browser
from .test_pages_browser import q


@pytest.mark.slow
async def test_a_double_click_on_enter_enters_a_supply_once(
    tmp_path: Path, browser: Browser
) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = await asyncio.to_thread(
        ConsoleProcess(tmp_path / "console", [authority.directory]).start
    )
    try:
        v = f"/api/venues/{authority.venue_id}"
        product = {"id": "flour", "name": "Flour", "price": 100, "category": ""}
        await asyncio.to_thread(console.call, "POST", f"{v}/products", product)
        token = read_token(tmp_path / "console" / "console-admin.token")
        page = await browser.new_page("console stock")
        await page.goto(f"{console.ready['api']}/?token={token}#reports")
        await page.click("#report-tabs [data-report=stock]", timeout=15)
        await page.wait(q("#stock tbody tr[data-product=flour]"), timeout=15, what="the stock")
        await page.eval(f"{q('#stock-product')}.value = 'flour'")
        await page.fill("#stock-quantity", "24")
        await page.fill("#stock-note", "delivery")

        mark = len(page.traffic)
        await page.eval(f"(f => {{ f.requestSubmit(); f.requestSubmit(); }})({q('#stock-entry')})")
        await page.eval(f"shell.api('{v}')")  # a read sent after both submits were handled
        requests = [w for k, w in page.traffic[mark:] if k == "request"]
        assert f"GET {v}" in requests, requests
        entered = [w for w in requests[: requests.index(f"GET {v}")] if w == f"POST {v}/stock"]
        assert entered == [f"POST {v}/stock"], requests  # main: two

        today = datetime.now(UTC).date()
        days = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"

        async def moves() -> list[object]:
            got = await asyncio.to_thread(console.call, "GET", f"{v}/reports/stock/flour?{days}")
            return list(got)

        async def at_console() -> bool:
            return bool(await moves())

        await until(at_console, 15, "the supply at the console")
        on_hand = "#stock tbody tr[data-product=flour] td:last-child"
        await page.wait(f"{q(on_hand)}?.innerText === '24'", timeout=15, what="24 on hand")
        assert len(await moves()) == 1
        await page.wait(f"!{q('#stock-entry button[type=submit]')}.disabled", what="the form free")
        assert page.errors == []
    finally:
        await asyncio.to_thread(console.stop)
