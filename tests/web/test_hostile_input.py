"""Hostile request bodies and queries against a real `meshpos node` (issue 13, defect 6): each gets a 400 (or
413) with ``{"error": {"code", "message"}}`` naming what was wrong, never a 500, and nothing is stored; the
day keeps working afterwards. Integer-valued floats are integers (as JSON Schema says) and are taken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.httpapi.server import MAX_BODY
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
)
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.web.orders import MAX_PAGE

from ..mesh.kit import NodeProcess, make_device, make_venue
from .kit import CATALOG, Answer, http


@dataclass
class Register:
    node: NodeProcess
    token: str
    order: dict[str, Any]  # open, with one line
    receipt: dict[str, Any]

    async def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, **headers: str
    ) -> Answer:
        auth = {"Authorization": f"Bearer {self.token}", **headers}
        return await http(self.node.api, method, path, body=body, raw=raw, headers=auth)


@pytest.fixture
def register(tmp_path: Path) -> Iterator[Register]:
    config = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=CATALOG)
    node = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        token = (load_config(config, env={}).data_dir / "api.token").read_text().strip()
        node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 10_000})
        receipt = node.sell(CASHIER, ["espresso"])
        order = node.call("POST", "/api/orders", {"user": CASHIER})
        order = node.call(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "fries"}
        )
        yield Register(node, token, order, receipt)
    finally:
        node.kill()


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _hostile(r: Register) -> list[tuple[str, str, Any, str]]:
    """(method, path, body — a value, or bytes sent as they are —, what the error message must name)."""
    order, lines = f"/api/orders/{r.order['id']}", f"/api/orders/{r.order['id']}/lines"
    pay, moves = f"{order}/payments", "/api/shifts/current/cash-moves"
    refunds = f"/api/receipts/{r.receipt['id']}/refunds"
    line_id = r.receipt["lines"][0]["line_id"]
    sell = {"user": CASHIER, "product_id": "fries"}
    card = {"user": CASHIER, "method": "card"}
    cash = {"user": CASHIER, "kind": "in"}
    deep = b'{"user": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(deep) < MAX_BODY  # refused for its depth, not its size
    return [
        # nesting
        ("POST", "/api/orders", deep, "nested too deeply"),
        ("POST", "/api/orders", {"user": CASHIER, "table": _nested(50)}, "'table'"),
        # wrong types
        ("POST", "/api/orders", {"user": [CASHIER]}, "'user'"),
        ("POST", "/api/orders", {"user": CASHIER, "table": ["T1"]}, "'table'"),
        ("POST", "/api/orders", {"user": CASHIER, "table": None}, "'table'"),
        ("POST", "/api/orders", {"user": CASHIER, "tab": {"a": 1}}, "'tab'"),
        ("POST", lines, sell | {"quantity": "2"}, "'quantity'"),
        ("POST", lines, sell | {"quantity": 2.5}, "'quantity'"),
        ("POST", lines, sell | {"quantity": True}, "'quantity'"),
        ("POST", lines, sell | {"modifiers": "small"}, "'modifiers'"),
        ("POST", lines, sell | {"modifiers": [1]}, "'modifiers'"),
        (
            "POST",
            "/api/shifts/current/close",
            {"user": MANAGER, "counted_cash": "0"},
            "'counted_cash'",
        ),
        ("POST", moves, cash | {"amount": 10.5}, "'amount'"),
        ("POST", refunds, {"user": MANAGER, "lines": [line_id]}, "'lines'"),
        ("POST", refunds, {"user": MANAGER, "lines": {line_id: "1"}}, "'lines'"),
        # numbers past the venue's bounds
        ("POST", pay, card | {"tip": 2**62}, "'tip'"),
        ("POST", pay, card | {"amount": 10**30}, "'amount'"),
        ("POST", pay, card | {"amount": 9_007_199_254_740_993}, "'amount'"),
        ("POST", pay, card | {"amount": MAX_AMOUNT + 1}, "'amount'"),
        ("POST", pay, card | {"tendered": 0}, "'tendered'"),
        ("POST", pay, card | {"amount": -1}, "'amount'"),
        ("POST", pay, card | {"amount": 1e300}, "'amount'"),
        ("POST", moves, cash | {"amount": 9_007_199_254_740_993}, "'amount'"),
        ("POST", lines, sell | {"quantity": MAX_QUANTITY + 1}, "'quantity'"),
        ("POST", lines, sell | {"quantity": 0}, "'quantity'"),
        ("POST", refunds, {"user": MANAGER, "lines": {line_id: 10**30}}, "'lines'"),
        ("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 2**62}, "'opening_cash'"),
        (
            "POST",
            lines,
            b'{"user": "u-anna", "product_id": "fries", "quantity": 1e400}',
            "'quantity'",
        ),
        ("POST", lines, b'{"user": "u-anna", "product_id": "fries", "quantity": NaN}', "NaN"),
        ("POST", pay, b'{"user": "u-anna", "method": "card", "tip": Infinity}', "Infinity"),
        (
            "POST",
            pay,
            b'{"user": "u-anna", "method": "card", "tip": ' + b"9" * 5000 + b"}",
            "digits",
        ),
        # text: lone surrogates, control characters, length
        ("POST", "/api/orders", b'{"user": "u-anna", "table": "\\ud800"}', "'table'"),
        ("POST", "/api/orders", b'{"user": "u-anna", "tab": "\\udfff x"}', "'tab'"),
        ("POST", f"{order}/void", b'{"user": "u-max", "reason": "\\ud800"}', "'reason'"),
        (
            "POST",
            moves,
            b'{"user": "u-anna", "kind": "out", "amount": 5, "reason": "\\ud800"}',
            "'reason'",
        ),
        (
            "POST",
            "/api/inventory",
            b'{"user": "u-max", "product_id": "fries", "kind": "writeoff", '
            b'"quantity": 1, "reason": "\\udc00"}',
            "'reason'",
        ),
        ("POST", "/api/orders", {"user": CASHIER, "table": "T\u0000"}, "'table'"),
        ("POST", "/api/orders", {"user": CASHIER, "table": "\u009b31m"}, "'table'"),
        ("POST", "/api/orders", {"user": CASHIER, "table": "x" * (MAX_NAME_CHARS + 1)}, "'table'"),
        (
            "POST",
            f"{order}/void",
            {"user": MANAGER, "reason": "x" * (MAX_NOTE_CHARS + 1)},
            "'reason'",
        ),
        ("POST", "/api/login", b'{"user": "u-anna", "pin": "\\ud800"}', "'pin'"),
        ("POST", "/api/orders", b'{"\\ud800": 1, "user": "u-anna"}', "unknown field"),
        # bodies that are not JSON text
        ("POST", "/api/orders", b'{"user": "u-\xff\xfe"}', "not valid JSON"),
        ("POST", "/api/orders", b"\xef\xbb\xbf\x00\x00", "not valid JSON"),
        # query values
        ("GET", "/api/orders?status=", None, "'status'"),
        ("GET", "/api/orders?status=open%00", None, "'status'"),
        ("GET", "/api/kitchen/tickets?states=new,", None, "'states'"),
        ("GET", "/api/kitchen/tickets?date=%ED%A0%80", None, "'date'"),
        ("GET", "/api/kitchen/tickets?date=2026-01-01%0A", None, "'date'"),
        ("GET", "/api/receipts?date=yesterday", None, "'date'"),
        ("GET", "/api/receipts?limit=0", None, "'limit'"),
        ("GET", "/api/receipts?limit=ten", None, "'limit'"),
        ("GET", f"/api/receipts?limit={10**6}", None, "'limit'"),
        ("GET", f"/api/receipts?before={'x' * (MAX_ID_CHARS + 1)}", None, "'before'"),
    ]


async def _counts(r: Register) -> tuple[int, int, int, int]:
    status = json.loads((await r.call("GET", "/api/status")).body)
    orders = json.loads((await r.call("GET", "/api/orders?status=all")).body)
    receipts = json.loads((await r.call("GET", f"/api/receipts?limit={MAX_PAGE}")).body)
    lines = sum(len(o["lines"]) for o in orders)
    return status["counters"].get("commits", 0), len(orders), lines, len(receipts)


async def test_hostile_requests_get_a_clear_400_and_store_nothing(register: Register) -> None:
    r = register
    before = await _counts(r)
    wrong = []
    for method, path, body, named in _hostile(r):
        raw = body if isinstance(body, bytes) else None
        answer = await r.call(method, path, None if raw is not None else body, raw=raw)
        error = answer.json().get("error", {}) if answer.body.startswith(b"{") else {}
        if (
            answer.status != 400
            or set(error) != {"code", "message"}
            or named not in error["message"]
        ):
            wrong.append((method, path, repr(body)[:80], answer.status, answer.body[:200]))
    assert wrong == []

    too_big = await r.call("POST", "/api/orders", raw=b"{" + b" " * (MAX_BODY + 1) + b"}")
    assert (too_big.status, too_big.code) == (413, "too_large")
    claimed = await r.call("POST", "/api/orders", raw=b"{}", **{"Content-Length": str(10**12)})
    assert (claimed.status, claimed.code) == (413, "too_large")

    assert await _counts(r) == before  # nothing was stored: no commit, order, line or receipt
    log = r.node.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    for path in ("/api/orders", "/api/shifts/current", "/api/receipts", "/api/catalog"):
        assert (await r.call("GET", path)).status == 200, path  # the day keeps working

    # the one rule for integer-valued floats: 2.0 is the integer 2, as JSON Schema counts it
    path = f"/api/orders/{r.order['id']}/lines"
    added = await r.call("POST", path, {"user": CASHIER, "product_id": "espresso", "quantity": 2.0})
    assert added.status == 201, added.body
    (quantity,) = [
        line["quantity"] for line in added.json()["lines"] if line["product_id"] == "espresso"
    ]
    assert (quantity, type(quantity)) == (2, int)  # sent as 2.0, stored and answered as 2
