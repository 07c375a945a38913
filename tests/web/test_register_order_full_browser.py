"""The register page at an order's line limit (issue 18, keep; Chromium, a real node R1): an order a
peer filled to ``MAX_ORDER_LINES`` lines, one more tap shows the node's refusal naming the limit and
what to do instead, and the order on screen keeps its lines. Fails before the fix: the tap added a
line. Screenshots go to the artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.harness.wait import until
from meshpos.model.limits import MAX_ORDER_LINES
from meshpos.node import Node

from .cdp import Browser
from .conftest import running
from .kit import make_configs
from .test_api_order_full import lines_from_a_peer
from .test_pages_browser import add, count, log_in_and_open_shift, q


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as (node,):
        yield node


async def test_a_tap_on_a_full_order_shows_the_limit_and_adds_nothing(
    r1: Node, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page)
    await add(page, "burger", 1)
    order_id = await page.eval("state.order.id")
    await lines_from_a_peer(r1, tmp_path / "venue", order_id, MAX_ORDER_LINES - 1, 90303)
    await until(
        lambda: len(r1.order(order_id).lines) == MAX_ORDER_LINES, 30, "the lines on R1", on=[r1]
    )
    await page.wait(
        f"{count('#lines li')} === {MAX_ORDER_LINES}", timeout=30, what="the full order shown"
    )
    await page.click("#products [data-product=fries]")
    shown = await page.wait(
        f"!{q('#notice')}.hidden && {q('#notice')}.innerText.includes('most an order may hold')"
        f" && {q('#notice')}.innerText",
        timeout=10,
        what="the refusal shown",
    )
    assert f"({MAX_ORDER_LINES})" in str(shown)
    assert "quantity" in str(shown)
    await page.screenshot(artifacts / "order-full-1-refused.png")
    assert await page.eval(count("#lines li")) == MAX_ORDER_LINES
    assert len(r1.order(order_id).lines) == MAX_ORDER_LINES
