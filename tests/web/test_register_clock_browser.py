"""The register page says when its clock is hours off the console's, and stops saying so once it is not
(Chromium, a real node): what a probe of the console's uplink learnt (``RelayService.console_skew_s``,
tests/relay/test_clock_status.py with a real console and libfaketime) is set here directly, as a probe
sets it, so the page's part is tested without a console."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser
from .conftest import running

BANNER = "document.querySelector('#clock-warning')"
CERTIFICATE_BANNER = "document.querySelector('#certificate-warning')"


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    authority = make_venue(tmp_path)
    return [load_config(make_device(authority, tmp_path, "R1", heartbeat_interval=0.2), env={})]


@pytest.fixture
async def nodes(configs: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(configs) as started:
        yield started


async def test_the_register_page_warns_of_a_clock_hours_off_until_it_is_set(
    nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    (r1,) = nodes
    relay = r1._run().relay
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await page.wait("document.querySelector('#sync').dataset.colour", what="the indicator")
    assert await page.eval(f"{BANNER}.hidden") is True  # never compared: nothing said
    relay.console_skew_s = 3 * 3600 + 12 * 60  # the console's clock is 3 h 12 min ahead of ours
    text = await page.wait(
        f"!{BANNER}.hidden && {BANNER}.textContent", what="the clock warning on the register page"
    )
    assert text.startswith("Clock: this device's clock is 3 h 12 min behind the console's")
    await page.screenshot(artifacts / "register-clock-warning.png")
    relay.console_skew_s = 1.0  # set right (NTP): the next probe reads it
    await page.wait(f"{BANNER}.hidden", what="the clock warning gone")
    assert page.errors == []


async def test_the_register_page_warns_of_a_certificate_ending_until_it_is_renewed(
    nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    """Its certificate ending within a month (the twenty-first session, outside2: only the doctor said
    it before): the window it is valid in is set directly, as a node reads it from its identity at
    start (tests/outside/test_clock_years_behind.py runs a real node under libfaketime)."""
    (r1,) = nodes
    status = r1._run().status
    page = await browser.new_page("register (R1)")
    await page.goto(f"{r1.api_url}/")
    await page.wait("document.querySelector('#sync').dataset.colour", what="the indicator")
    assert await page.eval(f"{CERTIFICATE_BANNER}.hidden") is True  # five years ahead: nothing said
    now = time.time()
    status._certified = (now - 86_400, now + 12 * 86_400 + 3_600)  # ends in 12 days
    text = await page.wait(
        f"!{CERTIFICATE_BANNER}.hidden && {CERTIFICATE_BANNER}.textContent",
        what="the certificate warning on the page",
    )
    assert text.startswith("Certificate: this device's certificate ends on "), text
    assert ", in 12 days: then no device or console links with it;" in text, text
    await page.screenshot(artifacts / "register-certificate-warning.png")
    status._certified = (now, now + 5 * 365 * 86_400)  # enrolled again and restarted: a new one
    await page.wait(f"{CERTIFICATE_BANNER}.hidden", what="the certificate warning gone")
    assert page.errors == []
