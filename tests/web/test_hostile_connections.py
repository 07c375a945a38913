"""Clients that hold connections rather than send requests, against a real `meshpos node` on 127.0.0.1:
slowloris (connections opened, a byte sent, never finished) and a thousand event streams. Each was held
in any number before (a file descriptor and a task each; the node ran out of descriptors with a traceback
in its log, and every stream cost work on every sale); now at most a bounded number stay open, the oldest
slow ones (past their grace) go first, one log line says so, and an honest sale goes through during the
attack."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from meshpos.config import load_config
from meshpos.httpapi.slots import GRACE, MAX_CLIENTS, MAX_STREAMS
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess
from .kit import register_with_open_shift

EXTRA = 200
STREAMS = 1000


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    with register_with_open_shift(tmp_path) as started:
        yield started


def _open_fds(node: NodeProcess) -> int:
    assert node.proc is not None
    return len(os.listdir(f"/proc/{node.proc.pid}/fd"))


def _address(node: NodeProcess) -> tuple[str, int]:
    url = urlsplit(node.api)
    assert url.hostname is not None
    assert url.port is not None
    return url.hostname, url.port


def _token(node: NodeProcess) -> str:
    return (load_config(node.config, env={}).data_dir / "api.token").read_text().strip()


def _log(node: NodeProcess) -> str:
    return node.log.read_text()


async def _sell(node: NodeProcess) -> None:
    receipt = await asyncio.to_thread(node.sell, CASHIER, ["espresso"])
    assert receipt["number"]


async def test_slow_clients_are_bounded_the_oldest_go_and_a_sale_goes_through(
    node: NodeProcess,
) -> None:
    before = _open_fds(node)
    host, port = _address(node)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def slow(count: int) -> None:
        for _ in range(count):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"G")  # the start of a request line, never finished
            conns.append((reader, writer))

    try:
        await slow(MAX_CLIENTS - 1)
        # the listener takes connections in order: once this sale is answered, every slow one was taken
        await _sell(node)
        # the rule under test is one of time: a connection is pushed out once past its grace
        await asyncio.sleep(GRACE)
        await slow(EXTRA)
        await _sell(node)  # an honest client during the attack: served, in the place of a slow one
        assert _open_fds(node) <= before + MAX_CLIENTS + 2
        # the oldest were closed to make room, without an answer: a slow client gets nothing
        for reader, _writer in conns[: EXTRA - 1]:  # (the first of them came to a free slot)
            assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        for _reader, writer in conns:
            writer.close()
    log = _log(node)
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert log.count("at its limit") == 1  # at most one line a minute, whatever the attacker does


async def _open_stream(
    host: str, port: int, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /api/events?token={token} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await asyncio.wait_for(reader.readuntil(b"event: changed"), 10)  # it is served
    await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
    return reader, writer


async def test_a_thousand_event_streams_keep_the_newest_and_an_honest_page_hears_the_sale(
    node: NodeProcess,
) -> None:
    host, port = _address(node)
    token = _token(node)
    streams = []
    try:
        for _ in range(STREAMS):
            streams.append(await _open_stream(host, port, token))
        page = await _open_stream(host, port, token)  # the honest page, opened last
        streams.append(page)
        # all but the newest MAX_STREAMS were closed; the page reconnects by itself (retry: 1000)
        for reader, _writer in streams[: len(streams) - MAX_STREAMS]:
            await asyncio.wait_for(reader.read(), 10)  # to its end: the server closed it
            assert reader.at_eof()
        await _sell(node)
        await asyncio.wait_for(page[0].readuntil(b'"receipts"'), 10)
    finally:
        for _reader, writer in streams:
            writer.close()
    log = _log(node)
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert log.count("at its limit") == 1
