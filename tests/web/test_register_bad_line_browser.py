"""A malformed line a malicious enrolled device writes into the order on screen (Chromium, a real node R1,
the device dialling R1's mesh port over mTLS). The page shows the line as unreadable and not counted,
the total stays what the readable lines make, and the cashier goes on adding to the order; the line is in
R1's alarms (model/order_lines.py). Screenshots go to the artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.config import Config
from meshpos.model.documents import ledger_name
from meshpos.node import Node
from meshpos.sync import SyncUpdate
from meshpos.trust import load_venue

from ..mesh.attacker import Attacker
from ..trust.helpers import issue_identity
from .cdp import Browser
from .conftest import running
from .kit import make_configs
from .test_pages_browser import add, count, log_in_and_open_shift, q


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as (node,):
        yield node


async def test_a_bad_line_shows_as_unreadable_and_the_order_goes_on(
    r1: Node, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page)
    await add(page, "burger", 1)
    order_id = await page.eval("state.order.id")
    total = await page.text("#totals [data-total=total]")

    evil = await Attacker.dial(
        issue_identity(load_venue(tmp_path / "venue"), "R9"), "R1", "127.0.0.1", r1.port
    )
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello("register", client_id=90216))
        name = ledger_name(r1.business_date(r1.now_ms()))
        ledger: Doc[Any] = Doc(client_id=90216)
        ledger.apply_update(await evil.fetch(name))
        seen = ledger.get_state()
        record = ledger.get("orders", type=Map)[order_id]
        record["lines/evil-line"] = {"product_id": "burger", "quantity": -3}
        await evil.send(SyncUpdate(name, ledger.get_update(seen)))
    finally:
        await evil.close()

    await page.wait(f"{count('#lines li.unreadable')} === 1", timeout=10, what="the bad line shown")
    shown = await page.text("#lines li.unreadable")
    assert "Unreadable line: not counted" in shown
    assert "listed in the alarms" in shown
    assert await page.text("#totals [data-total=total]") == total  # it counts for nothing
    assert r1.status().corrupt_records >= 1
    await page.screenshot(artifacts / "bad-line-1-shown.png")

    await add(page, "fries", 3)  # two readable lines and the unreadable one
    assert await page.eval(f"!{q('#pay-button')}.disabled")
    assert [line.product_id for line in r1.order(order_id).lines] == ["burger", "fries"]
    await page.screenshot(artifacts / "bad-line-2-order-goes-on.png")
