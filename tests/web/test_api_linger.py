"""Which of the API's taps may wait (issue 18, coalesce): building an order may leave a moment later,
with the sale's next urgent tap; paying, the kitchen and shifts go at once (``web/orders.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from meshpos.httpapi.server import HttpServer
from meshpos.model.sample import CASHIER
from meshpos.web.api import make_handler

from .fake_node import FakeNode
from .kit import Client

TOKEN = "t" * 32


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeNode, Client]]:
    fake = FakeNode()
    server = HttpServer(make_handler(fake, TOKEN), "127.0.0.1", 0)
    port = await server.start()
    try:
        yield fake, Client(f"http://127.0.0.1:{port}", TOKEN)
    finally:
        await server.stop()


async def test_building_an_order_may_wait_and_paying_does_not(
    served: tuple[FakeNode, Client],
) -> None:
    fake, client = served
    await client.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    assert fake.waits == [False]  # a shift: at once
    fake.waits.clear()
    order = await client.ok("POST", "/api/orders", {"user": CASHIER, "table": "3"})
    path = f"/api/orders/{order['id']}"
    order = await client.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
    line = order["lines"][0]["id"]
    await client.ok("PUT", f"{path}/lines/{line}/quantity", {"user": CASHIER, "quantity": 2})
    order = await client.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
    await client.ok("DELETE", f"{path}/lines/{order['lines'][-1]['id']}", {"user": CASHIER})
    assert fake.waits == [True] * 5
    fake.waits.clear()
    await client.ok("POST", f"{path}/kitchen", {"user": CASHIER})
    await client.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "card"})
    assert fake.waits == [False, False]
