"""The register page signs its user in (issue 18, who): the page holds the page token, never the API
token; its writes carry the session its PIN login answered; logging out ends that session on the node; a
restart of the node ends every session, and the page's next tap brings back the PIN login (401
session_ended), after which selling goes on. A real node, a real headless Chromium, a real restart.
"""

from __future__ import annotations

import socket
from pathlib import Path

from meshpos.model.sample import CASHIER

from .cdp import Browser, Page
from .conftest import running
from .kit import PIN, http, make_configs
from .test_pages_browser import add, count, log_in_and_open_shift, q


def free_port() -> int:
    """The API's port, the same across the node's restart (the page stays open on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def sign_in_again(page: Page) -> None:
    await page.wait(f"!{q('#login')}.hidden", what="the PIN login again")
    await page.click(f"#users button[data-user={CASHIER}]")
    await page.fill("#pin", PIN)
    await page.click("#login-button")
    await page.wait(f"!{q('#sell')}.hidden", what="the sell screen after signing in again")


async def test_the_page_signs_in_logs_out_and_a_restart_asks_for_the_pin_again(
    tmp_path: Path, browser: Browser
) -> None:
    (config,) = make_configs(tmp_path, [("R1", "register")], api_port=free_port())
    page = await browser.new_page("R1")
    async with running([config]) as (r1,):
        await page.goto(f"{r1.api_url}/")
        token = await page.eval("document.querySelector('meta[name=meshpos-token]').content")
        assert token
        assert token != r1.api_token  # the page never holds the API token
        await log_in_and_open_shift(page)
        await add(page, "espresso", 1)
        session = await page.eval("sessionStorage.getItem('meshpos-session')")
        assert session

        # log out: the node forgets the session, not only the page
        await page.click("#menu-button")
        await page.click("#logout")
        await page.wait(f"!{q('#login')}.hidden", what="the PIN login after log out")
        # (the page shows the login at once and tells the node in the background: until the node
        # answered, the old session still wrote; CI once saw 201 here)
        await page.wait("!Mesh.busy()", what="the page's logout answered")
        write = {"user": CASHIER}
        headers = {"Authorization": f"Bearer {token}", "X-Meshpos-Session": session}
        answer = await http(r1.api_url, "POST", "/api/orders", body=write, headers=headers)
        assert (answer.status, answer.code) == (401, "session_ended"), answer.body[:300]
        assert await page.eval("sessionStorage.getItem('meshpos-session')") is None
        await sign_in_again(page)
        await add(page, "croissant", 1)  # a new order after log out

    async with running([config]) as (r1,):  # the same node, restarted: every session ended
        await page.click("#products [data-product=croissant]")
        await sign_in_again(page)
        await page.click("#products [data-product=croissant]")
        await page.wait(f"{count('#lines li')} >= 1", what="a line after signing in again")
