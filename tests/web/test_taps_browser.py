"""A tap holds on a live region redrawn under the finger (real Chromium, real nodes R1, R2, K1 over TLS).

A tap is a press and a release on one element: a region rebuilt whole between the two (another device
changed what it shows) loses it, as the open orders list once did (the split test's failure in CI).
Each region drawn from live data keeps its elements by key (``Mesh.keyed`` in common.js): the kitchen's
tickets while another ticket moves, its stop list while another item is stopped, the register's order
lines while another register adds to the same order, and the product grid while the stop list changes.
Each test presses, has another device change the region, awaits the redraw, releases, and awaits the
tap's effect: a finger's 150 ms tap straddles a redraw often enough on a busy venue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.node import Node

from .cdp import Browser, Page
from .conftest import running
from .kit import make_configs
from .test_pages_browser import add, cook_signs_in, count, log_in_and_open_shift, q


@pytest.fixture
def venue(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("R2", "register"), ("K1", "kds")])


@pytest.fixture
async def nodes(venue: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(venue) as started:
        yield started


async def tap_across_a_redraw(
    page: Page, target: str, change: Callable[[], Awaitable[object]], redrawn: str, what: str
) -> None:
    """Press on ``target`` (a JS expression for an element), let ``change`` happen on another device,
    await ``redrawn`` (the region showing it), then release where the press was."""
    box = await page.eval(
        f"(r => ({{x: r.left + r.width / 2, y: r.top + r.height / 2}}))({target}.getBoundingClientRect())"
    )
    for kind in ("mouseMoved", "mousePressed"):
        await page.send(
            "Input.dispatchMouseEvent", {"type": kind, **box, "button": "left", "clickCount": 1}
        )
    await change()
    await page.wait(redrawn, what=what)
    await page.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseReleased", **box, "button": "left", "clickCount": 1},
    )


def card(ticket_id: str) -> str:
    return q(f"article.ticket[data-ticket={json.dumps(ticket_id)}]")


async def board(nodes: list[Node], browser: Browser, tables: int) -> tuple[Page, list[str]]:
    """R1 sends a ticket per table; K1's kitchen page showing them all, and their ids."""
    r1, _, k1 = nodes
    await r1.open_shift(CASHIER, 0)
    tickets = []
    for table in range(1, tables + 1):
        order = await r1.open_order(CASHIER, table=str(table))
        await r1.add_line(CASHIER, order.id, "burger", 1)
        ticket = await r1.send_to_kitchen(CASHIER, order.id)
        assert ticket is not None
        tickets.append(ticket.id)
    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    await cook_signs_in(kitchen)
    shown = " && ".join(card(t) for t in tickets)
    await kitchen.wait(shown, timeout=15, what="the tickets")
    return kitchen, tickets


async def test_a_bump_holds_while_another_ticket_moves(nodes: list[Node], browser: Browser) -> None:
    k1 = nodes[2]
    kitchen, (pressed, other) = await board(nodes, browser, 2)
    await tap_across_a_redraw(
        kitchen,
        f"{card(pressed)}.querySelector('button[data-action=bump]')",
        lambda: k1.bump(COOK, other),  # as another kitchen screen would, mid-tap
        f"{card(other)}?.dataset.state === 'cooking'",
        "the other ticket cooking",
    )
    await kitchen.wait(f"{card(pressed)}?.dataset.state === 'cooking'", what="the tapped ticket")
    assert kitchen.errors == []


async def test_a_bump_is_dropped_when_another_screen_moved_that_ticket_mid_tap(
    nodes: list[Node], browser: Browser
) -> None:
    """A button means the move from the state it showed: pressed on "Start cooking", released after
    another screen started cooking it, it must not land as "Ready" (its element is replaced)."""
    k1 = nodes[2]
    kitchen, (ticket,) = await board(nodes, browser, 1)
    button = f"{card(ticket)}.querySelector('button[data-action=bump]')"
    mark = len(kitchen.traffic)
    await tap_across_a_redraw(
        kitchen,
        button,
        lambda: k1.bump(COOK, ticket),
        f"{card(ticket)}?.dataset.state === 'cooking'",
        "the ticket cooking",
    )
    # a click's request is sent while the release is dispatched: one asked for after it comes later
    await kitchen.eval(
        "Mesh.api('GET', '/api/catalog')"
    )  # its reply comes after its request's event
    requests = [w for k, w in kitchen.traffic[mark:] if k == "request"]
    assert "GET /api/catalog" in requests
    bumps = [w for w in requests[: requests.index("GET /api/catalog")] if w.endswith("/bump")]
    assert bumps == []
    assert (await kitchen.eval(f"{card(ticket)}.dataset.state")) == "cooking"
    assert kitchen.errors == []


async def test_a_stop_tap_holds_while_another_item_is_stopped(
    nodes: list[Node], browser: Browser
) -> None:
    r1, _, k1 = nodes
    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    await cook_signs_in(kitchen)
    await kitchen.click("#stops-button")
    item = "#stop-items li[data-product={}]"
    await kitchen.wait(q(item.format("fries")), timeout=15, what="the stop list")
    await tap_across_a_redraw(
        kitchen,
        q(item.format("fries") + " button"),
        lambda: r1.set_stop(MANAGER, "burger", True),  # another device stops another item
        q(item.format("burger") + ".stopped"),
        "burger stopped",
    )
    await kitchen.wait(q(item.format("fries") + ".stopped"), what="the tapped item stopped")
    assert k1.venue.stoplist.is_stopped("fries")
    assert kitchen.errors == []


async def a_burger_on_r1_and_r2_at_work(
    nodes: list[Node], browser: Browser
) -> tuple[Page, str, str]:
    """R1's page with an order of one burger, R2's shift open: the page, the order's and the line's ids."""
    r1, r2, _ = nodes
    register = await browser.new_page("register (R1)")
    await register.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(register)
    await add(register, "burger", 1)
    order_id = await register.eval("state.order.id")
    line = await register.eval("state.order.lines[0].id")
    await r2.open_shift(MANAGER, 0)
    return register, order_id, line


async def test_a_quantity_tap_holds_while_another_register_adds_to_the_order(
    nodes: list[Node], browser: Browser
) -> None:
    r2 = nodes[1]
    register, order_id, line = await a_burger_on_r1_and_r2_at_work(nodes, browser)
    await tap_across_a_redraw(
        register,
        q(f"#lines li[data-line={json.dumps(line)}] .qty-up"),
        lambda: r2.add_line(MANAGER, order_id, "fries", 1),  # the other register, same order
        f"{count('#lines li')} === 2",
        "the other register's line on screen",
    )
    # a new quantity is a new line record (its id changes): the burger's line, found by its product
    await register.wait(
        "state.order.lines.find((l) => l.product_id === 'burger')?.quantity === 2"
        " && [...document.querySelectorAll('#lines .qty')].map((e) => e.innerText).join() === '2 ×,1 ×'",
        what="the tapped line at 2",
    )
    assert register.errors == []


async def test_a_quantity_tap_is_dropped_when_another_register_sent_the_line_mid_tap(
    nodes: list[Node], browser: Browser
) -> None:
    """A line's − + mean a change of the quantity it showed, of a line the kitchen does not have yet:
    sent to the kitchen by another register mid-tap, the line is replaced (keyed by it), the tap dropped."""
    r2 = nodes[1]
    register, order_id, line = await a_burger_on_r1_and_r2_at_work(nodes, browser)
    mark = len(register.traffic)
    await tap_across_a_redraw(
        register,
        q(f"#lines li[data-line={json.dumps(line)}] .qty-up"),
        lambda: r2.send_to_kitchen(MANAGER, order_id),
        q("#lines .sent"),
        "the line sent to the kitchen",
    )
    # a click's request is sent while the release is dispatched: one asked for after it comes later
    await register.eval(
        "Mesh.api('GET', '/api/catalog')"
    )  # its reply comes after its request's event
    requests = [w for k, w in register.traffic[mark:] if k == "request"]
    assert "GET /api/catalog" in requests
    changes = [w for w in requests[: requests.index("GET /api/catalog")] if w.endswith("/quantity")]
    assert changes == []
    assert register.errors == []


async def test_a_product_tap_holds_while_the_stop_list_changes(
    nodes: list[Node], browser: Browser
) -> None:
    r1, _, k1 = nodes
    register = await browser.new_page("register (R1)")
    await register.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(register)
    await tap_across_a_redraw(
        register,
        q("#products [data-product=burger]"),
        lambda: k1.set_stop(COOK, "fries", True),  # the kitchen runs out of fries, mid-tap
        q("#products .stopped[data-product=fries]"),
        "fries marked stopped",
    )
    await register.wait(
        "state.order?.lines.length === 1 && state.order.lines[0].product_id === 'burger'",
        what="the tapped burger in the order",
    )
    assert register.errors == []
