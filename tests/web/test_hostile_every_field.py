"""Every field of every writing route of a real `meshpos node`, each given hostile JSON (a lone surrogate,
a NUL, nesting deep enough to reach the parser's limit, numbers past every bound, the wrong type; not null, which an optional field takes), once on
its own and once beside a valid user: each answer is a 4xx whose JSON body names the error, the node
commits nothing and logs no traceback, and an honest sale goes through afterwards. The table is read
from the node's own routes: a route added later is covered without editing this test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.web.api import Api
from meshpos.web.orders import MAX_PAGE

from ..mesh.kit import NodeProcess, make_device, make_venue
from .fake_node import FakeNode
from .kit import CATALOG, Answer, http

HOSTILE: tuple[bytes, ...] = (
    b'"\\ud800"',
    b'"a\\udfffb"',
    b'"x\\u0000y"',
    b'"\\u009b31m"',
    b"[" * 5000 + b"]" * 5000,
    b"1e400",
    b"9" * 5000,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1.5",
    b"true",
    b'{"\\ud800": 1}',
    b'"' + b"x" * 100_000 + b'"',
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[NodeProcess, str, dict[str, str]]]:
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
        ids = {
            "order_id": order["id"],
            "line_id": order["lines"][0]["id"],
            "receipt_id": receipt["id"],
        }
        yield node, token, ids
    finally:
        node.kill()


def _writes() -> list[tuple[str, str, str]]:
    """(method, path template, field) for every body field of every route that takes a body."""
    routes = Api(FakeNode(), "t" * 32).routes
    return [(r.method, r.path, f.name) for r in routes for f in r.body]


async def _state(base: str, auth: dict[str, str]) -> tuple[Any, ...]:
    async def get(path: str) -> Any:
        return json.loads((await http(base, "GET", path, headers=auth)).body)

    status = await get("/api/status")
    return (
        status["counters"].get("commits", 0),
        await get("/api/orders?status=all"),
        await get(f"/api/receipts?limit={MAX_PAGE}"),
    )


async def test_hostile_json_in_every_field_of_every_write_is_a_named_4xx_and_changes_nothing(
    node: tuple[NodeProcess, str, dict[str, str]],
) -> None:
    proc, token, ids = node
    auth = {"Authorization": f"Bearer {token}"}
    before = await _state(proc.api, auth)
    writes = _writes()
    assert len(writes) > 40  # the table was read
    bad: list[str] = []
    for method, template, name in writes:
        path = re.sub(r"\{([a-z_]+)\}", lambda m: ids.get(m.group(1), "x"), template)
        for value in HOSTILE:
            for user in (None, MANAGER):
                head = b"" if user is None or name == "user" else b'"user": "%s", ' % user.encode()
                raw = b"{" + head + json.dumps(name).encode() + b": " + value + b"}"
                answer: Answer = await http(proc.api, method, path, raw=raw, headers=auth)
                try:
                    error = answer.json()["error"]
                    named = bool(error["code"]) and bool(error["message"])
                except (ValueError, KeyError, TypeError):
                    named = False
                if not (400 <= answer.status < 500 and named):
                    bad.append(f"{method} {template} {name}={value[:20]!r}: {answer.status}")
    assert bad == []
    assert await _state(proc.api, auth) == before
    log = proc.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert (await http(proc.api, "GET", "/api/status", headers=auth)).status == 200
    proc.sell(CASHIER, ["espresso"])
