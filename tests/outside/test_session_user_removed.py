"""A cashier's sign-in after the manager removed that user, or their rights (red, fourteenth session).

The register page's writes carry a session a PIN sign-in handed out (web/sessions.py); the manager
removes a user, or changes their role, at the console, and the change reaches the register. Each write
naming its user looks the user and their rights up when it runs, so those are refused at once (both
on main). But the session itself went on: a write naming no user (clear cache, the deny-list) still went
as the removed user's. Now a session whose user the catalog no longer holds has ended (401
``session_ended``). A user whose rights went keeps their session for what needs no right (clear cache
needed none then; it needs a manager's right since: tests/outside/test_clear_cache_right.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.model import Replica, Venue, hash_pin
from meshpos.model.catalog_types import User
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.node import Node
from tests.web.conftest import running
from tests.web.kit import PIN, Answer, Client, http

from ..mesh.kit import make_device, make_venue


@dataclass
class Bed:
    node: Node
    page: Client
    console: Replica  # the console's catalog, whose later edits the test hands to the node


@pytest.fixture
async def bed(tmp_path: Path) -> AsyncIterator[Bed]:
    console = Replica()
    sample_catalog(Venue(console, device="console", role="console").catalog, pin_hash=hash_pin(PIN))
    path = make_device(
        make_venue(tmp_path), tmp_path, "R1", catalog=console.doc("catalog").get_update()
    )
    async with running([load_config(path, env={})]) as (node,):
        doc = (await http(node.api_url, "GET", "/api/openapi.json")).json()
        html = (await http(node.api_url, "GET", "/")).body.decode()
        found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
        assert found
        await Client.of(node, doc).ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        yield Bed(node, Client(node.api_url, found.group(1), doc), console)


async def console_edit(bed: Bed, edit: object) -> None:
    """The console's catalog edit, handed to the node's engine as a received update (not over the
    wire: what is checked here is what the page's session does once the catalog says so)."""
    before = bed.console.doc("catalog").get_state()
    catalog = Venue(bed.console, device="console", role="console").catalog
    edit(catalog)  # type: ignore[operator]
    update = bed.console.doc("catalog").get_update(before)
    await bed.node._run().engine.apply_stored("catalog", [update])


async def signed(bed: Bed, session: str, method: str, path: str, body: object) -> Answer:
    return await bed.page.call(method, path, body, headers={"X-Meshpos-Session": session})


async def test_a_removed_users_session_writes_nothing(bed: Bed) -> None:
    session = (await bed.page.ok("POST", "/api/login", {"user": CASHIER, "pin": PIN}))["session"]
    assert (await signed(bed, session, "POST", "/api/orders", {"user": CASHIER})).status == 201
    await console_edit(bed, lambda catalog: catalog.remove("users", CASHIER))
    answer = await signed(bed, session, "POST", "/api/orders", {"user": CASHIER})
    assert answer.status in (401, 422), answer.body[:300]  # refused on main too (unknown_user)
    answer = await signed(bed, session, "POST", "/api/clear-cache", None)  # names no user
    assert (answer.status, answer.code) == (401, "session_ended"), answer.body[:300]


async def test_a_user_whose_rights_went_signs_in_again(bed: Bed) -> None:
    session = (await bed.page.ok("POST", "/api/login", {"user": CASHIER, "pin": PIN}))["session"]
    await console_edit(bed, lambda c: c.put_user(User(CASHIER, "Cashier", "cook", hash_pin(PIN))))
    answer = await signed(bed, session, "POST", "/api/orders", {"user": CASHIER})
    assert (answer.status, answer.code) == (403, "permission_denied"), answer.body[:300]
