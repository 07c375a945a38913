"""The pages' event stream against the fake node: what changed, in the page's terms, pushed as it happens.

The stream has no polling loop: it waits on the node's change stream, so an event comes for a change and
for nothing else (a quiet stream sends only its keep-alive comment line).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.httpapi.server import HttpServer
from meshpos.localapi import EventStream, LocalApi
from meshpos.model.sample import CASHIER, COOK
from meshpos.web.api import make_handler
from meshpos.web.events import TOPICS, stream, topics

from .conftest import running
from .fake_node import FakeNode
from .kit import Client, make_configs

TOKEN = "t" * 32


def test_documents_name_what_a_page_shows() -> None:
    assert topics(["ledger/2026-12-04"]) == {"orders", "receipts", "shift"}
    assert topics(["kitchen/2026-12-04"]) == {"tickets"}
    assert topics(["catalog"]) == {"menu"}
    assert topics(["stoplist"]) == {"stops"}
    assert topics(["denylist", "numbers"]) == set()
    assert topics(["catalog", "stoplist", "kitchen/2026-12-04"]) == {"menu", "stops", "tickets"}


def parse(block: bytes) -> dict[str, Any]:
    head, _, data = block.partition(b"\ndata: ")
    assert head == b"event: changed", block
    parsed: dict[str, Any] = json.loads(data)
    return parsed


async def next_event(events: AsyncIterator[bytes]) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return parse(await anext(events))


async def test_each_change_is_one_event_naming_its_topics() -> None:
    fake = FakeNode()
    events = stream(fake, keepalive=3600)
    try:
        assert await anext(events) == b"retry: 1000\n\n"
        first = await next_event(events)
        assert first["changed"] == sorted(TOPICS)  # a (re)connected page loads everything
        assert first["status"]["colour"] == "gray"

        await fake.write(lambda venue, now: venue.set_stop(COOK, "fries", True, now))
        assert await next_event(events) == {"changed": ["stops"]}  # the status did not move
        await fake.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
        assert await next_event(events) == {"changed": ["orders", "receipts", "shift"]}

        fake.set_link(peers={"R2": True})  # a peer came: the indicator turns yellow
        shown = await next_event(events)
        assert shown["changed"] == ["status"]
        assert (shown["status"]["colour"], shown["status"]["peers"]) == ("yellow", {"R2": True})
    finally:
        await events.aclose()
    assert fake.subscribers() == 0  # the closed stream let go of its subscription


async def test_changes_the_page_has_not_read_yet_come_as_one_event() -> None:
    fake = FakeNode()
    events = stream(fake, keepalive=3600)
    try:
        await anext(events)
        await next_event(events)
        await fake.write(lambda venue, now: venue.set_stop(COOK, "fries", True, now))
        await fake.write(lambda venue, now: venue.set_stop(COOK, "burger", True, now))
        await fake.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
        merged = await next_event(events)
        assert merged == {"changed": ["orders", "receipts", "shift", "stops"]}
    finally:
        await events.aclose()


async def test_a_quiet_stream_sends_only_its_keepalive() -> None:
    fake = FakeNode()
    events = stream(fake, keepalive=0.05)
    try:
        await anext(events)
        await next_event(events)
        async with asyncio.timeout(5):
            assert await anext(events) == b": keepalive\n\n"
            assert await anext(events) == b": keepalive\n\n"
    finally:
        await events.aclose()


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeNode, str]]:
    """The node's real HTTP API and pages, served for the fake."""
    fake = FakeNode()
    server = HttpServer(make_handler(fake, TOKEN), "127.0.0.1", 0)
    port = await server.start()
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


async def test_the_api_runs_on_the_fake_and_its_writes_are_pushed(
    served: tuple[FakeNode, str],
) -> None:
    fake, base = served
    client = Client(base, TOKEN)
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /api/events?token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        async with asyncio.timeout(5):
            await reader.readuntil(b"retry: 1000\n\n")
            assert parse((await reader.readuntil(b"\n\n")).strip())["changed"] == sorted(TOPICS)
        await client.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        async with asyncio.timeout(5):
            pushed = parse((await reader.readuntil(b"\n\n")).strip())
        assert pushed == {"changed": ["orders", "receipts", "shift"]}
        order = await client.ok("POST", "/api/orders", {"user": CASHIER})
        assert [o["id"] for o in await client.ok("GET", "/api/orders")] == [order["id"]]
        assert fake.order(order["id"]).register == "R1"
    finally:
        writer.close()


async def test_the_node_pushes_a_status_move_no_document_or_peer_event_carries(
    tmp_path: Path,
) -> None:
    """R2 acknowledging R1's sale changes only heartbeats, yet R1's indicator ("on 2 of 2 devices")
    moves: R1's tick publishes it, and the change stream carries it as a presence change."""
    async with running(make_configs(tmp_path, [("R1", "register"), ("R2", "register")])) as (r1, _):
        await r1.open_shift(CASHIER, 0)
        order = await r1.open_order(CASHIER)
        await r1.add_line(CASHIER, order.id, "espresso", 1)
        changes = r1.changes()
        try:
            await r1.pay(CASHIER, order.id, "card")
            paid = changes.pending()
            assert paid is not None
            assert paid.local
            sale = r1.status().latest_sale
            assert sale is not None
            assert sale.devices == 1
            async with asyncio.timeout(10):
                while (sale := r1.status().latest_sale) is not None and sale.devices < 2:
                    moved = await changes.next()
                    assert moved.presence or moved.docs  # only pushes wake this loop
            assert moved.presence
            assert not moved.local
        finally:
            changes.close()


async def test_the_local_api_client_says_which_topics_changed(served: tuple[FakeNode, str]) -> None:
    """meshpos.localapi's EventStream (the bench's page, the tools) fetches only what a change names,
    as register.js does; on (re)opening it knows nothing, so everything."""
    fake, base = served
    events = EventStream(LocalApi(base, token=TOKEN)).open()
    try:
        seen = await asyncio.to_thread(events.wait, 1, 5)  # opened, then the node's first event
        assert seen == 2
        assert events.take_topics() is None  # (re)opened: everything is unknown
        await fake.write(lambda venue, now: venue.set_stop(COOK, "fries", True, now))
        await asyncio.to_thread(events.wait, seen, 5)
        assert events.take_topics() == {"stops"}
        assert events.take_topics() == set()  # taken: nothing new since
    finally:
        await asyncio.to_thread(events.close)
