"""The register page says when its shift was left open past its business day, and stops once it is closed
(Chromium, a real node whose store holds a shift it opened three days ago; the twentieth session, part
longshift). Before, nothing said it: the page stayed green while every day since stayed loaded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.localapi import LocalApi
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.store import SqliteStore
from meshpos.trust._files import read_token

from ..mesh.kit import make_device, make_venue
from ..mesh.test_shift_overdue import _shift_left_open
from .cdp import Browser
from .conftest import running

BANNER = "document.querySelector('#shift-warning')"


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[Config, str]:
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R1", heartbeat_interval=0.2), env={})
    date, updates = _shift_left_open(3)
    async with await SqliteStore.open(config.db_path) as store:
        await store.append(list(updates.items()))
    return config, date


@pytest.fixture
async def nodes(seeded: tuple[Config, str]) -> AsyncIterator[list[Node]]:
    async with running([seeded[0]]) as started:
        yield started


async def test_the_register_page_says_a_shift_is_open_since_days_until_closed(
    seeded: tuple[Config, str], nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    config, date = seeded
    (r1,) = nodes
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    text = await page.wait(
        f"!{BANNER}.hidden && {BANNER}.textContent", what="the shift warning on the register page"
    )
    assert text == f"Shift: shift open since {date}: close it"
    await page.screenshot(artifacts / "register-shift-warning.png")
    api = LocalApi(r1.api_url, read_token(config.data_dir / "api.token"))
    body = {"user": CASHIER, "counted_cash": 0}
    await asyncio.to_thread(api.call, "POST", "/api/shifts/current/close", body)
    await page.wait(f"{BANNER}.hidden", what="the shift warning gone")
    assert page.errors == []
