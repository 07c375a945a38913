"""Found from the outside (eleventh round, the hostile API client): a script that writes money as people
do, ``"price": "2.50"`` or ``2.5``, was refused with ``field 'price' must be an integer, got '2.50'``,
which says what is wrong but not what is right (a price of ``2`` would then be taken as 0.02). A money
field given a decimal now says how money is written: an integer number of minor units (cents). Still 400
``bad_field``, nothing written, on the console's API and the register's."""

from __future__ import annotations

import json
from pathlib import Path

from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER
from tests.web.kit import http, register_with_open_shift

from ..mesh.kit import ConsoleProcess, make_venue

MINOR = "an integer number of minor units (cents)"


async def test_the_console_says_how_money_is_written_when_given_a_decimal(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        venue = f"/api/venues/{authority.venue_id}"
        token = read_token(tmp_path / "console" / "console-admin.token")
        auth = {"Authorization": f"Bearer {token}"}
        base = str(console.ready["api"])
        for price in ('"2.50"', "2.5", '"2,50"'):
            raw = f'{{"id": "latte", "name": "Latte", "price": {price}}}'.encode()
            answer = await http(base, "POST", f"{venue}/products", raw=raw, headers=auth)
            error = json.loads(answer.body)["error"]
            assert (answer.status, error["code"]) == (400, "bad_field"), answer.body
            assert MINOR in error["message"], error
        raw = b'{"id": "latte", "name": "Latte", "price": "latte"}'  # not money: no lecture
        answer = await http(base, "POST", f"{venue}/products", raw=raw, headers=auth)
        assert MINOR not in json.loads(answer.body)["error"]["message"]
        assert [e["action"] for e in console.call("GET", f"{venue}/audit")] == []
    finally:
        console.stop()


async def test_the_register_says_how_money_is_written_when_given_a_decimal(
    tmp_path: Path,
) -> None:
    with register_with_open_shift(tmp_path) as node:
        auth = {"Authorization": f"Bearer {node.client.token}"}
        order = node.call("POST", "/api/orders", {"user": CASHIER})
        node.call(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "burger"}
        )
        body = {"user": CASHIER, "method": "cash", "tendered": "20.00"}
        path = f"/api/orders/{order['id']}/payments"
        answer = await http(node.api, "POST", path, body=body, headers=auth)
        error = json.loads(answer.body)["error"]
        assert (answer.status, error["code"]) == (400, "bad_field"), answer.body
        assert MINOR in error["message"], error
        assert node.call("GET", f"/api/orders/{order['id']}")["payments"] == []
