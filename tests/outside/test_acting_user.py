"""Found from the outside (red, thirteenth session), fixed (issue 18, who): a write's acting user was
whoever its body named.

A cashier signs in on the register page with their PIN (``POST /api/login``), and a refund, a void or a
discount they lack the right to needs a manager's PIN on the spot (``approver``, ``approver_pin``). But the
node checked a PIN only there: every write took ``"user"`` as the body said, with the token the page
embeds, so anyone at the register who read it (view-source, the browser's console) could refund to cash,
void or open the drawer as the manager. The page now embeds a page token whose writes need the session
the PIN sign-in answers, naming its user (meshpos/web/sessions.py). These tests use the token a person at
the register can read: the one in the page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.web.sessions import page_token_of
from tests.web.conftest import running
from tests.web.kit import PIN, Answer, Client, http, make_configs


@dataclass
class Register:
    api: Client  # with the API token (the developer's app: full trust)
    page: Client  # with the token the register page embeds


@pytest.fixture
async def register(tmp_path: Path) -> AsyncIterator[Register]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as nodes:
        doc = (await http(nodes[0].api_url, "GET", "/api/openapi.json")).json()
        api = Client.of(nodes[0], doc)
        html = (await http(nodes[0].api_url, "GET", "/")).body.decode()
        found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
        assert found, "the page on loopback embeds a token"
        assert found.group(1) != api.token, "the page must not hold the API token"
        await api.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        yield Register(api, Client(nodes[0].api_url, found.group(1), doc))


async def signed(client: Client, session: str, method: str, path: str, body: Any) -> Answer:
    return await client.call(method, path, body, headers={"X-Meshpos-Session": session})


async def sign_in(client: Client, user: str) -> str:
    answer = await client.ok("POST", "/api/login", {"user": user, "pin": PIN})
    assert len(answer["session"]) >= 22  # ≥ 128 bits
    return str(answer["session"])


async def paid_receipt(page: Client, session: str) -> str:
    order = (await signed(page, session, "POST", "/api/orders", {"user": CASHIER})).json()
    path = f"/api/orders/{order['id']}"
    line = {"user": CASHIER, "product_id": "burger"}
    assert (await signed(page, session, "POST", f"{path}/lines", line)).status == 201
    paid = await signed(
        page, session, "POST", f"{path}/payments", {"user": CASHIER, "method": "cash"}
    )
    assert paid.status in (200, 201), paid.body[:300]
    return str(paid.json()["receipt"]["id"])


async def test_a_cashier_cannot_refund_as_the_manager_without_the_managers_pin(
    register: Register,
) -> None:
    page = register.page
    session = await sign_in(page, CASHIER)  # the cashier signs in
    refund = f"/api/receipts/{await paid_receipt(page, session)}/refunds"
    # as themselves, they need the manager's PIN on the spot
    answer = await signed(page, session, "POST", refund, {"user": CASHIER})
    assert (answer.status, answer.code) == (403, "needs_approval"), answer.body[:300]
    # naming the manager instead, with no PIN at all: refused, naming the mismatch
    answer = await signed(page, session, "POST", refund, {"user": MANAGER, "method": "cash"})
    assert (answer.status, answer.code) == (403, "user_mismatch"), answer.body[:300]
    # with no sign-in at all
    await page.error(401, "session_required", "POST", refund, {"user": MANAGER, "method": "cash"})
    # with the manager's PIN on the spot it is the approval it always was
    approved = {"user": CASHIER, "method": "cash", "approver": MANAGER, "approver_pin": PIN}
    answer = await signed(page, session, "POST", refund, approved)
    assert answer.status in (200, 201), answer.body[:300]
    assert answer.json()["approved_by"] == MANAGER


async def test_a_session_ends_with_logout_and_the_page_token_still_reads(
    register: Register,
) -> None:
    page = register.page
    session = await sign_in(page, CASHIER)
    assert (await signed(page, session, "POST", "/api/orders", {"user": CASHIER})).status == 201
    assert (await signed(page, session, "POST", "/api/logout", None)).json() == {"ended": True}
    answer = await signed(page, session, "POST", "/api/orders", {"user": CASHIER})
    assert (answer.status, answer.code) == (401, "session_ended"), answer.body[:300]
    await page.ok("GET", "/api/orders")  # reads as before
    await page.error(
        401, "wrong_token", "GET", "/api/orders", headers={"Authorization": "Bearer x"}
    )


async def test_the_api_token_stays_full_trust(register: Register) -> None:
    """The developer's register app authenticates its users itself (docs/api.md)."""
    await register.api.ok("POST", "/api/orders", {"user": MANAGER})


async def test_no_page_writes_in_a_cooks_name_without_the_cooks_pin(register: Register) -> None:
    """The kitchen's writes were the exception (issue 18, cook): with the page token alone they named
    any user holding no right, so a register's page set the stop list in a cook's name. Now a cook
    signs in at the kitchen screen (tests/outside/test_kitchen_cook.py) and the exception is gone."""
    page = register.page
    stop = "/api/stoplist/burger"
    await page.error(401, "session_required", "PUT", stop, {"user": COOK, "stopped": True})
    session = await sign_in(page, CASHIER)
    answer = await signed(page, session, "PUT", stop, {"user": COOK, "stopped": True})
    assert (answer.status, answer.code) == (403, "user_mismatch"), answer.body[:300]
    assert (await page.ok("GET", "/api/stoplist")) == []
    # in the cashier's own name, as before
    assert (
        await signed(page, session, "PUT", stop, {"user": CASHIER, "stopped": True})
    ).status == 200
    await page.error(401, "session_required", "POST", "/api/orders", {"user": COOK})


async def test_a_page_write_done_before_a_restart_is_replayed_not_refused_nor_written_again(
    tmp_path: Path,
) -> None:
    """A restart ends every sign-in, but a page's retry of a write the node had done (the same
    Idempotency-Key) answers its first answer, as any keyed retry does; a new write is refused."""
    configs = make_configs(tmp_path, [("R1", "register")])
    headers = {"Idempotency-Key": "tap-1"}
    async with running(configs) as (r1,):
        api = Client.of(r1)
        token = page_token_of(r1.api_token)
        await api.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        page = Client(r1.api_url, token)
        headers["X-Meshpos-Session"] = await sign_in(page, CASHIER)
        first = await page.call("POST", "/api/orders", {"user": CASHIER}, headers=headers)
        assert first.status == 201, first.body[:300]
    async with running(configs) as (r1,):
        page = Client(r1.api_url, token)
        again = await page.call("POST", "/api/orders", {"user": CASHIER}, headers=headers)
        assert (again.status, again.json()) == (201, first.json())
        assert again.headers.get("idempotent-replayed") == "true"
        headers["Idempotency-Key"] = "tap-2"
        new = await page.call("POST", "/api/orders", {"user": CASHIER}, headers=headers)
        assert (new.status, new.code) == (401, "session_ended"), new.body[:300]
        assert len(await Client.of(r1).ok("GET", "/api/orders")) == 1
