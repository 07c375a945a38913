"""The kitchen tells the truth on real screens (issue 17, kitchen; Chromium, real nodes R1 and K1 over TLS):
a voided order shows void on the kitchen page within a second, with its table in the venue's words and its
waiter; with the only kitchen screen gone, the register page warns of a ticket no screen holds within
``KITCHEN_ACK_MS`` (docs/architecture.md (Documents))."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.model import KITCHEN_ACK_MS
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser
from .conftest import running
from .kit import CATALOG
from .test_pages_browser import cook_signs_in

VOID_SHOWN_S = 1.0  # the bound
MARGIN_S = 1.0  # the page ages its tickets once a second


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    authority = make_venue(tmp_path)
    return [
        load_config(
            make_device(
                authority, tmp_path, node, role=role, heartbeat_interval=0.2, catalog=CATALOG
            ),
            env={},
        )
        for node, role in (("R1", "register"), ("K1", "kds"))
    ]


@pytest.fixture
async def nodes(configs: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(configs) as started:
        yield started


async def test_a_void_shows_on_the_kitchen_page_and_a_silent_kitchen_on_the_register(
    nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    r1, k1 = nodes
    await r1.open_shift(CASHIER, 0)
    order = await r1.open_order(CASHIER, table="12")
    await r1.add_line(CASHIER, order.id, "burger", 1)
    ticket = await r1.send_to_kitchen(CASHIER, order.id)
    assert ticket is not None

    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    await cook_signs_in(kitchen)
    card = f"document.querySelector('article.ticket[data-ticket=\"{ticket.id}\"]')"
    await kitchen.wait(card, timeout=15, what="the ticket")
    title = await kitchen.eval(f"{card}.querySelector('.label').textContent")
    source = await kitchen.eval(f"{card}.querySelector('.from').textContent")
    assert title == "Table 12"
    assert "R1" in source
    assert r1.catalog().user(CASHIER).name in source
    await kitchen.screenshot(artifacts / "1-kitchen-before-void.png")

    await r1.void_order(MANAGER, order.id, "guest left")
    voided = time.monotonic()
    await kitchen.wait(
        f"{card}.dataset.void === 'true' && {card}.querySelector('.state').textContent === 'void'"
        f" && {card}.querySelector('footer button').textContent === 'Clear'",
        timeout=VOID_SHOWN_S,
        what="the void on the kitchen page",
    )
    print(f"void shown on the kitchen page after {time.monotonic() - voided:.3f} s")
    await kitchen.screenshot(artifacts / "2-kitchen-void.png")
    await kitchen.eval(f"{card}.querySelector('footer button').click()")
    await kitchen.wait(f"!{card}", what="the cleared void ticket gone from the board")
    assert kitchen.errors == []

    register = await browser.new_page("register (R1)")
    await register.goto(f"{r1.api_url}/")
    await k1.stop()  # the only kitchen screen goes away
    silent = await r1.open_order(CASHIER, table="7")
    await r1.add_line(CASHIER, silent.id, "fries", 1)
    lost = await r1.send_to_kitchen(CASHIER, silent.id)
    assert lost is not None
    sent = time.monotonic()
    warning = "document.querySelector('#kitchen-warning')"
    await register.wait(
        f"!{warning}.hidden && {warning}.dataset.lost.includes('{lost.id}')",
        timeout=KITCHEN_ACK_MS / 1000 + MARGIN_S,
        what="the register's warning of a silent kitchen",
    )
    took = time.monotonic() - sent
    assert took >= KITCHEN_ACK_MS / 1000 - MARGIN_S  # not before the kitchen had its time
    assert "Table 7" in await register.eval(f"{warning}.textContent")
    print(f"register warned after {took:.3f} s")
    await register.screenshot(artifacts / "3-register-kitchen-warning.png")
    assert register.errors == []
