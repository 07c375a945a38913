"""Found from the outside: receipt search against a real node with what a cashier types.

A table or tab may be named with up to MAX_NAME_CHARS characters (orders), but the search took at most
MAX_ID_CHARS, so a long table's receipt could not be found (400 on the API; the page's field cut the name
silently and found nothing). An empty amount in a hand-made query named a Python class in its error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from meshpos.model.limits import MAX_ID_CHARS, MAX_NAME_CHARS
from meshpos.model.sample import CASHIER
from tests.web.conftest import running
from tests.web.kit import Client, http, make_configs


@pytest.fixture
async def register(tmp_path: Path) -> AsyncIterator[Client]:
    configs = make_configs(tmp_path, [("R1", "register")])
    async with running(configs) as nodes:
        doc = (await http(nodes[0].api_url, "GET", "/api/openapi.json")).json()
        client = Client.of(nodes[0], doc)
        await client.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        yield client


async def test_a_receipt_of_the_longest_table_name_is_found_by_it(register: Client) -> None:
    table = "Terrace " + "t" * (MAX_NAME_CHARS - len("Terrace "))
    assert len(table) > MAX_ID_CHARS
    order = await register.ok("POST", "/api/orders", {"user": CASHIER, "table": table})
    path = f"/api/orders/{order['id']}"
    await register.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
    paid = await register.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "card"})
    found = await register.ok("GET", f"/api/receipt-search?table={quote(table.upper())}")
    assert [f["receipt"]["id"] for f in found] == [paid["receipt"]["id"]]
    await register.error(
        400, "bad_field", "GET", f"/api/receipt-search?table={'t' * (MAX_NAME_CHARS + 1)}"
    )


async def test_an_empty_amount_is_no_amount_and_a_bad_one_is_named_plainly(
    register: Client,
) -> None:
    assert await register.ok("GET", "/api/receipt-search?amount=") == []
    message = await register.error(400, "bad_field", "GET", "/api/receipt-search?amount=1e3")
    assert "NoneType" not in message
    assert message == "query parameter 'amount' must be an integer or null, got '1e3'"
