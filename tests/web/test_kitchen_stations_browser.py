"""Kitchen routing on a real kitchen screen (Chromium, real nodes): the console gives products a kitchen
station; a screen set to one station shows that station's items and those routed nowhere in particular,
and not another station's; "All stations" shows everything."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.model import Replica, Venue, hash_pin
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.node import Node

from ..mesh.kit import make_device, make_venue
from .cdp import Browser
from .conftest import running
from .kit import PIN


def _catalog() -> bytes:
    """The sample menu (its grill items routed to the grill) with the drinks routed to the bar."""
    replica = Replica()
    venue = Venue(replica, device="console", role="console")
    sample_catalog(venue.catalog, pin_hash=hash_pin(PIN))
    lemonade = venue.catalog.product("lemonade")
    venue.catalog.put_product(dataclasses.replace(lemonade, kitchen="bar"))
    return replica.doc("catalog").get_update()


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    authority = make_venue(tmp_path)
    catalog = _catalog()
    return [
        load_config(
            make_device(
                authority, tmp_path, node, role=role, catalog=catalog, heartbeat_interval=0.2
            ),
            env={},
        )
        for node, role in (("R1", "register"), ("K1", "kds"))
    ]


@pytest.fixture
async def nodes(configs: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(configs) as started:
        yield started


def items(station: str) -> str:
    return (
        "Array.from(document.querySelectorAll('article.ticket li'),"
        " li => `${li.innerText.split('\\n')[0]} @${li.dataset.station}`)"
        f".join('|')  /* {station} */"
    )


async def test_a_kitchen_screen_shows_its_stations_items(
    nodes: list[Node], browser: Browser, artifacts: Path
) -> None:
    r1, k1 = nodes
    await r1.open_shift(CASHIER, 0)
    order = await r1.open_order(CASHIER)
    for product in ("burger", "lemonade", "espresso"):
        await r1.add_line(CASHIER, order.id, product, 1)
    ticket = await r1.send_to_kitchen(CASHIER, order.id)
    assert ticket is not None
    assert {i.name: i.station for i in ticket.items} == {
        "Burger": "grill",
        "Lemonade": "bar",
        "Espresso": "",
    }

    kitchen = await browser.new_page("kitchen (K1)")
    await kitchen.goto(f"{k1.api_url}/kitchen")
    await kitchen.wait("document.querySelector('article.ticket')", timeout=15, what="the ticket")
    options = await kitchen.eval(
        "Array.from(document.querySelectorAll('#station option'), o => o.value)"
    )
    assert options == ["", "bar", "grill"]
    shown = {}
    for station in ("grill", "bar", ""):
        await kitchen.eval(
            f"(() => {{ const s = document.querySelector('#station'); s.value = {json.dumps(station)};"
            " s.dispatchEvent(new Event('change')); })()"
        )
        await kitchen.wait(
            f"document.querySelector('#station').value === {json.dumps(station)}", what=station
        )
        shown[station] = await kitchen.eval(items(station))
    assert shown == {
        "grill": "1 × Burger @grill|1 × Espresso @",
        "bar": "1 × Lemonade @bar|1 × Espresso @",
        "": "1 × Burger @grill|1 × Lemonade @bar|1 × Espresso @",
    }
    await kitchen.screenshot(artifacts / "1-kitchen-all-stations.png")
    assert kitchen.errors == []
