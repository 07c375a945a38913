"""A line the kitchen already has, voided on the register page (issue 17; Chromium, real nodes R1 and K1
over mTLS on loopback). The kitchen page names the ticket by its tab, register and waiter and shows the
latte's modifier; the cashier taps × on the burger, says why, and a manager approves on the cashier's
screen; the kitchen page marks that item void within a second and the rest of the ticket stays to cook.
The record keeps the cashier, the reason and the approver. Screenshots go to the artifacts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node import Node

from .cdp import Browser
from .conftest import running
from .kit import make_configs
from .test_kitchen_void_browser import VOID_SHOWN_S
from .test_pages_browser import add, count, log_in_and_open_shift, q
from .test_register_bills_browser import approve, line_of


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[Node]]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])
    async with running(configs) as started:
        yield started


async def test_a_sent_line_voided_on_the_register_shows_void_on_the_kitchen_page(
    nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    r1, k1 = nodes
    register = await browser.new_page("register (R1)")
    await register.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(register)
    await register.click("#place-button")  # an order on a tab: the kitchen names it so
    await register.wait(f"{q('#place-dialog')}.open", what="the table/tab dialog")
    await register.fill("#place-tab", "Smith")
    await register.click("#place-ok")
    await register.wait("state.order && state.order.tab === 'Smith'", what="the order on tab Smith")
    await add(register, "burger", 1)
    await add(register, "fries", 2)
    await register.click("#products [data-product=latte]")
    await register.click("#modifier-groups input[value=large]")
    await register.click("#modifiers-add")
    await register.wait(f"{count('#lines li')} === 3", what="the latte line")
    await register.click("#send-kitchen")
    await register.wait("state.order.sent_line_ids.length === 3", what="every line sent")
    order_id = await register.eval("state.order.id")
    burger = await register.eval(line_of("Burger"))

    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    items = "article.ticket li"
    await kitchen.wait(f"{count(items)} === 3", timeout=15, what="the ticket's three items")
    # the ticket in the venue's words: the tab, the register and the waiter, the latte's modifier
    assert await kitchen.text("article.ticket .label") == "Tab Smith"
    source = await kitchen.text("article.ticket .from")
    assert "R1" in source
    assert r1.catalog().user(CASHIER).name in source
    # and which kitchen screens hold it (K1 acknowledges once the ticket is saved)
    await kitchen.wait(
        f"{q('article.ticket .from')}.innerText.includes('on K1')", what="held on K1"
    )
    latte = await kitchen.eval(
        f"[...document.querySelectorAll('{items}')].find((li) => li.innerText.includes('Latte'))"
        ".innerText"
    )
    assert "Large" in latte

    await register.click(f"#lines li[data-line='{burger}'] button.remove")
    await register.wait(f"{q('#reason-dialog')}.open", what="the reason for the void")
    await register.fill("#reason-input", "wrong table")
    await register.click("#reason-ok")
    await approve(register, "the void of a sent line")  # a cashier may not void alone
    voided = time.monotonic()
    void_item = f"{q(items + '[data-void=true]')}"
    await kitchen.wait(
        f"{count(items + '[data-void=true]')} === 1 && {void_item}.innerText.includes('Burger')",
        timeout=VOID_SHOWN_S,
        what="the burger marked void on the kitchen page",
    )
    print(f"line void shown on the kitchen page after {time.monotonic() - voided:.3f} s")
    still = await kitchen.eval(
        f"[...document.querySelectorAll('{items}[data-void=false]')].map((li) => li.innerText)"
    )
    assert [x.split(" × ")[1].split("\n")[0] for x in still] == ["Fries", "Latte"]  # still cooks
    await kitchen.screenshot(artifacts / "1-kitchen-line-void.png")

    await register.wait(f"{count('#lines li')} === 2", what="the burger gone from the order")
    [removal] = r1.order(order_id).removals
    assert (removal.line_id, removal.user, removal.reason, removal.approved_by) == (
        burger,
        CASHIER,
        "wrong table",
        MANAGER,
    )
    assert await register.eval("state.user.id") == CASHIER  # still logged in
    await register.screenshot(artifacts / "2-register-after-line-void.png")
    assert register.errors == []
    assert kitchen.errors == []
