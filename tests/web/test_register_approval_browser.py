"""Manager approval on the spot in a real headless Chromium: a cashier without the refund right opens a
receipt from today's list, refunds one line, and a manager types their PIN on the cashier's screen; the
refund record names the approver and the cashier stays logged in. Screenshots go to the artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.harness.wait import until
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node import Node

from .cdp import Browser
from .conftest import running
from .kit import PIN, make_configs
from .test_pages_browser import add, count, log_in_and_open_shift, q


@pytest.fixture
def register(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register")])


@pytest.fixture
async def r1(register: list[Config]) -> AsyncIterator[Node]:
    async with running(register) as (node,):
        yield node


async def test_a_manager_approves_a_cashiers_line_refund_on_the_cashiers_screen(
    r1: Node, browser: Browser, artifacts: Path
) -> None:
    page = await browser.new_page("register R1")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page, CASHIER)
    await add(page, "espresso", 1)
    await add(page, "croissant", 2)
    await page.click("#pay-button")
    await page.click("#pay-confirm")
    await page.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
    number = await page.text("#receipt-number")
    await page.click("#receipt-done")

    # today's receipts: the cashier opens the one just issued and refunds one croissant
    await page.click(f"#receipts [data-number='{number}'] button")
    await page.wait(f"{q('#receipt-view-dialog')}.open", what="the receipt opened")
    assert await page.text("#view-number") == number
    croissant = await page.eval(
        "[...document.querySelectorAll('#view-lines tr')].find(tr => "
        "tr.innerText.includes('Croissant')).dataset.line"
    )
    await page.fill(f"#view-lines input[data-refund='{croissant}']", "1")
    await page.fill("#refund-reason", "burnt")
    await page.screenshot(artifacts / "1-refund-chosen.png")
    await page.click("#refund-lines")

    # Anna may not refund: the same screen asks for someone who may, Max preselected as the only one
    await page.wait(f"{q('#approval-dialog')}.open", what="the approval dialog")
    assert "refund" in await page.text("#approval-why")
    assert await page.eval(count("#approvers button")) == 1
    assert await page.eval(q(f"#approvers [data-approver={MANAGER}]") + ".className") == "chosen"
    await page.fill("#approval-pin", "0000")
    await page.click("#approval-ok")
    await page.wait(
        f"{q('#approval-dialog')}.open && !{q('#approval-error')}.hidden",
        what="a wrong PIN refused in the dialog",
    )
    assert "wrong PIN" in await page.text("#approval-error")
    await page.fill("#approval-pin", PIN)
    await page.screenshot(artifacts / "2-manager-types-pin.png")
    await page.click("#approval-ok")
    await page.wait(
        f"{count('#view-refunds li')} === 1 && "
        f"{q('#view-refunds li')}.innerText.includes('approved by Max')",
        what="the refund listed with its approver",
    )
    await page.screenshot(artifacts / "3-refund-approved.png")

    # the record names both: the cashier who refunded, the manager who approved
    receipt_id = await page.eval("viewed.receipt.id")
    refunds = r1.refunds(receipt_id)
    assert [(r.user, r.approved_by, r.reason) for r in refunds] == [(CASHIER, MANAGER, "burnt")]
    assert [line.line_id for line in refunds[0].lines] == [croissant]
    # and the cashier is still the one logged in
    assert await page.text("#who") == "Anna"
    assert await page.eval("JSON.parse(sessionStorage.getItem('meshpos-user')).id") == CASHIER

    # the other dialogs answer the same way: an amount (cash in) and a reason (void), then approval
    await page.eval(f"{q('#receipt-view-dialog')}.close()")
    shift = r1.current_shift()
    assert shift is not None
    before = r1.expected_cash(shift)
    await page.click("#menu-button")
    await page.click("#cash-in")
    await page.wait(f"{q('#amount-dialog')}.open", what="the amount dialog")
    await page.fill("#amount-input", "5.00")
    await page.click("#amount-ok")
    await until(lambda: r1.expected_cash(shift) == before + 500, 5, "the cash in recorded", on=[r1])

    await add(page, "croissant", 1)
    order_id = await page.eval("state.order.id")
    await page.click("#void-order")
    await page.wait(f"{q('#reason-dialog')}.open", what="the reason dialog")
    await page.fill("#reason-input", "walked out")
    await page.click("#reason-ok")
    await page.wait(f"{q('#approval-dialog')}.open", what="approval for the void")
    await page.fill("#approval-pin", PIN)
    await page.click("#approval-ok")
    await page.wait("state.orderId === ''", what="the void approved and the order left")
    await until(lambda: r1.order(order_id).voided, 5, "the order voided", on=[r1])
