"""A product record the console cannot read (a peer wrote it out of bounds) is named, not a crash, and the
console can repair it: an edit of it is 409 ``corrupt_record`` saying to replace it whole, and replacing it
whole (``POST .../products``) works. Every answer is checked against the console's OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Map

from meshpos.console.api import make_console_handler
from meshpos.harness.venue import make_venue
from meshpos.httpapi.server import HttpServer

from ..relay.consoles import running_console
from ..web.kit import Client

TOKEN = "console-admin-token"


@pytest.fixture
async def console_api(tmp_path: Path) -> AsyncIterator[tuple[Client, str, Map[Any]]]:
    """The console's API in this loop; the venue id and its catalog's products (to corrupt one)."""
    authority = make_venue(tmp_path)
    async with running_console(tmp_path, [authority.directory]) as console:
        api = HttpServer(make_console_handler(console.server, TOKEN), "127.0.0.1", 0)
        await api.start()
        try:
            base = f"http://127.0.0.1:{api.port}"
            doc = await Client(base, "").ok("GET", "/api/openapi.json")
            hub = await console.server.hub(authority.venue_id)
            products = hub.replica.doc("catalog").get("products", type=Map)
            yield Client(base, TOKEN, doc), authority.venue_id, products
        finally:
            await api.stop()


async def test_a_corrupt_product_is_named_and_replaced_whole(
    console_api: tuple[Client, str, Map[Any]],
) -> None:
    client, venue, products = console_api
    products["cola"] = {"name": "Cola", "price": "a lot", "active": True}  # as a rogue peer might
    message = await client.error(
        409, "record_unusable", "POST", f"/api/venues/{venue}/prices",
        {"product_id": "cola", "price": 300},
    )  # fmt: skip
    assert "cola" in message, message
    assert "POST /api/venues/{venue}/products" in message, message

    await client.ok(
        "POST", f"/api/venues/{venue}/products", {"id": "cola", "name": "Cola", "price": 300}
    )
    await client.ok("POST", f"/api/venues/{venue}/prices", {"product_id": "cola", "price": 320})
    catalog = await client.ok("GET", f"/api/venues/{venue}/catalog")
    assert [(p["id"], p["price"], p["stopped"]) for p in catalog] == [("cola", 320, False)]
