"""Found from the outside (the twenty-first session), as a cook in gloves: a double tap on "Start cooking"
told the waiter the burger was "Ready" (real Chromium, real nodes R1 and K1 over TLS).

The card's button is replaced only once the node's change comes back to the page, so a second tap
before that lands on the same "Start cooking" button; on one device the second bump is made from where
the first left the ticket (cooking) and counts: the ticket went new -> cooking -> ready with one
intention. The page now says which state the card showed (``from``), and a ticket that has left it is
409 ``ticket_moved``, changing nothing (tests/outside/test_kitchen_double_tap.py, the API).

Both clicks are dispatched on the one button element in one go, so the second always lands before any
redraw (as a quick double tap does on a busy kitchen display); the test then awaits both answers and
reads the board. On main the ticket is ``ready``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.model.sample import CASHIER
from meshpos.node import Node

from .cdp import Browser
from .conftest import running
from .kit import make_configs
from .test_pages_browser import cook_signs_in
from .test_taps_browser import card


@pytest.fixture
def venue(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])


@pytest.fixture
async def nodes(venue: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(venue) as started:
        yield started


async def test_a_double_tap_on_start_cooking_starts_cooking(
    nodes: list[Node], browser: Browser
) -> None:
    r1, k1 = nodes
    await r1.open_shift(CASHIER, 0)
    order = await r1.open_order(CASHIER, table="5")
    await r1.add_line(CASHIER, order.id, "burger", 1)
    sent = await r1.send_to_kitchen(CASHIER, order.id)
    assert sent is not None
    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    await cook_signs_in(kitchen)
    await kitchen.wait(f"{card(sent.id)}?.dataset.state === 'new'", timeout=15, what="the ticket")

    button = f"{card(sent.id)}.querySelector('button[data-action=bump]')"
    await kitchen.eval(f"(b => {{ b.click(); b.click(); }})({button})")  # one finger, twice
    await kitchen.wait("!Mesh.busy()", timeout=15, what="both taps answered")
    board = await kitchen.eval(
        "Mesh.api('GET', '/api/kitchen/tickets').then(b => b.tickets.map(t => [t.id, t.state]))"
    )
    assert board == [[sent.id, "cooking"]]  # main: ready
    await kitchen.wait(f"{card(sent.id)}?.dataset.state === 'cooking'", what="the card cooking")
    assert kitchen.errors == []
