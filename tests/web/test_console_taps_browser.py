"""A click on the console's Reports holds across its refresh (Chromium against a real ``meshpos console``
process and a register process that sold through it): the shell shows the tab again every two seconds,
and a receipt's row rebuilt between the click's press and release lost the click, so the receipt did
not open. The rows one can click are kept by key (console_reports.js ``fill``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meshpos.harness.wait import until
from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER

from ..console.reports_bed import register_and_console
from .cdp import Browser, Page
from .test_pages_browser import q
from .test_taps_browser import tap_across_a_redraw


def receipts_fetched(page: Page) -> int:
    return sum(
        kind == "request" and what.endswith("/reports/receipts") for kind, what in page.traffic
    )


@pytest.mark.slow
async def test_a_click_on_a_receipt_holds_across_the_refresh(
    tmp_path: Path, browser: Browser
) -> None:
    with register_and_console(tmp_path) as (console, register, _venue):
        sold = await asyncio.to_thread(register.sell, CASHIER, ["fries"], method="cash")
        token = read_token(tmp_path / "console" / "console-admin.token")
        page = await browser.new_page("console reports")
        await page.goto(f"{console.ready['api']}/?token={token}#reports")
        row = f"#receipts tr[data-receipt='{sold['id']}']"
        await page.wait(q(row), timeout=30, what="the receipt in Reports -> Receipts")
        shown = receipts_fetched(page)

        async def refreshed() -> None:
            # the second fetch after the press starts once the first one's rows were drawn
            await until(lambda: receipts_fetched(page) >= shown + 2, 10, "two refreshes")

        await tap_across_a_redraw(page, q(f"{row} td"), refreshed, "true", "the refreshed rows")
        await page.wait(f"!{q('#receipt-detail')}.hidden", what="the receipt's detail")
        assert sold["number"] in await page.text("#detail-title")
        assert page.errors == []
