"""The X and Z reports a cashier reads on the register page equal the manager's Reports -> Shifts at the
console for the same shift (issue 17), in Debian's Chromium: a real ``meshpos node`` register (the
venue's relay) and a real ``meshpos console`` process with its SQLite file. Screenshots are kept."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from meshpos.localapi import read_token
from meshpos.model.sample import MANAGER

from ..console.reports_bed import give_manager_a_pin, register_and_console
from .cdp import Browser, Page
from .kit import PIN
from .test_pages_browser import add, count, log_in_and_open_shift, q

# Reports -> Shifts columns (console.html) a register's report also shows (data-figure keys)
COLUMNS = {
    "receipts": 6,
    "sales": 7,
    "cash_taken": 8,
    "card_taken": 9,
    "refunds": 10,
    "opening_cash": 11,
    "drawer_expected": 12,
    "no_sales": 15,
}


def number(shown: str) -> str:
    """An amount or count as shown, without its currency ("€5.30", "5.30 EUR" -> "5.30")."""
    return re.sub(r"[^0-9.-]", "", shown)


async def register_figures(page: Page) -> dict[str, str]:
    """The report on the register page, as numbers."""
    return {key: number(await page.text(f"#report-figures [data-figure={key}]")) for key in COLUMNS}


async def console_row(page: Page, report: str) -> dict[str, str]:
    """The shift's row in Reports -> Shifts once it is the ``report`` (X or Z), by column."""
    row = f"#shifts tbody tr[data-report={report}]"
    await page.wait(f"{count(row)} === 1", timeout=30, what=f"the {report} row at the console")
    cells = await page.eval(
        f"Array.from(document.querySelectorAll('{row} td'), td => td.innerText.trim())"
    )
    return {key: number(str(cells[i - 1])) for key, i in COLUMNS.items()}


async def menu(page: Page, entry: str) -> None:
    await page.click("#menu-button")
    await page.click(f"#{entry}")


@pytest.mark.slow
async def test_the_registers_x_and_z_are_the_consoles_shift_report(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    with register_and_console(tmp_path, open_shift=False) as (console, register, venue_id):
        await asyncio.to_thread(give_manager_a_pin, console, register, venue_id, PIN)
        till = await browser.new_page("register R1")
        await till.goto(f"{register.api}/")
        await log_in_and_open_shift(till, MANAGER)
        for lines, product in enumerate(("espresso", "croissant"), start=1):
            await add(till, product, lines)
        await till.click("#pay-button")
        await till.click("#pay-confirm")
        await till.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
        await till.click("#receipt-done")
        await menu(till, "no-sale")
        await till.wait(f"{q('#reason-dialog')}.open", what="the no-sale reason")
        await till.fill("#reason-input", "change")
        await till.click("#reason-ok")
        await till.wait("!document.querySelector('#reason-dialog').open", what="the no-sale sent")

        token = read_token(tmp_path / "console" / "console-admin.token")
        office = await browser.new_page("console reports")
        await office.goto(f"{console.ready['api']}/?token={token}#reports")
        await office.click("#report-tabs [data-report=shifts]")

        await menu(till, "x-report")
        await till.wait(f"{q('#report-dialog')}.open", what="the X report")
        x = await register_figures(till)
        assert (x["receipts"], x["no_sales"]) == ("1", "1")
        await till.screenshot(artifacts / "1-register-x.png")
        await office.wait(
            f"{q('#shifts tbody tr[data-report=X] td:nth-child(15)')}?.innerText === '1'",
            timeout=30,
            what="the no-sale counted at the console",
        )
        assert await console_row(office, "X") == x
        await office.screenshot(artifacts / "2-console-x.png")
        await till.click("#report-done")

        await menu(till, "z-report")
        await till.wait(f"{q('#amount-dialog')}.open", what="the count")
        assert await till.eval(f"{q('#amount-input')}.value") == x["drawer_expected"]  # not blind
        await till.click("#amount-ok")
        await till.wait(
            f"{q('#report-dialog')}.open && {q('#report-title')}.innerText.startsWith('Z report')",
            what="the Z report",
        )
        z = await register_figures(till)
        assert z == x
        assert "ended" in await till.text("#report-day")  # the venue's only shift: the day ends
        await till.screenshot(artifacts / "3-register-z.png")
        await office.click("#report-tabs [data-report=shifts]")
        assert await console_row(office, "Z") == z
        await office.screenshot(artifacts / "4-console-z.png")
        await office.click("#report-tabs [data-report=refunds]")
        await office.wait(
            f"{count('#no-sales tbody tr')} === 1",
            timeout=10,
            what="the no-sale opening in Reports -> Refunds and voids",
        )
        assert "change" in await office.text("#no-sales tbody tr")
        assert "Max P." in await office.text("#no-sales tbody tr")
