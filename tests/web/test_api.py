"""The local JSON API against real nodes (real SQLite, real mTLS link between a register and a kitchen screen)
over real HTTP on 127.0.0.1. Every answer is checked against the served OpenAPI document."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.console.db import open_console_db
from meshpos.console.runner import register_venues
from meshpos.console.server import ConsoleServer
from meshpos.harness.wait import until
from meshpos.model.ledger_types import ORDER_NUMBER_CHARS
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.node import Node
from meshpos.trust.authority import load_venue

from ..relay.consoles import SETTLE_S
from .conftest import running
from .kit import PIN, Client, http, make_configs


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])


@pytest.fixture
async def mesh(configs: list[Config]) -> AsyncIterator[tuple[Node, Node]]:
    async with running(configs) as (r1, k1):
        yield r1, k1


@pytest.fixture
async def doc(mesh: tuple[Node, Node]) -> dict[str, Any]:
    answer = await http(mesh[0].api_url, "GET", "/api/openapi.json")
    assert answer.status == 200
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def reg(mesh: tuple[Node, Node], doc: dict[str, Any]) -> Client:
    return Client.of(mesh[0], doc)


@pytest.fixture
def kds(mesh: tuple[Node, Node], doc: dict[str, Any]) -> Client:
    return Client.of(mesh[1], doc)


async def sell(reg: Client, *products: str) -> dict[str, Any]:
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER})
    for product in products:
        await reg.ok(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": product}
        )
    return order


async def test_a_register_day_from_shift_to_refund(reg: Client) -> None:
    assert (await reg.ok("GET", "/api/shifts/current")) == {"shift": None, "expected_cash": None}
    shift = await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    assert shift["is_open"]
    assert shift["opening_cash"] == 10_000

    catalog = await reg.ok("GET", "/api/catalog")
    products = {p["id"]: p for p in catalog["products"]}
    assert products["espresso"]["price"] == 250
    assert not products["espresso"]["stopped"]
    assert "Coffee" in catalog["categories"]
    assert {g["id"] for g in catalog["modifier_groups"]} == {"milk", "size"}
    assert {d["id"] for d in catalog["discounts"]} == {"staff", "happy", "voucher5"}
    assert all("pin_hash" not in u for u in catalog["users"])

    order = await reg.ok("POST", "/api/orders", {"user": CASHIER, "table": "T4"})
    assert (order["table"], order["status"]) == ("T4", "open")
    path = f"/api/orders/{order['id']}"
    await reg.ok(
        "POST", f"{path}/lines", {"user": CASHIER, "product_id": "espresso", "quantity": 2}
    )
    order = await reg.ok(
        "POST",
        f"{path}/lines",
        {"user": CASHIER, "product_id": "latte", "modifiers": ["large", "oat"]},
    )
    latte = order["lines"][1]
    assert latte["unit_price"] == 390 + 80 + 50
    assert [m["id"] for m in latte["modifiers"]] == ["large", "oat"]
    order = await reg.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "croissant"})
    croissant = order["lines"][2]["id"]
    order = await reg.ok("DELETE", f"{path}/lines/{croissant}", {"user": CASHIER, "reason": "no"})
    assert [line["product_id"] for line in order["lines"]] == ["espresso", "latte"]
    assert order["totals"]["due"] == 2 * 250 + 520

    sent = await reg.ok("POST", f"{path}/kitchen", {"user": CASHIER})
    assert [i["name"] for i in sent["ticket"]["items"]] == ["Espresso", "Latte"]
    assert (await reg.ok("POST", f"{path}/kitchen", {"user": CASHIER})) == {"ticket": None}
    assert (await reg.ok("GET", path))["sent_line_ids"] == sorted(
        line["id"] for line in order["lines"]
    )

    # split: 3.00 by card, then cash with 20.00 tendered and a 1.00 tip
    first = await reg.ok(
        "POST", f"{path}/payments", {"user": CASHIER, "method": "card", "amount": 300}
    )
    assert first["receipt"] is None
    assert first["change"] == 0
    assert (await reg.ok("GET", path))["totals"]["due"] == 720
    paid = await reg.ok(
        "POST",
        f"{path}/payments",
        {"user": CASHIER, "method": "cash", "tendered": 2_000, "tip": 100},
    )
    assert paid["change"] == 2_000 - 100 - 720
    receipt = paid["receipt"]
    assert receipt["number"] == "R1-000001"
    assert receipt["total"] == 1_020
    assert (await reg.ok("GET", path))["status"] == "paid"
    assert [r["id"] for r in await reg.ok("GET", "/api/receipts")] == [receipt["id"]]
    today = (await reg.ok("GET", "/api/kitchen/tickets"))["date"]  # the node's business day
    assert [r["id"] for r in await reg.ok("GET", f"/api/receipts?date={today}")] == [receipt["id"]]
    assert await reg.ok("GET", "/api/receipts?date=1999-01-01") == []  # a day not loaded
    assert await reg.ok("GET", f"/api/receipts?before={receipt['id']}") == []  # nothing older
    await reg.error(404, "unknown_receipt", "GET", "/api/receipts?before=nope")
    assert await reg.ok("GET", "/api/orders") == []
    assert [o["id"] for o in await reg.ok("GET", "/api/orders?status=paid")] == [order["id"]]

    # refunds need the refund right: the manager does it, one espresso first, then the rest
    rpath = f"/api/receipts/{receipt['id']}"
    espresso = receipt["lines"][0]["line_id"]
    one = await reg.ok(
        "POST", f"{rpath}/refunds", {"user": MANAGER, "lines": {espresso: 1}, "reason": "cold"}
    )
    assert one["amount"] == 250
    assert one["method"] == "card"  # paid first (300 by card), and it can take 250 whole
    # cash out never more than cash in: the receipt took 720 in cash, the rest is 770
    over = await reg.error(
        409, "over_refund", "POST", f"{rpath}/refunds", {"user": MANAGER, "method": "cash"}
    )
    assert "cannot give back 770 in cash" in over
    assert "it took 720 in cash" in over
    rest = await reg.ok("POST", f"{rpath}/refunds", {"user": MANAGER})
    assert rest["amount"] == 1_020 - 250
    assert (
        rest["method"] == "card"
    )  # no tender can take 770 whole: the card takes it, not the drawer
    view = await reg.ok("GET", rpath)
    assert view["refunded"] == {espresso: 2, receipt["lines"][1]["line_id"]: 1}
    assert view["tenders"] == [
        {"method": "card", "paid": 300, "refunded": 1_020},
        {"method": "cash", "paid": 720, "refunded": 0},
    ]
    assert [r["id"] for r in view["refunds"]] == [one["id"], rest["id"]]

    move = await reg.ok(
        "POST", "/api/shifts/current/cash-moves", {"user": CASHIER, "kind": "in", "amount": 500}
    )
    assert move["kind"] == "in"
    await reg.ok(
        "POST",
        "/api/inventory",
        {"user": MANAGER, "product_id": "fries", "kind": "writeoff", "quantity": 3},
    )
    empty = await reg.ok("POST", "/api/orders", {"user": CASHIER})
    voided = await reg.ok("POST", f"/api/orders/{empty['id']}/void", {"user": CASHIER})
    assert voided["status"] == "void"

    current = await reg.ok("GET", "/api/shifts/current")
    expected = 10_000 + 820 + 500  # cash sale with tip, cash in; both refunds went back by card
    assert current["expected_cash"] == expected
    closed = await reg.ok(
        "POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": expected - 10}
    )
    assert closed["close"]["difference"] == -10
    assert not closed["is_open"]


async def test_an_order_discount_through_the_api(reg: Client) -> None:
    """Venue.apply_order_discount is reachable over the node's API: the right, the discount's scope and
    the order's state are checked there, and the discount reaches the totals and the receipt."""
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    discounts = {d["id"]: d for d in (await reg.ok("GET", "/api/catalog"))["discounts"]}
    percent = next(
        d for d in discounts.values() if d["scope"] == "order" and d["kind"] == "percent"
    )
    line_only = next(d for d in discounts.values() if d["scope"] == "line")
    order = await sell(reg, "espresso", "espresso")
    path = f"/api/orders/{order['id']}/discounts"
    body = {"user": MANAGER, "discount_id": percent["id"]}

    await reg.error(403, "needs_approval", "POST", path, {**body, "user": CASHIER})
    await reg.error(422, "domain_error", "POST", path, {**body, "discount_id": line_only["id"]})
    await reg.error(422, "unknown_record", "POST", path, {**body, "discount_id": "nope"})
    await reg.error(400, "missing_field", "POST", path, {"user": MANAGER})
    before = await reg.ok("GET", f"/api/orders/{order['id']}")
    assert before["totals"]["discount"] == 0

    discounted = await reg.ok("POST", path, body)
    subtotal = before["totals"]["subtotal"]
    assert subtotal * percent["value"] % 10_000 == 0  # two espressos: no rounding to reason about
    assert discounted["totals"]["discount"] == subtotal * percent["value"] // 10_000
    assert discounted["totals"]["due"] == before["totals"]["due"] - discounted["totals"]["discount"]
    assert await reg.ok("GET", f"/api/orders/{order['id']}") == discounted

    part = await reg.ok(
        "POST",
        f"/api/orders/{order['id']}/payments",
        {"user": CASHIER, "method": "card", "amount": 1},
    )
    assert part["receipt"] is None
    await reg.error(422, "domain_error", "POST", path, body)  # partly paid: discounts come first
    paid = await reg.ok(
        "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"}
    )
    assert paid["receipt"]["discount"] == discounted["totals"]["discount"]
    await reg.error(409, "order_not_open", "POST", path, body)


async def test_kitchen_screen_bumps_recalls_and_stops_items(
    mesh: tuple[Node, Node], reg: Client, kds: Client
) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await sell(reg, "burger", "fries")
    sent = await reg.ok("POST", f"/api/orders/{order['id']}/kitchen", {"user": CASHIER})
    ticket = sent["ticket"]["id"]
    board: dict[str, Any] = {}

    async def fetch_board() -> None:
        board.update(await kds.ok("GET", "/api/kitchen/tickets"))

    await fetch_board()
    await until(
        lambda: mesh[1].venue.kitchen(board["date"]).has(ticket), 5, "ticket on K1", on=[mesh[1]]
    )
    await fetch_board()
    [card] = board["tickets"]
    assert (card["state"], card["actions"]) == ("new", ["bump"])
    assert 0 <= card["age_ms"] < 60_000

    tpath = f"/api/kitchen/tickets/{ticket}"
    assert (await kds.ok("POST", f"{tpath}/bump", {"user": COOK}))["state"] == "cooking"
    await kds.error(409, "invalid_transition", "POST", f"{tpath}/recall", {"user": COOK})
    assert (await kds.ok("POST", f"{tpath}/bump", {"user": COOK}))["state"] == "ready"
    assert (await kds.ok("POST", f"{tpath}/recall", {"user": COOK}))["state"] == "cooking"
    open_board = await kds.ok("GET", "/api/kitchen/tickets?states=new,ready")
    assert open_board["tickets"] == []
    await kds.error(400, "bad_field", "GET", "/api/kitchen/tickets?states=burnt")
    other_day = await kds.ok("GET", "/api/kitchen/tickets?date=2001-01-01")
    assert other_day["tickets"] == []

    stop = await kds.ok("PUT", "/api/stoplist/fries", {"user": COOK, "stopped": True})
    assert (stop["product_id"], stop["stopped"], stop["user_name"]) == ("fries", True, "Kim")
    assert (stop["device"], stop["name"]) == ("K1", "Fries")
    await until(
        lambda: mesh[0].venue.stoplist.is_stopped("fries"), 5, "the stop on R1", on=[mesh[0]]
    )
    [listed] = await reg.ok("GET", "/api/stoplist")
    assert listed == stop
    fries = next(p for p in (await reg.ok("GET", "/api/catalog"))["products"] if p["id"] == "fries")
    assert fries["stopped"]
    assert fries["stop"] == stop
    await reg.error(
        409,
        "item_stopped",
        "POST",
        f"/api/orders/{order['id']}/lines",
        {"user": CASHIER, "product_id": "fries"},
    )
    await reg.ok(
        "POST",
        f"/api/orders/{order['id']}/lines",
        {"user": MANAGER, "product_id": "fries", "override_stop": True},
    )
    await reg.ok("PUT", "/api/stoplist/fries", {"user": CASHIER, "stopped": False})
    assert await reg.ok("GET", "/api/stoplist") == []


async def test_request_errors(reg: Client, doc: dict[str, Any]) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await sell(reg, "espresso")
    lines = f"/api/orders/{order['id']}/lines"

    bad = await reg.call("POST", lines, raw=b'{"user": "u-anna",')
    assert (bad.status, bad.code) == (400, "bad_json")
    bad = await reg.call("POST", lines, raw=b"[1, 2]")
    assert (bad.status, bad.code) == (400, "bad_json")
    await reg.error(400, "missing_field", "POST", lines, {"user": CASHIER})
    await reg.error(
        400, "bad_field", "POST", lines, {"user": CASHIER, "product_id": "fries", "quantity": "2"}
    )
    await reg.error(
        400, "bad_field", "POST", lines, {"user": CASHIER, "product_id": "fries", "quantity": True}
    )
    await reg.error(400, "bad_field", "POST", lines, {"user": CASHIER, "product_id": 7})
    await reg.error(
        400, "unknown_field", "POST", lines, {"user": CASHIER, "product_id": "fries", "qty": 2}
    )
    await reg.error(400, "unexpected_body", "GET", f"/api/orders/{order['id']}", {"x": 1})
    too_big = await reg.call("POST", lines, raw=b"{" + b" " * 300_000 + b"}")
    assert (too_big.status, too_big.code) == (413, "too_large")

    no_token = Client(reg.base, "", doc)
    await no_token.error(401, "missing_token", "GET", "/api/catalog")
    await no_token.error(401, "missing_token", "GET", "/api/events")
    wrong = Client(reg.base, "not-the-token", doc)
    await wrong.error(401, "wrong_token", "GET", "/api/catalog")
    await no_token.error(
        401, "wrong_token", "GET", "/api/catalog", headers={"Authorization": f"Basic {reg.token}"}
    )

    wrong_method = await reg.call("PATCH", lines)
    assert (wrong_method.status, wrong_method.code) == (405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    await reg.error(405, "method_not_allowed", "DELETE", "/api/catalog")
    await reg.error(404, "not_found", "GET", "/api/nothing-here")

    await reg.error(404, "unknown_order", "GET", "/api/orders/nope")
    await reg.error(404, "unknown_order", "POST", "/api/orders/nope/lines",
                    {"user": CASHIER, "product_id": "fries"})  # fmt: skip
    await reg.error(404, "unknown_line", "DELETE", f"{lines}/nope", {"user": CASHIER})
    await reg.error(404, "unknown_order", "POST", "/api/orders/nope/void", {"user": "u-ghost"})
    await reg.error(404, "unknown_receipt", "GET", "/api/receipts/nope")
    await reg.error(404, "unknown_receipt", "POST", "/api/receipts/nope/refunds", {"user": MANAGER})
    await reg.error(404, "unknown_ticket", "POST", "/api/kitchen/tickets/nope/bump", {"user": COOK})
    await reg.error(404, "unknown_product", "PUT", "/api/stoplist/nope",
                    {"user": COOK, "stopped": True})  # fmt: skip


async def test_rule_errors(mesh: tuple[Node, Node], reg: Client, kds: Client) -> None:
    await reg.error(409, "shift_closed", "POST", "/api/orders", {"user": CASHIER})
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    await reg.error(409, "shift_error", "POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await sell(reg, "espresso")
    path = f"/api/orders/{order['id']}"

    await reg.error(422, "unknown_user", "POST", "/api/orders", {"user": "u-nobody"})
    await reg.error(
        422, "unknown_product", "POST", f"{path}/lines", {"user": CASHIER, "product_id": "caviar"}
    )
    await reg.error(
        422, "unknown_record", "POST", f"{path}/lines",
        {"user": CASHIER, "product_id": "latte", "modifiers": ["small", "ketchup"]},
    )  # fmt: skip
    await reg.error(
        422, "invalid_amount", "POST", f"{path}/payments",
        {"user": CASHIER, "method": "card", "amount": 0},
    )  # fmt: skip
    await reg.error(
        409, "overpayment", "POST", f"{path}/payments",
        {"user": CASHIER, "method": "card", "amount": 251},
    )  # fmt: skip
    # voiding an order with lines needs the void right, which a cashier lacks
    await reg.error(403, "needs_approval", "POST", f"{path}/void", {"user": CASHIER})
    close = {"user": CASHIER, "counted_cash": 0}
    refusal = await reg.error(
        409, "open_orders_on_shift", "POST", "/api/shifts/current/close", close
    )
    assert f"order #{order['id'][:ORDER_NUMBER_CHARS]}" in refusal  # the number the page shows
    assert order["id"] not in refusal

    # the kitchen screen holds the order (it syncs the ledger) but may not write money records
    await until(lambda: _has_order(mesh[1], order["id"]), 5, "the order on K1", on=[mesh[1]])
    await kds.error(
        403, "permission_denied", "POST", f"{path}/payments", {"user": MANAGER, "method": "card"}
    )
    await kds.error(403, "permission_denied", "POST", "/api/orders", {"user": MANAGER})

    paid = await reg.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "cash"})
    await reg.error(
        409, "order_not_open", "POST", f"{path}/payments", {"user": CASHIER, "method": "cash"}
    )
    rpath = f"/api/receipts/{paid['receipt']['id']}/refunds"
    await reg.error(403, "needs_approval", "POST", rpath, {"user": CASHIER})
    line = paid["receipt"]["lines"][0]["line_id"]
    await reg.error(409, "over_refund", "POST", rpath, {"user": MANAGER, "lines": {line: 2}})

    message = await reg.error(409, "clear_cache_refused", "POST", "/api/clear-cache")
    assert "not at the console yet" in message


def _has_order(node: Node, order_id: str) -> bool:
    return any(ledger.has_order(order_id) for ledger in node.venue.ledgers())


async def test_status_for_the_register_app(reg: Client) -> None:
    status = await reg.ok("GET", "/api/status")
    assert (status["node"], status["role"], status["colour"]) == ("R1", "register", "yellow")
    assert status["peers"] == {"K1": True}
    assert status["pending"] == 0  # nothing sold yet: the catalog came from the console
    assert status["message"] == "All data is synced"
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    status = await reg.ok("GET", "/api/status")
    assert status["pending"] > 0
    assert status["message"] != "All data is synced"


async def test_login_checks_the_pin(reg: Client) -> None:
    ok = await reg.ok("POST", "/api/login", {"user": CASHIER, "pin": PIN})
    assert ok["user"]["name"] == "Anna"
    assert "sell" in ok["user"]["rights"]
    await reg.error(403, "login_refused", "POST", "/api/login", {"user": CASHIER, "pin": "0000"})
    await reg.error(403, "login_refused", "POST", "/api/login", {"user": "u-ghost", "pin": PIN})


async def test_open_endpoints_need_no_token(mesh: tuple[Node, Node]) -> None:
    base = mesh[0].api_url
    health = await http(base, "GET", "/health")
    assert health.json() == {"ok": True, "node": "R1"}
    status = (await http(base, "GET", "/status")).json()
    assert status["colour"] == "yellow"
    assert status["peers"] == {"K1": True}
    assert (await http(base, "GET", "/api/openapi.json")).status == 200


async def test_clear_cache_re_pulls_the_catalog_when_everything_is_at_the_console(
    tmp_path: Path,
) -> None:
    db = await open_console_db(f"sqlite:///{tmp_path / 'console.db'}")
    console = ConsoleServer(db, "127.0.0.1", 0, heartbeat_interval=0.2)
    port = await console.start()
    try:
        [config] = await asyncio.to_thread(make_configs, tmp_path, [("R1", "register")])
        await register_venues(db, [tmp_path / "venue"])
        config = dataclasses.replace(
            config,
            console_url=f"ws://127.0.0.1:{port}",
            console_token=load_venue(tmp_path / "venue").console_token,
        )
        async with running([config]) as (r1,):
            reg = Client.of(r1)
            await until(
                lambda: (r1.status().colour, r1.status().pending) == ("green", 0),
                15,
                "a path to the console and nothing pending",
                on=[r1],
            )
            done = await reg.ok("POST", "/api/clear-cache")
            assert done["ok"] is True
            assert "catalog" in done["message"]
            await until(
                lambda: len(r1.venue.catalog.products()) == 7, 10, "the catalog back", on=[r1]
            )
            assert len((await reg.ok("GET", "/api/catalog"))["products"]) == 7
    finally:
        await console.stop(settle_within=SETTLE_S)
        await db.close()
