"""X and Z reports, a "no sale" opening, a past receipt found by table, by amount and by number,
reprinted and reopened for a refund (both with its modifiers and discounts) and refunded whole on the
register page, in a real headless Chromium against a real node, under the venue's blind count (issue
17). The page's figures are the node's report of the shift; the Z of the venue's only shift ends the
business day. Screenshots go to the artifacts."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import until
from meshpos.model import Replica, Venue
from meshpos.model.sample import MANAGER
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser, Page
from .conftest import running
from .test_api_shift_reports import _blind_catalog
from .test_pages_browser import add, count, log_in_and_open_shift, q

ZONE = "Asia/Kolkata"  # the venue's clock (UTC+05:30), not the device's (the browser's: UTC here)


def _zoned_blind_catalog() -> bytes:
    """The blind-count venue, keeping Kolkata's clock."""
    replica = Replica()
    replica.apply("catalog", _blind_catalog())
    catalog = Venue(replica, device="console", role="console").catalog
    catalog.put_settings(dataclasses.replace(catalog.settings(), timezone=ZONE))
    return replica.doc("catalog").get_update()


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    path = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=_zoned_blind_catalog())
    async with running([load_config(path, env={})]) as (node,):
        yield node


def shown(cents: int) -> str:
    """An amount as the page shows it (the sample venue's currency has 2 digits)."""
    return f"{cents / 100:.2f} EUR"


async def figure(page: Page, key: str) -> str:
    return str(await page.text(f"#report-figures [data-figure={key}]"))


async def menu(page: Page, entry: str) -> None:
    await page.click("#menu-button")
    await page.click(f"#{entry}")


async def test_x_no_sale_reprint_and_a_z_that_ends_the_day(
    r1: Node, browser: Browser, artifacts: Path
) -> None:
    page = await browser.new_page("register R1")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page, MANAGER)
    # at table 7, a latte with a modifier and a croissant with a line discount: the reprint shows both
    await page.click("#place-button")
    await page.wait(f"{q('#place-dialog')}.open", what="the table dialog")
    await page.fill("#place-table", "7")
    await page.click("#place-ok")
    await page.wait("state.order?.table === '7'", what="the order at table 7")
    await page.click("#products [data-product=latte]")
    await page.click("#modifier-groups input[value=large]")
    await page.click("#modifiers-add")
    await page.wait(f"{count('#lines li')} === 1", what="the latte line")
    await page.click("#discount-button")
    await page.click("#discount-choices [data-discount=staff]")
    await add(page, "croissant", 2)
    await page.click("#pay-button")
    await page.click("#pay-confirm")
    await page.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
    number = await page.text("#receipt-number")
    await page.click("#receipt-done")
    today = r1.business_date(r1.now_ms())

    # the drawer opened with no sale: a reason, and a record
    await menu(page, "no-sale")
    await page.wait(f"{q('#reason-dialog')}.open", what="the no-sale reason")
    await page.fill("#reason-input", "change for a guest")
    await page.click("#reason-ok")
    await until(lambda: len(r1.no_sales(today)) == 1, 5, "the no-sale recorded", on=[r1])

    # X: the node's report of the shift, the expected cash hidden by the blind count
    shift = r1.current_shift()
    assert shift is not None
    await menu(page, "x-report")
    await page.wait(f"{q('#report-dialog')}.open", what="the X report")
    x = r1.shift_report(shift.id)
    assert (await page.text("#report-title")).startswith("X report")
    assert await figure(page, "receipts") == str(x.receipts) == "1"
    for key in ("sales", "cash_taken", "card_taken", "refunds", "cash_in", "cash_out"):
        assert await figure(page, key) == shown(getattr(x, key)), key
    assert await figure(page, "drawer_expected") == "hidden (blind count)"
    assert await page.eval(count("#report-no-sales li")) == 1
    assert "change for a guest" in await page.text("#report-no-sales")
    await page.screenshot(artifacts / "1-x-report.png")
    await page.click("#report-done")

    # a past receipt found by its table (another table finds nothing), by its amount as the cashier
    # types it (another amount finds nothing), then by its number, and reprinted
    total = r1.receipt(number).total
    await menu(page, "find-receipt")
    await page.wait(f"{q('#receipt-search-dialog')}.open", what="the search")
    await page.fill("#search-table", "8")
    await page.click("#search-go")
    await page.wait(f"{count('#search-results li.hint')} === 1", what="no receipt at table 8")
    await page.fill("#search-table", "7")
    await page.click("#search-go")
    await page.wait(f"{count('#search-results li[data-number]')} === 1", what="found by table")
    found = await page.text(f"#search-results [data-number='{number}']")
    assert "· table 7 ·" in found
    await page.fill("#search-table", "")
    await page.fill("#search-amount", f"{(total + 1) / 100:.2f}")
    await page.click("#search-go")
    await page.wait(f"{count('#search-results li.hint')} === 1", what="no receipt of that amount")
    await page.fill("#search-amount", f"{total / 100:.2f}")
    await page.click("#search-go")
    await page.wait(f"{count('#search-results li[data-number]')} === 1", what="found by amount")
    await page.fill("#search-amount", "")
    await page.fill("#search-number", number.split("-")[-1].lstrip("0") or number)
    # the amount search's result is the same receipt: marked, so the wait is for the number search's
    # own list (a click on the old one's button, replaced under it, opened nothing under load)
    await page.eval(
        "document.querySelectorAll('#search-results li').forEach(li => li.dataset.old = '1')"
    )
    await page.click("#search-go")
    await page.wait(
        f"{count('#search-results li[data-number]:not([data-old])')} === 1",
        what="the receipt found",
    )
    await page.click(f"#search-results [data-number='{number}'] button")
    await page.wait(f"{q('#reprint-dialog')}.open", what="the reprint")
    assert await page.text("#reprint-number") == number
    assert await page.eval("Intl.DateTimeFormat().resolvedOptions().timeZone") != ZONE
    venue_clock = await page.eval(
        f"new Date({r1.receipt(number).issued_at_ms}).toLocaleString([], {{timeZone: '{ZONE}'}})"
    )
    assert (await page.text("#reprint-when")).startswith(venue_clock)  # before: the device's
    assert await page.eval(count("#reprint-lines tr")) == 2
    printed = await page.text("#reprint-lines")
    assert "Large" in printed  # the modifier and the discount, from the receipt's order
    assert "Staff 50 % −" in printed
    assert "Discounts (Staff 50 %)" in await page.text("#reprint-totals")
    await page.screenshot(artifacts / "2-reprint.png")

    # reopened from the reprint and refunded whole, with a reason
    await page.click("#reprint-refund")
    await page.wait(f"{q('#receipt-view-dialog')}.open", what="the receipt reopened")
    refundable = await page.text("#view-lines")  # the lines as printed, with their modifiers
    assert "Large" in refundable
    assert "Staff 50 % −" in refundable
    await page.fill("#refund-reason", "wrong order")
    await page.click("#refund-all")
    await page.wait(f"{count('#view-refunds li')} === 1", what="the whole refund listed")
    receipt = r1.receipt(number)
    [refund] = r1.refunds(receipt.id)
    assert (refund.amount, refund.reason) == (receipt.total, "wrong order")
    assert sorted((x.line_id, x.quantity) for x in refund.lines) == sorted(
        (x.line_id, x.quantity) for x in receipt.lines
    )
    await page.eval(f"{q('#receipt-view-dialog')}.close()")

    # Z: counted blind (nothing pre-filled), then the figures, the difference and the day ended
    await menu(page, "z-report")
    await page.wait(f"{q('#amount-dialog')}.open", what="the count")
    assert await page.eval(f"{q('#amount-input')}.value") == ""
    expected = r1.expected_cash(shift)
    await page.fill("#amount-input", f"{(expected - 150) / 100:.2f}")
    await page.click("#amount-ok")
    await page.wait(
        f"{q('#report-dialog')}.open && {q('#report-title')}.innerText.startsWith('Z report')",
        what="the Z report",
    )
    assert await figure(page, "drawer_expected") == shown(expected)
    assert await figure(page, "difference") == shown(-150)
    assert f"Business day {today} ended" in await page.text("#report-day")
    await page.screenshot(artifacts / "3-z-report.png")
    assert today in r1.days().ended
    assert r1.current_shift() is None
