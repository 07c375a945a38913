"""An order holds at most ``MAX_ORDER_LINES`` lines (issue 18, keep), through a real node's API.

Each tap reads and answers the whole order, so at 600-800 lines (a stuck barcode scanner) a tap cost
~200 ms and its answer 370 kB. One more line than the limit is 422 ``order_full`` naming it, and changes
nothing; the OpenAPI document says so. A peer's order past the limit (an enrolled device dialling R1's
mesh port over mTLS writes lines into it) is read whole, its money exact, but grows no further on R1.
Fails before the fix: the 501st line was taken (201).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.harness.wait import until
from meshpos.model.documents import ledger_name
from meshpos.model.limits import MAX_ORDER_LINES
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.sync import SyncUpdate
from meshpos.trust import load_venue

from ..mesh.attacker import Attacker
from ..trust.helpers import issue_identity
from .conftest import running
from .kit import Client, http, make_configs


@pytest.fixture
async def r1(tmp_path: Path) -> AsyncIterator[Node]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as (node,):
        yield node


async def lines_from_a_peer(
    node: Node, venue: Path, order_id: str, lines: int, client_id: int
) -> None:
    """An enrolled register (R9, over mTLS on ``node``'s mesh port) writes ``lines`` copies of the
    order's first line into it, in one update."""
    peer = await Attacker.dial(
        issue_identity(load_venue(venue), f"R{client_id}"), "R1", "127.0.0.1", node.port
    )
    try:
        await peer.wait_for_hello()
        await peer.send(peer.hello("register", client_id=client_id))
        name = ledger_name(node.business_date(node.now_ms()))
        ledger: Doc[Any] = Doc(client_id=client_id)
        ledger.apply_update(await peer.fetch(name))
        seen = ledger.get_state()
        order = ledger.get("orders", type=Map)[order_id]
        record = next(v for k, v in order.items() if k.startswith("lines/"))  # (as stored)
        with ledger.transaction():
            for i in range(lines):
                order[f"lines/peer-{client_id}-{i}"] = record
        await peer.send(SyncUpdate(name, ledger.get_update(seen)))
    finally:
        await peer.close()


async def test_one_line_past_the_limit_is_422_naming_it_and_a_peer_s_big_order_grows_no_more(
    r1: Node, tmp_path: Path
) -> None:
    doc: dict[str, Any] = (await http(r1.api_url, "GET", "/api/openapi.json")).json()
    told = doc["paths"]["/api/orders/{order_id}/lines"]["post"]
    assert f"at most {MAX_ORDER_LINES} lines" in told["description"]
    assert "order_full" in told["description"]
    assert "422" in told["responses"]
    assert "order_full" in doc["components"]["responses"]["422"]["description"]

    api = Client.of(r1, doc)
    await api.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await api.ok("POST", "/api/orders", {"user": CASHIER, "table": "7"})
    path = f"/api/orders/{order['id']}/lines"
    tap = {"user": CASHIER, "product_id": "burger"}
    await api.ok("POST", path, tap)
    await lines_from_a_peer(r1, tmp_path / "venue", order["id"], MAX_ORDER_LINES - 2, 90301)
    await until(
        lambda: len(r1.order(order["id"]).lines) == MAX_ORDER_LINES - 1,
        30,
        "the peer's lines on R1",
        on=[r1],
    )
    full = await api.ok("POST", path, tap)  # the last one an order may hold
    assert len(full["lines"]) == MAX_ORDER_LINES
    message = await api.error(422, "order_full", "POST", path, {**tap, "quantity": 2})
    assert f"({MAX_ORDER_LINES})" in message
    assert "table 7" in message
    assert "quantity" in message  # what to do instead
    again = await api.ok("GET", f"/api/orders/{order['id']}")
    assert again == full  # nothing changed

    # a peer's order past the limit: read whole (its money exact), grows no further here
    await lines_from_a_peer(r1, tmp_path / "venue", order["id"], 100, 90302)
    await until(
        lambda: len(r1.order(order["id"]).lines) == MAX_ORDER_LINES + 100,
        30,
        "the peer's lines past the limit on R1",
        on=[r1],
    )
    big = await api.ok("GET", f"/api/orders/{order['id']}")
    price = full["lines"][0]["unit_price"]
    assert big["totals"]["total"] == price * (MAX_ORDER_LINES + 100)
    await api.error(422, "order_full", "POST", path, tap)
    assert len(r1.order(order["id"]).lines) == MAX_ORDER_LINES + 100
