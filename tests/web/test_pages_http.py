"""Pages, static files and the event stream over plain HTTP (the browser tests drive them for real)."""

from __future__ import annotations

import asyncio
import json
import logging
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.httpapi.server import HttpServer, Request, Response
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.web.events import TOPICS
from meshpos.web.pages import assets, is_local
from meshpos.web.sessions import page_token_of

from .conftest import running
from .kit import http, make_configs


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])


@pytest.fixture
async def nodes(configs: list[Config]) -> AsyncIterator[tuple[Node, Node]]:
    async with running(configs) as (r1, k1):
        yield r1, k1


async def test_the_page_embeds_the_token_only_for_a_loopback_host(nodes: tuple[Node, Node]) -> None:
    r1 = nodes[0]
    port = r1.api_url.rsplit(":", 1)[1]
    # the page token (its writes need a PIN sign-in: web/sessions.py), never the API token
    token = f'content="{page_token_of(r1.api_token)}"'
    assert r1.api_token not in token
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"127.0.0.9:{port}"):
        page = await http(r1.api_url, "GET", "/", headers={"Host": host})
        assert page.status == 200
        assert token in page.body.decode(), host
        assert r1.api_token not in page.body.decode(), host
    # a site that rebinds its own name to 127.0.0.1 gets the page but not the token
    rebound = await http(r1.api_url, "GET", "/", headers={"Host": f"evil.example:{port}"})
    assert token not in rebound.body.decode()
    assert 'name="meshpos-token" content=""' in rebound.body.decode()
    assert "default-src 'none'" in rebound.headers["content-security-policy"]
    assert rebound.headers["x-frame-options"] == "DENY"


def test_the_pages_ship_with_the_package() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "static/*" in project["tool"]["setuptools"]["package-data"]["meshpos.web"]
    assert {"app.css", "common.js", "register.js", "kitchen.js"} <= assets()


def test_a_request_from_another_machine_is_not_local() -> None:
    def request(peer: str, host: str) -> Request:
        return Request("GET", "/", {}, {"host": host}, b"", peer)

    assert is_local(request("127.0.0.1", "127.0.0.1:8080"))
    assert is_local(request("::1", "localhost"))
    assert not is_local(request("192.0.2.7", "127.0.0.1:8080"))
    assert not is_local(request("127.0.0.1", "pos.example:8080"))
    assert not is_local(request("", ""))


async def test_pages_and_static_files(nodes: tuple[Node, Node]) -> None:
    r1, k1 = nodes
    kitchen = await http(k1.api_url, "GET", "/")
    assert (kitchen.status, kitchen.headers["location"]) == (302, "/kitchen")
    board = await http(k1.api_url, "GET", "/kitchen")
    assert board.status == 200
    assert b'id="tickets"' in board.body
    assert (await http(r1.api_url, "GET", "/kitchen")).status == 200  # registers have it too
    for name, kind in [("app.css", "text/css"), ("register.js", "text/javascript")]:
        answer = await http(r1.api_url, "GET", f"/static/{name}")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith(kind)
    for bad in ("/static/register.html", "/static/../api.py", "/static/%2e%2e%2fapi.py"):
        assert (await http(r1.api_url, "GET", bad)).status == 404, bad


async def read_event(reader: asyncio.StreamReader, timeout: float) -> bytes:
    async with asyncio.timeout(timeout):
        while True:
            block = await reader.readuntil(b"\n\n")
            if block.startswith(b"event: changed"):
                return block


def changed(block: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(block.partition(b"\ndata: ")[2])
    return data


async def test_the_event_stream_names_what_changed_on_a_peer(nodes: tuple[Node, Node]) -> None:
    """K1's page hears of R1's sale in K1's pushed events: the ledger's topics, the ticket's, and the
    stop list's, each when it changes (and the first event, on connecting, names everything)."""
    r1, k1 = nodes
    host, port = k1.api_url.removeprefix("http://").split(":")
    denied = await http(k1.api_url, "GET", "/api/events?token=wrong")
    assert (denied.status, denied.code) == (401, "wrong_token")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /api/events?token={k1.api_token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"200 OK" in head
        assert b"text/event-stream" in head
        first = changed(await read_event(reader, 2))
        assert first["status"]["colour"] == "yellow"
        assert set(first["changed"]) == set(TOPICS)

        async def heard(topic: str) -> None:
            while topic not in changed(await read_event(reader, 5))["changed"]:
                pass

        await r1.open_shift(CASHIER, 0)
        await heard("shift")
        order = await r1.open_order(CASHIER)
        await r1.add_line(CASHIER, order.id, "burger", 1)
        await r1.send_to_kitchen(CASHIER, order.id)
        await heard("tickets")
        await r1.set_stop(CASHIER, "fries", True)
        await heard("stops")
    finally:
        writer.close()


async def test_a_closed_stream_stops_its_producer_and_idle_sockets_are_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            yield b"data: hello\n\n"
            await asyncio.Event().wait()  # nothing more, ever
        finally:
            finished.set()

    async def handler(request: Request) -> Response:
        return Response(200, content_type="text/event-stream", stream=endless())

    server = HttpServer(handler, "127.0.0.1", 0)
    port = await server.start()
    try:
        with caplog.at_level(logging.WARNING):
            _, idle = await asyncio.open_connection("127.0.0.1", port)
            idle.close()  # a browser's unused pre-connection
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"data: hello\n\n")
            writer.close()
            await asyncio.wait_for(finished.wait(), 2)
        assert not [r for r in caplog.records if r.name.startswith("meshpos")]
    finally:
        await server.stop()
