"""Found from the outside: a request body naming a field twice (``{"user": "u-anna", ..., "user": "u-max"}``)
was taken with its last value, silently. Which one counts is the parser's choice (a proxy or log that reads
the first sees another request than the register acts on), so the node's API and the console's refuse it:
400 ``bad_json`` naming the field, at any depth, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER, MANAGER
from tests.web.kit import http, register_with_open_shift

from ..mesh.kit import ConsoleProcess, make_venue


async def test_the_node_refuses_a_field_named_twice_and_opens_no_order(tmp_path: Path) -> None:
    with register_with_open_shift(tmp_path) as node:
        auth = {"Authorization": f"Bearer {node.client.token}"}
        before = node.call("GET", "/api/orders")
        raw = f'{{"user": "{CASHIER}", "table": "5", "user": "{MANAGER}"}}'.encode()
        answer = await http(node.api, "POST", "/api/orders", raw=raw, headers=auth)
        assert answer.status == 400, answer.body
        error = json.loads(answer.body)["error"]
        assert error["code"] == "bad_json"
        assert "'user'" in error["message"]
        assert "twice" in error["message"]
        assert node.call("GET", "/api/orders") == before

        order = node.call("POST", "/api/orders", {"user": CASHIER})
        nested = f'{{"user": "{CASHIER}", "product_id": "burger", "modifiers": []}}'
        assert (
            await http(
                node.api,
                "POST",
                f"/api/orders/{order['id']}/lines",
                raw=nested.encode(),
                headers=auth,
            )
        ).status == 201  # the same body without a repeat is taken


async def test_the_console_refuses_a_field_named_twice_at_any_depth(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        venue = f"/api/venues/{authority.venue_id}"
        auth = {
            "Authorization": f"Bearer {read_token(tmp_path / 'console' / 'console-admin.token')}"
        }
        base = str(console.ready["api"])
        top = b'{"id": "latte", "name": "Latte", "price": 350, "price": 1}'
        deep = (
            b'{"id": "milk", "name": "Milk", "min_select": 0, "max_select": 1, "modifiers": '
            b'[{"id": "oat", "name": "Oat", "price_delta": 50, "price_delta": -500}]}'
        )
        for path, raw, field in (
            (f"{venue}/products", top, "price"),
            (f"{venue}/modifier_groups", deep, "price_delta"),
        ):
            answer = await http(base, "POST", path, raw=raw, headers=auth)
            assert answer.status == 400, (path, answer.body)
            error = json.loads(answer.body)["error"]
            assert (error["code"], f"{field!r}" in error["message"]) == ("bad_json", True), error
        assert [e["action"] for e in console.call("GET", f"{venue}/audit")] == []
    finally:
        console.stop()
