"""The OpenAPI document and the route table are one thing: every route is described, and every described
operation answers on a running node (not with 404 not_found or 405)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.httpapi.openapi import document
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
)
from meshpos.node import Node
from meshpos.web.api import Api

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


async def test_the_document_publishes_the_bounds_the_api_enforces(node: Node) -> None:
    """Each request bound comes from meshpos.model.limits, and the document shows the same figure."""
    doc: dict[str, Any] = await Client.of(node).ok("GET", "/api/openapi.json")

    def body(method: str, path: str) -> dict[str, Any]:
        schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        props: dict[str, Any] = schema["properties"]
        return props

    pay = body("post", "/api/orders/{order_id}/payments")
    assert (pay["tip"]["minimum"], pay["tip"]["maximum"]) == (0, MAX_AMOUNT)
    assert pay["amount"]["anyOf"][0]["maximum"] == MAX_AMOUNT
    line = body("post", "/api/orders/{order_id}/lines")
    assert (line["quantity"]["minimum"], line["quantity"]["maximum"]) == (1, MAX_QUANTITY)
    assert line["product_id"]["maxLength"] == MAX_ID_CHARS
    assert line["modifiers"]["items"]["maxLength"] == MAX_ID_CHARS
    assert body("post", "/api/orders")["table"]["maxLength"] == MAX_NAME_CHARS
    assert body("post", "/api/orders/{order_id}/void")["reason"]["maxLength"] == MAX_NOTE_CHARS
    refund = body("post", "/api/receipts/{receipt_id}/refunds")["lines"]["anyOf"][0]
    assert refund["additionalProperties"]["maximum"] == MAX_QUANTITY
    assert refund["propertyNames"]["maxLength"] == MAX_ID_CHARS
    control = re.compile(line["product_id"]["pattern"])
    assert control.search("latte")
    assert not control.search("lat\x00te")
    login = doc["paths"]["/api/login"]["post"]["responses"]
    assert login["429"] == {"$ref": "#/components/responses/429"}
    assert "Retry-After" in doc["components"]["responses"]["429"]["headers"]
    # every integer and every free text in a request is bounded
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for name, schema in _request_leaves(op):
                where = f"{method.upper()} {path} {name}"
                if schema.get("type") == "integer":
                    assert {"minimum", "maximum"} <= set(schema), where
                if schema.get("type") == "string" and "enum" not in schema:
                    assert {"maxLength", "pattern"} <= set(schema), where


def _request_leaves(op: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field name, schema) of every scalar a request can carry (query parameters and body fields)."""

    def leaves(name: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for key in ("anyOf",):
            for option in schema.get(key, []):
                yield from leaves(name, option)
        for key in ("items", "additionalProperties", "propertyNames"):
            if isinstance(schema.get(key), dict):
                yield from leaves(name, schema[key])
        if schema.get("type") in ("integer", "string"):
            yield name, schema

    for param in op.get("parameters", []):
        if param["in"] == "query":
            yield from leaves(param["name"], param["schema"])
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    for name, schema in content.get("schema", {}).get("properties", {}).items():
        yield from leaves(name, schema)
