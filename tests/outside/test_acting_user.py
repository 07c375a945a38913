"""Found from the outside (red, thirteenth session), not fixed: a write's acting user is whoever its body
names.

A cashier signs in on the register page with their PIN (``POST /api/login``), and a refund, a void or a
discount they lack the right to needs a manager's PIN on the spot (``approver``, ``approver_pin``). But the
node checks a PIN only there: every write takes ``"user"`` as the body says, with the node's API token alone.
The page gets that token from the node (written into the page on loopback), so anyone at the register who
reads it (view-source, the browser's console) can refund to cash, void or open the drawer as the manager,
and the record says the manager did it, with no approval. Closing it binds a write to a user's sign-in (a
session the login hands out, checked on every write) and changes every client of the API: too large for
this session, so the test is marked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.model.sample import CASHIER, MANAGER
from tests.web.conftest import running
from tests.web.kit import PIN, Client, http, make_configs


@pytest.fixture
async def register(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as nodes:
        doc = (await http(nodes[0].api_url, "GET", "/api/openapi.json")).json()
        client = Client.of(nodes[0], doc)
        await client.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        yield client


@pytest.mark.xfail(
    strict=True,
    reason="a write's user is not bound to a sign-in: any holder of the API token acts as anyone",
)
async def test_a_cashier_cannot_refund_as_the_manager_without_the_managers_pin(
    register: Client,
) -> None:
    await register.ok("POST", "/api/login", {"user": CASHIER, "pin": PIN})  # the cashier signs in
    order = await register.ok("POST", "/api/orders", {"user": CASHIER})
    path = f"/api/orders/{order['id']}"
    await register.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
    paid = await register.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "cash"})
    refund = f"/api/receipts/{paid['receipt']['id']}/refunds"
    # as themselves, they need the manager's PIN on the spot
    await register.error(403, "needs_approval", "POST", refund, {"user": CASHIER})
    # naming the manager instead, with no PIN at all
    answer = await register.call("POST", refund, {"user": MANAGER, "method": "cash"})
    assert answer.status in (401, 403), (answer.status, answer.body[:300])
