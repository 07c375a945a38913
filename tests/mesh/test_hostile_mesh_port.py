"""Slowloris on a real node's mesh port: connections opened and a byte sent, the TLS handshake never
finished. They were held for the handshake timeout in any number (a descriptor each); now at most
MAX_ACCEPTING at once, the oldest closed first, and a genuine device of the venue still links."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.net.links import MAX_ACCEPTING
from meshpos.trust import VenueAuthority

from ..trust.helpers import issue_identity
from .attacker import Attacker
from .kit import NodeProcess, make_device, make_venue

SLOW = MAX_ACCEPTING + 400
HOST = "127.0.0.1"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[VenueAuthority, NodeProcess]]:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    node = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        yield authority, node
    finally:
        node.kill()


def _open_fds(node: NodeProcess) -> int:
    assert node.proc is not None
    return len(os.listdir(f"/proc/{node.proc.pid}/fd"))


async def _closed(reader: asyncio.StreamReader) -> bool:
    """Closed by the node: an end, or a reset (its byte was never read)."""
    try:
        return await asyncio.wait_for(reader.read(), 10) == b""
    except ConnectionResetError:
        return True


async def test_unfinished_handshakes_are_bounded_and_a_device_still_links(
    node: tuple[VenueAuthority, NodeProcess],
) -> None:
    authority, proc = node
    before = _open_fds(proc)
    conns = []
    try:
        for _ in range(SLOW):
            reader, writer = await asyncio.open_connection(HOST, proc.port)
            writer.write(b"\x16")  # the first byte of a TLS record, and nothing more
            conns.append((reader, writer))
        # the listener takes connections in order: once this one is answered, every slow one was taken
        reader, writer = await asyncio.open_connection(HOST, proc.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        assert _open_fds(proc) <= before + MAX_ACCEPTING + 2
        for reader, _writer in conns[: SLOW - MAX_ACCEPTING]:
            assert await _closed(reader)
        device = await Attacker.dial(issue_identity(authority, "R9"), "R1", HOST, proc.port)
        await device.close()
    finally:
        for _reader, writer in conns:
            writer.close()
    assert "Traceback" not in proc.log.read_text()
