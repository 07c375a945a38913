"""The console page in Debian's Chromium against a real ``meshpos console`` process (issue 16, Access):
the admin token is asked for by the page's own sign-in form (no browser prompt), a wrong token is refused
in words, the header shows the venue's name (not its id) and the tabs, the picker lists a chain's venues
by name; the sign-in lasts for the tab and "Sign out" ends it. The console listens on 127.0.0.2, an
address of this machine other than 127.0.0.1 (the network rule keeps tests on 127.0.0.0/8).
"""

from __future__ import annotations

from pathlib import Path

from meshpos.harness.procs import Proc, console_argv
from meshpos.harness.wait import until
from meshpos.trust import init_venue

from .cdp import Browser, Page

HOST = "127.0.0.2"
VENUE_NAME = "Café Élan"
OTHER_NAME = "Terrasse Élan"
TABS = ["Status", "Menu", "Staff", "Settings", "Reports", "Audit"]


def q(selector: str) -> str:
    return f"document.querySelector({selector!r})"


async def _sign_in(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#login-button")


async def test_the_console_page_signs_in_with_its_own_form_and_names_the_venue(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    authority = init_venue(tmp_path / "venue", VENUE_NAME, "a-elan")
    other = init_venue(tmp_path / "other", OTHER_NAME, "b-terrasse")  # a chain: a second venue
    token_file = tmp_path / "console-admin.token"
    db = f"sqlite:///{tmp_path / 'console.db'}"
    argv = console_argv(db, [authority.directory, other.directory], token_file, 0.5, host=HOST)
    console = Proc("console", argv, tmp_path / "console.log", token_file)
    await console.start()
    try:
        assert console.ready["token_file"] == str(token_file)  # the start-up line names the file
        assert console.api.startswith(f"http://{HOST}:")
        said = (
            f"sign in with the admin token kept in {token_file}"  # on stderr, after the ready line
        )
        await until(lambda: said in (tmp_path / "console.log").read_text(), 10, repr(said))

        page = await browser.new_page("console sign-in")
        await page.goto(f"{console.api}/")
        await page.wait(f"!{q('#login')}.hidden", what="the sign-in form")
        assert await page.eval(f"{q('#app')}.hidden") is True
        await page.screenshot(artifacts / "1-console-sign-in.png")

        await _sign_in(page, "not-the-token-" + "x" * 20)
        await page.wait(f"!{q('#login-error')}.hidden", what="the refusal")
        assert "refused the token" in await page.text("#login-error")
        assert await page.eval(f"{q('#app')}.hidden") is True
        assert await page.eval("sessionStorage.length") == 0  # a refused token is not kept

        await _sign_in(page, console.token)
        await page.wait(f"{q('#venue-name')}.innerText === {VENUE_NAME!r}", what="the venue's name")
        assert authority.venue_id not in await page.text("header")
        shown = await page.eval(
            "Array.from(document.querySelectorAll('#tabs button'), b => b.innerText)"
        )
        assert shown == TABS
        await page.wait(f"{q('#status')}.innerText.includes('relays')", what="the Status tab")
        await page.screenshot(artifacts / "2-console-signed-in.png")

        names = "Array.from(document.querySelectorAll('#venue-pick option'), o => o.innerText)"
        assert await page.eval(names) == [VENUE_NAME, OTHER_NAME]  # a chain's venues, by name
        await page.eval(
            "(p => { p.value = 'b-terrasse'; p.dispatchEvent(new Event('change')); })"
            f"({q('#venue-pick')})"
        )
        await page.wait(f"{q('#venue-name')}.innerText === {OTHER_NAME!r}", what="the other venue")
        await page.eval(
            "(p => { p.value = 'a-elan'; p.dispatchEvent(new Event('change')); })"
            f"({q('#venue-pick')})"
        )
        await page.wait(f"{q('#venue-name')}.innerText === {VENUE_NAME!r}", what="back again")

        await page.click("#tabs button[data-tab=reports]")
        await page.wait(f"!{q('#receipts')}.closest('section').hidden", what="the Reports tab")
        assert await page.eval(f"{q('#status')}.closest('section').hidden") is True
        await page.screenshot(artifacts / "3-console-reports-tab.png")

        await page.goto(f"{console.api}/")  # the same tab: still signed in, nothing asked
        await page.wait(f"{q('#venue-name')}.innerText === {VENUE_NAME!r}", what="signed in still")
        assert await page.eval(f"{q('#login')}.hidden") is True

        await page.click("#sign-out")
        await page.wait(f"!{q('#login')}.hidden", what="the sign-in form after signing out")
        assert await page.eval("sessionStorage.length") == 0
        assert page.errors == []
    finally:
        await console.stop()
