"""A peer that stops reading cannot make a node buffer without end: past ``max_backlog`` the link drops.

Real mTLS websockets on loopback between a :class:`Links` and a peer that dials and then never reads; the
node side's handler is a recorder (this tests the transport, not the sync protocol).
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

from meshpos.harness.venue import make_venue
from meshpos.net.link_settings import LinkSettings
from meshpos.net.links import Links
from meshpos.net.port import LinkHandler, LinkPeer, Send
from meshpos.net.wsconn import dial
from meshpos.node_adapters import identify_peer
from meshpos.trust import (
    DeviceIdentity,
    VenueAuthority,
    client_ssl_context,
    device_hostname,
    server_ssl_context,
)

from ..trust.helpers import issue_identity

HOST = "127.0.0.1"
LIMIT = 2**20
MESSAGE = bytes(64 * 1024)
MOST = 256 * 2**20  # a bound on the test's own sending, far past any socket buffer


class Recorder(LinkHandler):
    def __init__(self) -> None:
        self.opened: asyncio.Queue[tuple[str, Send]] = asyncio.Queue()
        self.closed: dict[str, str] = {}

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        self.opened.put_nowait((key, send))

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        return None

    async def link_closed(self, key: str, reason: str) -> None:
        self.closed[key] = reason

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        raise AssertionError("a mesh link is never refused for good")


def mesh_links(authority: VenueAuthority, node: DeviceIdentity, handler: LinkHandler) -> Links:
    """Node R1's mesh links with the test's message and backlog bound (not started)."""
    return Links(
        LinkSettings(
            node_id="R1",
            venue_id=authority.venue_id,
            host=HOST,
            port=0,
            server_context=server_ssl_context(node),
            client_context=client_ssl_context(node),
            identify=identify_peer,
            hostname_for=lambda device: device_hostname(device, authority.venue_id),
            is_revoked=lambda device: False,
            max_message_size=LIMIT,
            max_backlog=LIMIT,
        ),
        handler,
        random.Random(),
    )


async def test_a_peer_that_stops_reading_is_dropped_once_its_backlog_passes_the_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="meshpos.net")
    authority = make_venue(tmp_path)
    node, peer = issue_identity(authority, "R1"), issue_identity(authority, "R9")
    handler = Recorder()
    links = mesh_links(authority, node, handler)
    port = await links.start()
    silent = await dial(
        HOST,
        port,
        client_ssl_context(peer),
        server_hostname=device_hostname("R1", authority.venue_id),
        max_size=LIMIT,
    )
    try:
        key, send = await asyncio.wait_for(handler.opened.get(), 10)
        offered = 0
        while key not in handler.closed and offered < MOST:
            send([MESSAGE])
            offered += len(MESSAGE)
            await asyncio.sleep(0)  # let the writer run: it stalls once the socket buffers are full
        assert key in handler.closed, f"{offered:,} bytes offered to a peer that never reads"
        assert "not reading" in handler.closed[key]
        assert links.refusals == {"backlog": 1}
        dropped = [r for r in caplog.records if "backlog" in r.getMessage()]
        assert len(dropped) == 1, [r.getMessage() for r in dropped]
        send([MESSAGE])  # a closed link queues nothing more
        assert links.connected == {}
    finally:
        silent.abort()
        await links.stop()
