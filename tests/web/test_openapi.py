"""The OpenAPI document and the route table are one thing: every route is described, and every described
operation answers on a running node (not with 404 not_found or 405)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.node import Node
from meshpos.web.api import Api
from meshpos.web.openapi import document

from .conftest import running
from .kit import Client, head_of_stream, make_configs


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register")])


@pytest.fixture
async def node(configs: list[Config]) -> AsyncIterator[Node]:
    async with running(configs) as (r1,):
        yield r1


async def test_every_route_is_described_and_every_description_answers(node: Node) -> None:
    api = Api(node, node.api_token)
    client = Client.of(node)
    served = await client.ok("GET", "/api/openapi.json")
    assert served == json.loads(json.dumps(document(api.routes, served["info"]["version"])))
    described = {(m.upper(), path) for path, ops in served["paths"].items() for m in ops}
    assert described == {(r.method, r.path) for r in api.routes}
    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    unlisted = [f"{r.method} {r.path}" for r in api.routes if r.tag != "pages"]
    assert [route for route in unlisted if route not in guide] == []
    for method, path in sorted(described):
        if path == "/api/events":
            assert await head_of_stream(node.api_url, f"{path}?token={node.api_token}") == 200
            continue
        concrete = re.sub(r"\{[a-z_]+\}", "x", path)
        answer = await client.call(method, concrete, raw=b"" if method == "GET" else b"{}")
        if answer.headers.get("content-type") == "application/json" and answer.status >= 400:
            assert answer.code not in ("not_found", "method_not_allowed"), (method, path)


async def test_the_document_is_whole(node: Node) -> None:
    doc: dict[str, Any] = await Client.of(node).ok("GET", "/api/openapi.json")
    assert doc["openapi"] == "3.1.0"
    assert "minor units" in doc["info"]["description"]
    text = json.dumps(doc)
    refs = set(re.findall(r'"#/components/(schemas|responses)/([A-Za-z0-9_]+)"', text))
    missing = {name for kind, name in refs if name not in doc["components"][kind]}
    assert not missing
    ops = [op for ops in doc["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids))
    assert all(op["summary"] for op in ops)
    # money fields say they are minor units, wherever they appear
    order = doc["components"]["schemas"]["OrderTotals"]["properties"]
    assert "minor units" in order["due"]["description"]
    pay = doc["paths"]["/api/orders/{order_id}/payments"]["post"]
    body = pay["requestBody"]["content"]["application/json"]["schema"]
    assert "minor units" in body["properties"]["tendered"]["description"]
    assert body["additionalProperties"] is False
    assert set(pay["responses"]) >= {"201", "400", "401", "403", "404", "409", "422"}
    assert doc["paths"]["/health"]["get"]["security"] == []
