"""A receipt paid by card and cash, refunded on the register page (Chromium, a real node R1).

The rule (meshpos/model/refund_tenders.py): a refund goes back by one tender, the cashier's choice or
else the first tender in the order paid that can take it whole; cash never more than the receipt took
in cash less the cash given back. The dialog shows each tender and the most cash that may go back; cash
beyond it is refused in words and nothing is written; the refunds list and the X report show which
tender each refund went back by. Screenshots go to the artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.model.sample import MANAGER
from meshpos.node import Node

from .cdp import Browser, Page
from .conftest import running
from .kit import make_configs
from .test_pages_browser import count, log_in_and_open_shift, q

CARD = 500  # of a burger (1250) and fries (450): 1700, the rest, 1200, in cash


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as (node,):
        yield node


async def choose(page: Page, method: str) -> None:
    """Pick a tender in the "Give back by" list (a native select: set as its keyboard would)."""
    await page.eval(
        f"(s => {{ s.value = {method!r}; s.dispatchEvent(new Event('change')); }})"
        "(document.querySelector('#refund-method'))"
    )


async def test_a_card_and_cash_receipt_is_refunded_by_the_tender_shown(
    r1: Node, browser: Browser, artifacts: Path
) -> None:
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page, MANAGER)

    def sell(venue: object, now: int) -> tuple[str, str]:
        from meshpos.model import Venue

        assert isinstance(venue, Venue)
        order = venue.open_order(MANAGER, now)
        venue.add_line(MANAGER, order.id, "burger", 1, now)
        venue.add_line(MANAGER, order.id, "fries", 1, now)
        venue.pay(MANAGER, order.id, "card", now, amount=CARD)
        paid = venue.pay(MANAGER, order.id, "cash", now)
        assert paid.receipt is not None
        return paid.receipt.id, paid.receipt.number

    receipt_id, number = await r1.write(sell)
    lines = {line.name: line.line_id for line in r1.receipt(receipt_id).lines}
    cash = r1.receipt(receipt_id).total - CARD

    await page.click(f"#receipts [data-number='{number}'] button")
    await page.wait(f"{q('#receipt-view-dialog')}.open", what="the receipt opened for a refund")
    shown = await page.text("#view-tenders")
    assert "card 5.00" in shown
    assert f"cash {cash // 100}.{cash % 100:02d}" in shown
    assert f"cash back at most {cash // 100}.{cash % 100:02d}" in shown
    await page.screenshot(artifacts / "refund-tenders-1-shown.png")

    # all of it in cash: more than the cash it took, refused in words, nothing written
    await choose(page, "cash")
    await page.fill("#refund-reason", "wrong order")
    await page.click("#refund-all")
    await page.wait(
        f"{q('#notice')}.innerText.includes('cannot give back')", what="the cash refund refused"
    )
    assert f"it took {cash} in cash" in await page.text("#notice")
    assert r1.refunds(receipt_id) == []

    # the fries by the rule: the card paid first and can take 450 whole
    await choose(page, "")
    await page.fill(f"#view-lines input[data-refund='{lines['Fries']}']", "1")
    await page.click("#refund-lines")
    await page.wait(f"{count('#view-refunds li')} === 1", what="the fries refunded")
    assert "(card)" in await page.text("#view-refunds li")
    # the burger in cash, chosen: 1250 is more than the 1200 cash took, refused; by card it goes
    await choose(page, "cash")
    await page.fill(f"#view-lines input[data-refund='{lines['Burger']}']", "1")
    await page.click("#refund-lines")
    await page.wait(
        f"{q('#notice')}.innerText.includes('cannot give back 1250 in cash')",
        what="the burger's cash refund refused",
    )
    await choose(page, "card")
    await page.click("#refund-lines")
    await page.wait(f"{count('#view-refunds li')} === 2", what="the burger refunded by card")
    await page.screenshot(artifacts / "refund-tenders-2-refunded.png")
    assert [r.method for r in r1.refunds(receipt_id)] == ["card", "card"]
    shift = r1.current_shift()
    assert shift is not None
    report = r1.shift_report(shift.id)
    assert (report.refunds, report.cash_refunds) == (1250 + 450, 0)
    assert report.drawer_expected == shift.opening_cash + cash  # the drawer paid nothing out
