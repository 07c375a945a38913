"""The register and kitchen pages in a real headless Chromium, each page served by its own real node; the
nodes are linked over mTLS on loopback. Everything is waited for by polling the DOM with a deadline.

A change reaches another device's page pushed: between the change and the page showing it, the page
sends no request but the fetches of what a pushed event named (Chromium's DevTools report both).

Screenshots go to $MESHPOS_ARTIFACTS (or the temp folder) and their paths are printed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.console import materialise
from meshpos.console.api import make_console_handler
from meshpos.harness.internet import InternetSwitch
from meshpos.harness.wait import until
from meshpos.httpapi.server import HttpServer
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.node import Node
from meshpos.trust import load_venue
from meshpos.web.sessions import page_token_of

from ..relay.consoles import Console, running_console
from .cdp import Browser, Page
from .conftest import running
from .kit import PIN, http, make_configs

# The nodes are fixtures requested before ``browser``: the browser's teardown, which keeps each page's
# last view, then runs while the nodes still serve the pages.


@pytest.fixture
def registers(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("R2", "register")])


@pytest.fixture
async def two_registers(registers: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(registers) as nodes:
        yield nodes


@pytest.fixture
def register_and_kitchen(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])


@pytest.fixture
async def register_and_kds(register_and_kitchen: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(register_and_kitchen) as nodes:
        yield nodes


# what a page fetches for each topic a pushed event names (meshpos.web.events.TOPICS; status: nothing)
FETCHES = {
    "orders": re.compile(r"GET /api/orders(/[^/]+)?"),
    "receipts": re.compile(r"GET /api/receipts"),
    "shift": re.compile(r"GET /api/shifts/current"),
    "menu": re.compile(r"GET /api/catalog"),
    "stops": re.compile(r"GET /api/stoplist"),
    "tickets": re.compile(r"GET /api/kitchen/tickets"),
}


async def quiet(page: Page) -> int:
    """Wait until the page fetches nothing; where its traffic stands then (mark it before a change)."""
    await page.wait("!Mesh.busy()", what="the page done fetching")
    return len(page.traffic)


def only_pushed_fetches(page: Page, since: int) -> set[str]:
    """Assert that since ``since`` the page sent nothing before a pushed event, and no request but the
    fetch of a topic a pushed event named before it; the topics named."""
    traffic = page.traffic[since:]
    assert traffic, f"{page.name}: no pushed event"
    assert traffic[0][0] == "push", f"{page.name} sent a request before any pushed event: {traffic}"
    named: set[str] = set()
    for kind, what in traffic:
        if kind == "push":
            named |= set(json.loads(what)["changed"])
        else:
            explained = [t for t in named if t in FETCHES and FETCHES[t].fullmatch(what)]
            assert explained, f"{page.name}: {what} with no pushed event naming it: {traffic}"
    return named


def q(selector: str) -> str:
    """A JS expression for the first element matching ``selector``."""
    return f"document.querySelector({json.dumps(selector)})"


def count(selector: str) -> str:
    return f"document.querySelectorAll({json.dumps(selector)}).length"


async def log_in_and_open_shift(page: Page, user: str = CASHIER) -> None:
    await page.click(f"#users button[data-user={user}]")
    await page.fill("#pin", PIN)
    await page.click("#login-button")
    await page.click("#open-shift")
    await page.wait(f"!{q('#sell')}.hidden", what="the sell screen")


async def cook_signs_in(page: Page, user: str = COOK) -> None:
    """The kitchen screen's sign-in (static/kitchen.js): tap your name, type your PIN."""
    await page.click(f"#cooks button[data-user={user}]", timeout=15)
    await page.fill("#cook-pin", PIN)
    await page.click("#cook-sign-in")
    await page.wait(
        f"{q('#cook')}.dataset.user === {json.dumps(user)} && {q('#sign-in')}.hidden",
        what=f"{user} signed in at the kitchen",
    )


async def end_sign_in_elsewhere(page: Page, node: Node) -> None:
    """End the page's sign-in on its node from outside the page (a logout from another tab; an idle
    end or a restart alike), as the node's own API takes it."""
    session = await page.eval("sessionStorage.getItem('meshpos-session')")
    ended = await http(
        node.api_url,
        "POST",
        "/api/logout",
        headers={
            "Authorization": f"Bearer {page_token_of(node.api_token)}",
            "X-Meshpos-Session": session,
        },
    )
    assert ended.json() == {"ended": True}


async def all_synced(page: Page, what: str) -> None:
    """Wait for a green indicator whose open panel says All data is synced."""
    await page.wait(f"{q('#sync')}.dataset.colour === 'green'", timeout=15, what=f"green ({what})")
    await page.wait(
        f"{q('#sync-panel')}.innerText.includes('All data is synced')", timeout=15, what=what
    )


async def add(page: Page, product: str, lines: int) -> None:
    await page.click(f"#products [data-product={product}]")
    await page.wait(f"{count('#lines li')} === {lines}", what=f"{lines} line(s) after {product}")


async def test_a_sale_on_one_register_appears_on_the_other_without_reload(
    two_registers: list[Node], browser: Browser, artifacts: Path
) -> None:
    r1, r2 = two_registers
    a = await browser.new_page("page A (R1)")
    b = await browser.new_page("page B (R2)")
    await a.goto(f"{r1.api_url}/")
    await b.goto(f"{r2.api_url}/")
    await log_in_and_open_shift(a, MANAGER)  # A clears the cache below: a manager's right
    await log_in_and_open_shift(b)
    await b.eval("window.neverReloaded = true")

    # linked, no console: yellow; tapping the indicator tells why and what is pending
    await a.wait(f"{q('#sync')}.dataset.colour === 'yellow'", what="a yellow indicator")
    await a.click("#sync")
    panel = await a.text("#sync-panel")
    assert "R2" in panel
    assert "not at the console yet" in panel
    assert "Other devices reachable, no console" in panel
    await a.click("#sync")

    await add(a, "espresso", 1)
    await a.click("#products [data-product=latte]")
    await a.click("#modifier-groups input[value=large]")
    await a.click("#modifier-groups input[value=oat]")
    await a.click("#modifiers-add")
    await a.wait(f"{count('#lines li')} === 2", what="the latte line")
    await add(a, "croissant", 3)
    await a.click("#lines li:nth-child(3) button.remove")
    await a.wait(f"{count('#lines li')} === 2", what="the croissant removed")
    assert await a.text("#totals [data-total=due]") == "7.70 EUR"  # 2.50 + 3.90 + 0.80 + 0.50
    order = await a.eval("sessionStorage.getItem('meshpos-order')")
    await b.wait(
        q(f"#open-orders [data-order='{order}']") + "?.innerText.includes('7.70')",
        what="R1's whole order on page B",
    )
    await a.screenshot(artifacts / "1-register-A-order.png")
    mark = await quiet(b)

    # split: 5.00 in cash from a 10.00 note, then the rest by card
    await a.click("#pay-button")
    await a.fill("#pay-amount", "5.00")
    await a.fill("#pay-tendered", "10.00")
    assert await a.text("#pay-change") == "5.00"
    await a.screenshot(artifacts / "2-register-A-pay-cash.png")
    await a.click("#pay-confirm")
    await a.wait(f"{q('#totals [data-total=due]')}?.innerText === '2.70 EUR'", what="2.70 due")
    await a.click("#pay-button")
    await a.click("#pay-form input[value=card]")
    assert not await a.eval(f"{q('#pay-tendered')}.checkVisibility()")  # card: no tendered
    await a.click("#pay-confirm")
    await a.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
    number = await a.text("#receipt-number")
    assert number == "R1-000001"
    assert await a.text("#receipt-totals [data-total=total]") == "7.70 EUR"
    paid_at = time.monotonic()
    await a.screenshot(artifacts / "3-register-A-receipt.png")

    await b.wait(q(f"#receipts [data-number='{number}']"), what="the receipt on page B")
    print(f"receipt {number} shown on page B {time.monotonic() - paid_at:.3f} s after page A")
    await b.wait(f"{count('#open-orders li')} === 0", what="the paid order leaving page B")
    assert await b.eval("window.neverReloaded === true")
    # between A's payments and B showing the receipt, B only heard pushed events and fetched what they
    # named: the ledger's orders, receipts and shift (and the stop list's document, which holds the
    # receipt numbers' high-water marks), never the catalog nor anything on a timer
    assert {"orders", "receipts"} <= only_pushed_fetches(b, mark)
    assert not {"menu", "tickets"} & only_pushed_fetches(b, mark)
    await b.screenshot(artifacts / "4-register-B-live.png")

    # Clear cache while the sale is not at the console: refused, and the page says why
    await a.click("#receipt-done")
    await a.click("#menu-button")
    await a.click("#clear-cache")
    refusal = await a.wait(
        f"!{q('#notice')}.hidden && {q('#notice')}.innerText.includes('Clear cache refused')"
        f" && {q('#notice')}.innerText",
        what="the refusal",
    )
    assert "not at the console yet" in refusal
    await a.screenshot(artifacts / "5-register-A-clear-cache-refused.png")

    # the peer goes away: R1 is on its own, gray
    await r2.stop()
    await a.wait(f"{q('#sync')}.dataset.colour === 'gray'", timeout=10, what="gray")
    await a.click("#sync")
    assert "On its own" in await a.text("#sync-panel")
    await a.screenshot(artifacts / "6-register-A-gray.png")
    assert a.errors == []
    assert b.errors == []


async def test_the_kitchen_screen_shows_a_ticket_within_a_second_and_bumps_it(
    register_and_kds: list[Node], browser: Browser, artifacts: Path
) -> None:
    r1, k1 = register_and_kds
    kitchen = await browser.new_page("kitchen (K1)")
    register = await browser.new_page("register (R1)")
    await kitchen.goto(f"{k1.api_url}/")
    await kitchen.wait("location.pathname === '/kitchen'", what="the redirect to /kitchen")
    await kitchen.wait(f"{q('#sync')}.dataset.colour === 'yellow'", what="yellow on K1")
    # nobody is signed in at a new screen: it asks who is cooking (issue 18, cook)
    await kitchen.wait(f"!{q('#sign-in')}.hidden", what="the kitchen's sign-in")
    assert await kitchen.text("#cook-name") == "Nobody signed in"
    await cook_signs_in(kitchen)
    assert await kitchen.text("#cook-name") == "Kim"
    await register.goto(f"{r1.api_url}/")
    await log_in_and_open_shift(register)
    await add(register, "burger", 1)
    await add(register, "fries", 2)

    mark = await quiet(kitchen)
    sent_at = time.monotonic()
    await register.click("#send-kitchen")
    await kitchen.wait(q("article.ticket"), what="the ticket on the kitchen screen")
    took = time.monotonic() - sent_at
    assert "tickets" in only_pushed_fetches(kitchen, mark)
    print(f"ticket on the kitchen screen {took:.3f} s after Send to kitchen")
    assert took < 1.0
    card = "article.ticket"
    items = await kitchen.text(f"{card} ul")
    assert "1 × Burger" in items
    assert "1 × Fries" in items
    assert await kitchen.eval(f"/^\\d+:\\d\\d$/.test({q(card + ' .age')}.innerText)")
    ticket = await kitchen.eval(f"{q(card)}.dataset.ticket")
    await kitchen.screenshot(artifacts / "1-kitchen-new-ticket.png")

    for state in ("cooking", "ready"):
        await kitchen.click(f"{card} button[data-action=bump]")
        await kitchen.wait(f"{q(card)}?.dataset.state === '{state}'", what=state)
    await until(
        lambda: _ticket_state(r1, ticket) == "ready", 5, "R1 sees the ticket ready", on=[r1]
    )
    await kitchen.click(f"{card} button[data-action=recall]")
    await kitchen.wait(f"{q(card)}?.dataset.state === 'cooking'", what="recalled")
    await kitchen.click(f"{card} button[data-action=bump]")
    await kitchen.wait(f"{q(card)}?.dataset.state === 'ready'", what="ready again")
    await kitchen.click(f"{card} button[data-action=bump]")
    await kitchen.wait(f"{count(card)} === 0", what="served tickets leaving the board")
    await kitchen.click("#show-served")
    await kitchen.wait(f"{q(card)}?.dataset.state === 'served'", what="the served ticket")
    await kitchen.screenshot(artifacts / "2-kitchen-served.png")

    # the kitchen runs out of fries: the register's grid marks them at once
    await kitchen.click("#stops-button")
    mark = await quiet(register)
    await kitchen.click("#stop-items li[data-product=fries] button")
    await kitchen.wait(q("#stop-items li.stopped[data-product=fries]"), what="fries stopped")
    await register.wait(q("#products .stopped[data-product=fries]"), what="fries marked")
    assert "GET /api/catalog" not in {what for _, what in register.traffic[mark:]}
    assert "stops" in only_pushed_fetches(register, mark)
    await register.click("#products [data-product=fries]")
    await register.wait(
        f"!{q('#notice')}.hidden && {q('#notice')}.innerText"
        ".includes('Fries is on the stop list (stopped by Kim)')",
        what="the stop shown on the register",
    )
    assert r1.venue.stoplist.is_stopped("fries")
    await kitchen.screenshot(artifacts / "3-kitchen-stop-list.png")
    await register.screenshot(artifacts / "4-register-fries-stopped.png")
    stop = r1.venue.stoplist.entry("fries")
    assert stop is not None
    assert stop.user == COOK  # in the signed-in cook's name

    # the cook signs out: a tap then asks who is cooking and moves nothing
    await kitchen.click("#sign-out")
    await kitchen.wait(
        f"{q('#cook')}.dataset.user === '' && !{q('#sign-in')}.hidden", what="signed out"
    )
    await kitchen.click("#stop-items li[data-product=burger] button")
    await kitchen.wait(
        f"!{q('#notice')}.hidden && {q('#notice')}.innerText.includes('Sign in with your PIN')",
        what="the sign-in asked for",
    )
    assert not r1.venue.stoplist.is_stopped("burger")
    await kitchen.screenshot(artifacts / "5-kitchen-signed-out.png")

    # a sign-in the node ended (here: a logout elsewhere; idle or a restart alike) leaves the header
    # at the minute's check, with no tap needed to find out
    await cook_signs_in(kitchen)
    await end_sign_in_elsewhere(kitchen, k1)
    await kitchen.eval("refresh(['session'])")  # what the page's minute timer runs
    await kitchen.wait(
        f"{q('#cook')}.dataset.user === '' && !{q('#sign-in')}.hidden",
        what="the ended sign-in shown as signed out",
    )

    # the register's page alike: a cashier's sign-in the node ended shows the PIN login at the
    # minute's check, before a tap is refused (not after)
    await end_sign_in_elsewhere(register, r1)
    assert not await register.eval(f"{q('#sell')}.hidden")
    await register.eval("refresh(['session'])")  # what the page's minute timer runs
    await register.wait(
        f"!{q('#login')}.hidden && {q('#sell')}.hidden && {q('#who')}.innerText === ''",
        what="the register's ended sign-in shown as the PIN login",
    )
    assert kitchen.errors == []
    assert register.errors == []


def forgetful_twin(node: Node) -> tuple[str, Any]:
    """A ledger day of ``node``'s device id written by a replica that starts its numbers again
    (what a wiped register did before it had to learn them): its name and document."""
    twin = Venue(Replica(), device=node.config.node_id)
    twin.replica.apply("catalog", node.replica.doc("catalog").get_update())
    now = node.now_ms()
    twin.open_shift_now(CASHIER, 0, now)
    order = twin.open_order(CASHIER, now)
    twin.add_line(CASHIER, order.id, "espresso", 1, now)
    twin.pay(CASHIER, order.id, "card", now)
    name = f"ledger/{twin.business_date(now)}"
    return name, twin.replica.doc(name)


def _ticket_state(node: Node, ticket_id: str) -> str:
    kitchen = node.venue.kitchen(node.venue.business_date(node.now_ms()))
    return kitchen.ticket(ticket_id).state if kitchen.has(ticket_id) else ""


@pytest.fixture
def venue_with_console(tmp_path: Path) -> tuple[list[Config], Path]:
    return make_configs(tmp_path, [("R1", "register"), ("R2", "register")]), tmp_path / "venue"


@pytest.fixture
async def console(venue_with_console: tuple[list[Config], Path]) -> AsyncIterator[Console]:
    venue_dir = venue_with_console[1]
    async with running_console(venue_dir.parent, [venue_dir]) as running_:
        yield running_


def with_console(configs: list[Config], venue_dir: Path, url: str) -> list[Config]:
    """The registers' configs with the console's address and the venue token."""
    token = load_venue(venue_dir).console_token
    return [dataclasses.replace(c, console_url=url, console_token=token) for c in configs]


async def test_the_indicator_turns_yellow_without_the_console_and_green_when_it_returns(
    venue_with_console: tuple[list[Config], Path],
    console: Console,
    browser: Browser,
    artifacts: Path,
) -> None:
    configs, venue_dir = venue_with_console
    internet = InternetSwitch("127.0.0.1", console.port)
    await internet.start()
    online = with_console(configs, venue_dir, f"ws://127.0.0.1:{internet.port}")
    try:
        async with running(online) as (r1, _r2):
            page = await browser.new_page("register (R1) with a console")
            await page.goto(f"{r1.api_url}/")
            await log_in_and_open_shift(page)
            await page.wait(f"{q('#sync')}.dataset.colour === 'green'", timeout=15, what="green")
            await page.click("#sync")
            await all_synced(page, "All data is synced")
            await page.screenshot(artifacts / "7-register-green-synced.png")

            internet.cut()
            await page.wait(f"{q('#sync')}.dataset.colour === 'yellow'", timeout=15, what="yellow")
            label = await page.eval(f"{q('#sync-label')}.textContent")
            assert label  # the page shows the node's badge (its live updates carry it)
            assert label != "Synced"  # yellow is never "Synced"
            await r1.open_order(CASHIER)  # a change the console does not have
            await page.wait(
                f"{q('#sync-panel')}.innerText.includes('not at the console yet')",
                timeout=10,
                what="the pending count",
            )
            await page.screenshot(artifacts / "8-register-yellow-pending.png")

            internet.restore()
            await all_synced(page, "All data is synced again")
            await page.screenshot(artifacts / "9-register-green-again.png")
            assert page.errors == []
    finally:
        await internet.stop()


async def test_the_console_reports_page_shows_uploaded_receipts_and_sync_status(
    venue_with_console: tuple[list[Config], Path],
    console: Console,
    browser: Browser,
    artifacts: Path,
) -> None:
    configs, venue_dir = venue_with_console
    pages = HttpServer(make_console_handler(console.server, "admin-secret"), "127.0.0.1", 0)
    await pages.start()
    try:
        async with running(with_console(configs, venue_dir, console.url)) as (r1, _r2):
            await r1.open_shift(CASHIER, 5_000)
            order = await r1.open_order(CASHIER)
            await r1.add_line(CASHIER, order.id, "espresso", 2)
            paid = await r1.pay(CASHIER, order.id, "card")
            assert paid.receipt is not None
            page = await browser.new_page("console reports")
            await page.goto(f"http://127.0.0.1:{pages.port}/?token=admin-secret#reports")
            await page.wait(
                q("#receipts td") + f"?.innerText === '{paid.receipt.number}'",
                timeout=15,
                what="the receipt in Reports -> Receipts",
            )
            await page.click("#report-tabs [data-report=shifts]")
            await page.wait(f"{count('#shifts tbody tr')} === 1", what="the shift")
            await page.click("#tabs button[data-tab=status]")
            await page.wait(f"{q('#status')}.innerText.includes('R1')", what="the relay")
            await page.wait(
                f"{q('#status')}.innerText.includes('not in these reports')",
                what="what the console cannot report (nothing)",
            )
            await page.wait(f"{q('#alarm-count')}.innerText === '(none)'", what="no alarms")
            # sync status per register: R2 is not linked to the console, the relay tells about it
            row = "#registers tr[data-device={}] td"
            await page.wait(
                f"Array.from(document.querySelectorAll('{row.format('R2')}'), td => td.innerText)"
                ".join('|').startsWith('R2|register|via R1|0|0|')",
                timeout=15,
                what="R2 reachable through the relay, nothing pending",
            )
            await page.wait(
                f"Array.from(document.querySelectorAll('{row.format('R1')}'), td => td.innerText)"
                ".join('|').startsWith('R1|register|relay, uplink up|0|1|')",
                what="R1 is the relay and the console holds its receipt",
            )
            # a register that forgot its numbers uploads another R1-000001: the page shows the alarm
            other = forgetful_twin(r1)
            await materialise(console.db, r1.venue_id, *other)
            await page.wait(
                q("#alarms tr[data-kind=duplicate_number] td:last-child")
                + f"?.innerText.includes('{paid.receipt.number}')",
                timeout=10,
                what="the duplicate number alarm",
            )
            await page.wait(f"{q('#alarm-count')}.innerText === '(1)'", what="one alarm")
            await page.screenshot(artifacts / "10-console-reports.png")
            assert page.errors == []
    finally:
        await pages.stop()
