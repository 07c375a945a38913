"""A line's quantity, an order's table, a move and a split by items through a real node's API: two
registers, the split bill paid on the other one; refusals name the thing in the venue's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import until
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node import Node

from .conftest import running
from .kit import PIN, Client, http, make_configs


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[Node]]:
    configs = make_configs(tmp_path, [("R1", "register"), ("R2", "register")])
    async with running(configs) as linked:
        yield linked


async def test_quantity_place_and_split_over_two_registers(nodes: list[Node]) -> None:
    doc: dict[str, Any] = (await http(nodes[0].api_url, "GET", "/api/openapi.json")).json()
    r1, r2 = (Client.of(node, doc) for node in nodes)
    for reg in (r1, r2):
        await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await r1.ok("POST", "/api/orders", {"user": CASHIER, "table": "4"})
    path = f"/api/orders/{order['id']}"
    for product in ("burger", "lemonade"):
        order = await r1.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": product})
    burger, lemonade = order["lines"]
    order = await r1.ok(
        "PUT", f"{path}/lines/{burger['id']}/quantity", {"user": CASHIER, "quantity": 3}
    )
    assert [(ln["name"], ln["quantity"]) for ln in order["lines"]] == [
        ("Burger", 3),
        ("Lemonade", 1),
    ]
    assert order["lines"][0]["replaces"] == burger["id"]
    await r1.error(
        404,
        "unknown_line",
        "PUT",
        f"{path}/lines/{burger['id']}/quantity",
        {"user": CASHIER, "quantity": 2},
    )  # the replaced line is gone

    # more of a discounted line asks for someone who may give the discount, on the spot
    approved = {"approver": MANAGER, "approver_pin": PIN}
    line = {"user": CASHIER, "product_id": "croissant", "discount_id": "staff", **approved}
    order = await r1.ok("POST", f"{path}/lines", line)
    croissant = order["lines"][-1]["id"]
    more = {"user": CASHIER, "quantity": 4}
    message = await r1.error(
        403, "needs_approval", "PUT", f"{path}/lines/{croissant}/quantity", more
    )
    assert "(right: discount)" in message
    order = await r1.ok("PUT", f"{path}/lines/{croissant}/quantity", {**more, **approved})
    assert order["lines"][-1]["quantity"] == 4
    await r1.ok("DELETE", f"{path}/lines/{order['lines'][-1]['id']}", {"user": CASHIER})

    other = await r2.ok("POST", "/api/orders", {"user": CASHIER, "table": "9"})
    await until(  # (an opened order may leave a moment later, with the sale's next tap: coalesce)
        lambda: any(o.id == other["id"] for o in nodes[0].open_orders()),
        10,
        "R1 sees R2's order at table 9",
        on=nodes,
    )
    message = await r1.error(
        409, "table_taken", "PUT", f"{path}/place", {"user": CASHIER, "table": "9"}
    )
    assert message == (
        f"cannot move the order at table 4 to table 9: table 9 already has an open order "
        f"(#{other['id'][:6]}). Pay or move that order first"
    )
    moved = await r1.ok("PUT", f"{path}/place", {"user": CASHIER, "table": "12"})
    assert (moved["table"], moved["opened_table"]) == ("12", "4")

    total = moved["totals"]["total"]
    bill = await r1.ok(
        "POST", f"{path}/split", {"user": CASHIER, "lines": {moved["lines"][0]["id"]: 1}}
    )
    assert (bill["table"], bill["split_from"], bill["status"]) == ("12", order["id"], "open")
    assert [(ln["name"], ln["quantity"]) for ln in bill["lines"]] == [("Burger", 1)]
    await until(
        lambda: any(o.id == bill["id"] for o in nodes[1].open_orders()),
        10,
        "R2 sees the split bill",
        on=nodes,
    )
    paid = await r2.ok(
        "POST", f"/api/orders/{bill['id']}/payments", {"user": CASHIER, "method": "card"}
    )
    rest = await r1.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "cash"})
    assert paid["receipt"]["total"] + rest["receipt"]["total"] == total
    assert lemonade["id"] in {ln["line_id"] for ln in rest["receipt"]["lines"]}
