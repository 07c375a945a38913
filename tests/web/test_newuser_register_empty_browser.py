"""A new venue's register page before any staff reached it: it said "Who is selling?" over an empty
list, with a PIN field and a Log in button, and nothing about where the staff come from. Now it says
that staff are added on the console and arrive when the register is in sync; the hint is gone once a
seller is there. Real nodes and a real headless Chromium on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser
from .conftest import running
from .kit import make_configs


def q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


@pytest.fixture
async def empty_register(tmp_path: Path) -> AsyncIterator[Node]:
    path = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=None)
    async with running([load_config(path, env={})]) as nodes:
        yield nodes[0]


@pytest.fixture
async def seeded_register(tmp_path: Path) -> AsyncIterator[Node]:
    configs: list[Config] = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as nodes:
        yield nodes[0]


async def test_a_register_without_staff_says_where_they_come_from(
    empty_register: Node, browser: Browser
) -> None:
    page = await browser.new_page("R1")
    await page.goto(f"{empty_register.api_url}/")
    await page.wait(f"!{q('#login')}.hidden", what="the login card")
    await page.wait(f"!{q('#no-sellers')}.hidden", what="the hint")
    hint = await page.text("#no-sellers")
    assert "console" in hint
    assert "Staff" in hint


async def test_the_hint_is_hidden_once_a_seller_is_there(
    seeded_register: Node, browser: Browser
) -> None:
    page = await browser.new_page("R1")
    await page.goto(f"{seeded_register.api_url}/")
    await page.wait(f"{q('#users button')} !== null", what="a seller's button")
    assert await page.eval(f"{q('#no-sellers')}.hidden") is True
