"""Found from the outside (red, thirteenth session): names a manager types at the console, as an attacker
would type them, on the register and kitchen pages of a real node in Chromium.

The pages build every element with ``textContent`` (never ``innerHTML``), so markup in a product, category,
staff or venue name shows as text and runs nothing. But the kitchen's Stop button put the product's id into
its request's path as it stood: a product id is 1-64 characters without ``/`` (the console's rule), so a
shop's item numbered ``#12`` sent ``PUT /api/stoplist/`` (the rest read as a fragment: "no such
endpoint") and one named ``fries?large`` sent a query the node refuses: neither could be stopped from the
kitchen.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.model import Replica, Venue, hash_pin
from meshpos.model.catalog_types import Category, Product, Settings, User
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser
from .conftest import running
from .kit import PIN
from .test_pages_browser import cook_signs_in

# each writes window.pwned if it ever runs as markup
MARKUP = {
    "img": '<img src=x onerror="window.pwned=1">',
    "quote": '"onmouseover="window.pwned=2" x="',
    "area": "</textarea><script>window.pwned=3</script>",
    "long": "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz" * 3,  # 189, no break
}
CATEGORY = "<svg onload=window.pwned=4>"
CASHIER_NAME = "<b onmouseover=window.pwned=5>Anna</b>"
VENUE_NAME = "</title><script>window.pwned=6</script>"
# ids a manager may give (no '/'), each to stop on its own from the kitchen page
ODD_IDS = {"fries?large": "Fries large", "50%": "Half & half", "#12": "Cola #12"}


def _catalog() -> bytes:
    replica = Replica()
    catalog = Venue(replica, device="console", role="console").catalog
    sample_catalog(catalog, pin_hash=hash_pin(PIN))
    catalog.put_settings(Settings("EUR", VENUE_NAME, 4, "UTC", VENUE_NAME))
    catalog.put_category(Category(CATEGORY, CATEGORY, 9))
    for pid, name in [*MARKUP.items(), *ODD_IDS.items()]:
        catalog.put_product(Product(pid, name, 100, CATEGORY, "vat10", kitchen="grill"))
    catalog.put_user(User(CASHIER, CASHIER_NAME, "cashier", hash_pin(PIN)))
    return replica.doc("catalog").get_update()


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    path = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=_catalog())
    return [load_config(path, env={})]


@pytest.fixture
async def register(configs: list[Config]) -> AsyncIterator[Node]:
    async with running(configs) as (node,):
        yield node


def q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


def product(pid: str) -> str:
    return f"#products [data-product={json.dumps(pid)}]"


# elements whose content is wider than they are: a long name pushed a line's price and its remove
# button out of the order, and a ticket's button out of its card
WIDER = (
    "Array.from(document.querySelectorAll({}), e => e.scrollWidth > e.clientWidth + 1"
    " ? (e.dataset.product || e.dataset.line || e.dataset.ticket || e.tagName) : '').filter(Boolean)"
)


def overflowing(selector: str) -> str:
    return WIDER.format(json.dumps(selector))


async def test_markup_and_long_names_show_as_text_in_place_and_odd_ids_stop_their_product(
    register: Node, browser: Browser, artifacts: Path
) -> None:
    page = await browser.new_page("register (R1)")
    await page.goto(f"{register.api_url}/")
    await page.wait(q(f"#users button[data-user={CASHIER}]"), timeout=15, what="the staff")
    assert CASHIER_NAME in await page.text("#users")
    assert VENUE_NAME in await page.text("#venue")
    await page.click(f"#users button[data-user={CASHIER}]")
    await page.fill("#pin", PIN)
    await page.click("#login-button")
    await page.click("#open-shift")
    await page.wait(f"!{q('#sell')}.hidden", what="the sell screen")
    for pid, name in MARKUP.items():
        assert name in await page.text(product(pid)), pid
        await page.click(product(pid))
    await page.wait(
        f"document.querySelectorAll('#lines li').length === {len(MARKUP)}", what="the lines"
    )
    lines = await page.text("#lines")
    assert all(name in lines for name in MARKUP.values()), lines
    await page.click("#send-kitchen")
    await page.screenshot(artifacts / "1-register-hostile-names.png")
    for region in ("#products .product", "#lines li", "#order"):
        assert await page.eval(overflowing(region)) == [], region

    kitchen = await browser.new_page("kitchen (R1)")
    await kitchen.goto(f"{register.api_url}/kitchen")
    await cook_signs_in(kitchen)
    await kitchen.wait(q("article.ticket"), timeout=15, what="the ticket")
    ticket = await kitchen.text("article.ticket")
    assert all(name in ticket for name in MARKUP.values()), ticket
    await kitchen.click("#stops-button")
    for pid in ODD_IDS:
        item = f"#stop-items li[data-product={json.dumps(pid)}]"
        await kitchen.click(f"{item} button")
        await kitchen.wait(
            f"{q(item)}?.classList.contains('stopped') || !{q('#notice')}.hidden",
            what=f"{pid} stopped or refused",
        )
        assert await kitchen.eval(f"{q('#notice')}.hidden"), await kitchen.text("#notice")
    await kitchen.screenshot(artifacts / "2-kitchen-hostile-names.png")
    for region in ("#stop-items li", "article.ticket"):
        assert await kitchen.eval(overflowing(region)) == [], region
    stops = register.venue.stoplist
    assert [pid for pid in ODD_IDS if not stops.is_stopped(pid)] == []
    assert not stops.is_stopped("fries")

    for tab in (page, kitchen):
        assert await tab.eval("window.pwned === undefined"), tab.name
        assert tab.errors == [], tab.name
