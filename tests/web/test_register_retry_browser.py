"""The register page's answer lost on the way back (real Chromium, a real node R1): the tap is written once.

The line's POST reaches the node and is committed; Chromium then drops its answer (DevTools' Fetch domain
fails the request at the response stage, what a Wi-Fi that drops the reply does). The page sends the same
request again with the same ``Idempotency-Key`` (common.js ``api``), the node answers the first answer
again, and the order holds one line for the tap, not two; no error is shown. Before, the page sent no key
and did not retry: the cashier saw "This device's node does not answer." and tapped again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.node import Node

from .cdp import Browser
from .conftest import running
from .kit import make_configs
from .test_pages_browser import add, count, log_in_and_open_shift, q


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as (node,):
        yield node


async def test_a_line_whose_answer_was_lost_is_sent_again_and_written_once(
    r1: Node, browser: Browser
) -> None:
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(page)
    await add(page, "burger", 1)
    order_id = await page.eval("state.order.id")

    seen: list[dict[str, Any]] = []  # the line POSTs' requests and answers, as Chromium had them
    tasks: list[asyncio.Task[dict[str, Any]]] = []

    def paused(session: str, params: dict[str, Any]) -> None:
        if session != page.session:
            return
        seen.append(params)
        request = params["requestId"]
        if len(seen) == 1:  # committed on the node; its answer never reaches the page
            command = page.send(
                "Fetch.failRequest", {"requestId": request, "errorReason": "Failed"}
            )
        else:
            command = page.send("Fetch.continueRequest", {"requestId": request})
        tasks.append(asyncio.ensure_future(command))

    browser.on("Fetch.requestPaused", paused)
    pattern = {"urlPattern": "*/lines", "requestStage": "Response"}
    await page.send("Fetch.enable", {"patterns": [pattern]})
    await page.click("#products [data-product=fries]")
    await page.wait(f"{count('#lines li')} === 2", what="the fries' line after the retry")
    await page.send("Fetch.disable")
    await asyncio.gather(*tasks)

    assert len(seen) == 2, [s["request"]["headers"] for s in seen]  # the first and its retry
    keys = [s["request"]["headers"].get("Idempotency-Key") for s in seen]
    assert keys[0]
    assert keys[0] == keys[1]
    assert [s["responseStatusCode"] for s in seen] == [201, 201]
    replayed = {h["name"].lower(): h["value"] for h in seen[1]["responseHeaders"]}
    assert replayed.get("idempotent-replayed") == "true"
    lines = [line.product_id for line in r1.order(order_id).lines]
    assert sorted(lines) == ["burger", "fries"]  # one line per tap
    assert await page.eval(f"{q('#notice')}.hidden")  # no error was shown
    assert not page.errors
