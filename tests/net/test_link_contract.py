"""The link contract (meshpos/net/port.py): a mesh link, the relay's link to the console and the console's
link from a relay tell their :class:`LinkHandler` the same things in the same order.

Each kind runs on its real stack on loopback — :class:`Links` with mTLS, :class:`ConsoleLink` dialling
a websocket server that checks a venue token, the reference :class:`ConsoleServer` — and the far end is
a plain channel of the same websocket stack. The handler under test is a recorder, so this tests the
transport, not the sync protocol: ``link_opened`` once with the peer's kind and a working ``send``,
then only ``link_messages`` carrying what the far end sent (in order), then ``link_closed`` once,
whichever side closes; a ``send`` after the close is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.http11 import Request

from meshpos.engine.changes import ChangeFeed, Subscription
from meshpos.harness.venue import make_venue
from meshpos.harness.wait import until
from meshpos.net.channel import Channel
from meshpos.net.port import LinkHandler, LinkPeer, PeerKind, Send
from meshpos.net.wsconn import Answer, WsConnection, accept, dial, listen
from meshpos.relay import ConsoleLink
from meshpos.sync import FEATURES
from meshpos.trust import (
    client_ssl_context,
    device_hostname,
    init_venue,
)

from ..relay.consoles import running_console
from ..trust.helpers import issue_identity
from .test_links_backlog import mesh_links

HOST = "127.0.0.1"
LIMIT = 2**20
WAIT = 10.0  # seconds: generous on a shared machine
MESSAGE = random.Random(3).randbytes(64 * 1024)  # incompressible: the console's links deflate
MOST = 256 * 2**20  # a bound on the test's own sending, far past any socket buffer


@dataclass
class Recorder:
    """A LinkHandler that notes every call, in order."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (call, key)
    peers: dict[str, LinkPeer] = field(default_factory=dict)
    sends: dict[str, Send] = field(default_factory=dict)
    received: dict[str, list[bytes]] = field(default_factory=dict)
    closed: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    flowing: asyncio.Event = field(
        default_factory=asyncio.Event
    )  # cleared: it stops taking messages
    feed: ChangeFeed = field(default_factory=ChangeFeed)  # one change per call: what waits wake on

    def __post_init__(self) -> None:
        self.flowing.set()

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        self.calls.append(("opened", key))
        self.peers[key] = peer
        self.sends[key] = send
        self.received[key] = []
        self.feed.publish(presence=True)

    def changes(self) -> Subscription:
        return self.feed.subscribe()

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        self.calls.append(("messages", key))
        self.received[key].extend(messages)
        self.feed.publish(presence=True)
        await self.flowing.wait()  # a stalled handler: its link stops reading the socket

    async def link_closed(self, key: str, reason: str) -> None:
        self.calls.append(("closed", key))
        self.closed[key] = reason
        self.feed.publish(presence=True)

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        self.refused.append(reason)
        self.feed.publish(presence=True)

    @property
    def key(self) -> str:
        """The one connection this recorder saw."""
        assert len(self.peers) == 1, self.calls
        return next(iter(self.peers))

    def check_contract(self, key: str) -> None:
        said = [call for call, k in self.calls if k == key]
        assert said[0] == "opened", said
        assert said[-1] == "closed", said
        assert set(said[1:-1]) <= {"messages"}, said


class TakesAtOnce(Recorder):
    """A recorder that takes messages without waiting, as a node's engine does: a mesh link hands
    them over in its read callback (issue 18, latency; ``test_link_read_at_once``)."""

    def messages_at_once(self, key: str) -> Callable[[list[bytes]], None]:
        def take(messages: list[bytes]) -> None:
            self.calls.append(("messages", key))
            self.received[key].extend(messages)
            self.feed.publish(presence=True)

        return take


@dataclass
class Pair:
    """The handler under test (``near``, of ``kind``) and a plain channel at the far end."""

    kind: PeerKind
    near: Recorder
    far: Recorder
    far_channels: dict[str, Channel] = field(default_factory=dict)


def _channel(key: str, conn: WsConnection, handler: LinkHandler) -> Channel:
    channel = Channel(key, LinkPeer("far", "far", "far"), conn, handler)
    channel.start()
    return channel


@contextlib.asynccontextmanager
async def mesh_pair(tmp_path: Path, near: Recorder | None = None) -> AsyncIterator[Pair]:
    authority = make_venue(tmp_path)
    node, peer = issue_identity(authority, "R1"), issue_identity(authority, "R9")

    near, far = near or Recorder(), Recorder()
    links = mesh_links(authority, node, near)
    port = await links.start()
    conn = await dial(
        HOST,
        port,
        client_ssl_context(peer),
        server_hostname=device_hostname("R1", authority.venue_id),
        max_size=LIMIT,
    )
    channel = _channel("far", conn, far)
    try:
        yield Pair(PeerKind.MESH, near, far)
    finally:
        await channel.finish("test over")
        await links.stop()


@contextlib.asynccontextmanager
async def console_link_pair(tmp_path: Path) -> AsyncIterator[Pair]:
    """The relay's side: a ConsoleLink dials a websocket server that checks the venue's token."""
    near, far = Recorder(), Recorder()
    channels: dict[str, Channel] = {}

    async def route(request: Request) -> Answer | None:
        good = request.headers.get("Authorization") == "Bearer good-token"
        return None if good else (401, "wrong venue token\n")

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = await accept(reader, writer, None, max_size=LIMIT, route=route, compress=True)
        key = f"far#{len(channels)}"
        channels[key] = _channel(key, conn, far)

    server = await listen(on_client, HOST, 0)
    link = ConsoleLink(
        url=f"ws://{HOST}:{server.sockets[0].getsockname()[1]}",
        token="good-token",
        venue_id="venue-1",
        handler=near,
        max_size=LIMIT,
        rng=random.Random(),
        backoff_min=30.0,  # one connection in this test: a redial would be a second one
        backoff_max=60.0,
        max_backlog=LIMIT,
    )
    task = asyncio.create_task(link.run())
    try:
        yield Pair(PeerKind.CONSOLE, near, far, channels)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for channel in channels.values():
            await channel.finish("test over")
        server.close()


@contextlib.asynccontextmanager
async def console_server_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Pair]:
    """The console's side: the reference console's server, its venue's hub replaced by the recorder."""
    venue = init_venue(tmp_path / "venue", "Venue A")
    near, far = Recorder(), Recorder()
    async with running_console(tmp_path, [venue.directory]) as console:

        async def hub(venue_id: str) -> Recorder:
            assert venue_id == venue.venue_id
            return near

        monkeypatch.setattr(console.server, "hub", hub)
        console.server.max_backlog = LIMIT
        conn = await dial(
            HOST,
            console.port,
            None,
            server_hostname=HOST,
            max_size=LIMIT,
            path=f"/v1/venues/{venue.venue_id}/sync",
            headers={"Authorization": f"Bearer {venue.console_token}"},
            compress=True,
        )
        channel = _channel("far", conn, far)
        try:
            yield Pair(PeerKind.RELAY, near, far)
        finally:
            await channel.finish("test over")


PAIRS: dict[str, Callable[..., contextlib.AbstractAsyncContextManager[Pair]]] = {
    "mesh": mesh_pair,
    "mesh-at-once": lambda tmp_path: mesh_pair(tmp_path, TakesAtOnce()),
    "console-link": console_link_pair,
    "console-server": console_server_pair,
}


@pytest.fixture(params=sorted(PAIRS))
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Pair]:
    make = PAIRS[request.param]
    args = (tmp_path, monkeypatch) if make is console_server_pair else (tmp_path,)
    async with make(*args) as made:
        await until(
            lambda: bool(made.near.peers and made.far.peers),
            WAIT,
            "both ends open",
            on=[made.near, made.far],
        )
        yield made


async def exchange(pair: Pair) -> str:
    """Messages both ways, in order; the near end's key."""
    near, far = pair.near, pair.far
    key = near.key
    assert near.peers[key].kind is pair.kind
    near.sends[key]([b"one", b"two"])
    near.sends[key]([b"three"])
    await until(
        lambda: far.received[far.key] == [b"one", b"two", b"three"], WAIT, "far hears", on=[far]
    )
    far.sends[far.key]([b"four", b"five"])
    await until(lambda: near.received[key] == [b"four", b"five"], WAIT, "near hears", on=[near])
    return key


async def test_the_link_hands_the_far_ends_features_to_the_engine(pair: Pair) -> None:
    """What the far end announced in its upgrade (sync/_features.py): the sessions send it only that."""
    assert pair.near.peers[pair.near.key].features == FEATURES


async def test_the_far_end_closing_ends_the_link_once(pair: Pair) -> None:
    key = await exchange(pair)
    pair.far.sends[pair.far.key]([b"last", b""])  # b"": close after what came before
    await until(
        lambda: key in pair.near.closed, WAIT, "the near end sees the close", on=[pair.near]
    )
    assert pair.near.received[key][-1] == b"last"
    pair.near.check_contract(key)
    pair.near.sends[key]([b"after the close"])  # dropped, no error
    await until(lambda: pair.far.key in pair.far.closed, WAIT, "the far end closed", on=[pair.far])
    assert b"after the close" not in pair.far.received[pair.far.key]
    pair.near.check_contract(key)
    assert pair.near.refused == []


async def test_the_near_end_closing_ends_the_link_once(pair: Pair) -> None:
    key = await exchange(pair)
    pair.near.sends[key]([b"bye", b""])
    await until(lambda: key in pair.near.closed, WAIT, "the near end closed", on=[pair.near])
    await until(
        lambda: pair.far.key in pair.far.closed, WAIT, "the far end sees the close", on=[pair.far]
    )
    assert pair.far.received[pair.far.key][-1] == b"bye"
    pair.near.check_contract(key)
    assert pair.near.refused == []


async def test_a_message_over_the_size_limit_ends_the_link_with_a_reason(pair: Pair) -> None:
    key = await exchange(pair)
    too_big = random.Random(7).randbytes(8 * 2**20)  # incompressible, past every side's limit
    pair.far.sends[pair.far.key]([too_big])
    await until(
        lambda: key in pair.near.closed, WAIT, "the near end drops the link", on=[pair.near]
    )
    assert "too big" in pair.near.closed[key] or "exceeds" in pair.near.closed[key], (
        pair.near.closed[key]
    )
    assert too_big not in pair.near.received[key]
    pair.near.check_contract(key)


async def test_a_far_end_that_stops_reading_is_dropped_once_its_backlog_passes_the_bound(
    pair: Pair,
) -> None:
    """No kind of link lets its peer make this process buffer without end."""
    key = await exchange(pair)
    pair.far.flowing.clear()
    send = pair.near.sends[key]
    offered = 0
    while key not in pair.near.closed and offered < MOST:
        send([MESSAGE])
        offered += len(MESSAGE)
        await asyncio.sleep(0)  # let the writer run: it stalls once the socket buffers are full
    assert key in pair.near.closed, f"{offered:,} bytes offered to a peer that never reads"
    assert "not reading" in pair.near.closed[key]
    send([MESSAGE])  # a closed link queues nothing more
    pair.near.check_contract(key)
    pair.far.flowing.set()


async def test_a_console_closing_for_a_policy_reason_refuses_the_relay_with_that_reason(
    tmp_path: Path,
) -> None:
    """Only the relay's console link turns a close with 1008 into ``link_refused``: the console no
    longer takes this venue's token, and the node gives the relay role up saying why."""
    async with console_link_pair(tmp_path) as made:
        await until(
            lambda: bool(made.near.peers and made.far.peers),
            WAIT,
            "both ends open",
            on=[made.near, made.far],
        )
        key = made.near.key
        channel_key = made.far.key
        assert made.near.peers[key].kind is PeerKind.CONSOLE
        await made.far_channels[channel_key].close(1008, "wrong venue token")
        await until(
            lambda: key in made.near.closed, WAIT, "the relay sees the close", on=[made.near]
        )
    assert made.near.refused == ["wrong venue token"]
    made.near.check_contract(key)


async def test_no_read_of_a_link_allocates_a_large_block(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, cpu (``net/buffered.py``): asyncio read what a link received with
    ``SSLObject.read(256 KiB)`` (TLS) or ``sock.recv(256 KiB)`` (plain), a block past glibc's mmap
    threshold at every read, twice a message: an mmap, an mremap and a munmap each. Every read now
    goes into a buffer the connection keeps."""
    large: list[str] = []
    ssl_read, sock_recv = ssl.SSLObject.read, socket.socket.recv

    def read(self: ssl.SSLObject, size: int = 1024, buffer: memoryview | None = None) -> Any:
        if buffer is None and size >= LARGE:
            large.append(f"SSLObject.read({size})")
        return ssl_read(self, size, buffer) if buffer is not None else ssl_read(self, size)

    def recv(self: socket.socket, bufsize: int, *flags: int) -> bytes:
        if bufsize >= LARGE:
            large.append(f"socket.recv({bufsize})")
        return sock_recv(self, bufsize, *flags)

    monkeypatch.setattr(ssl.SSLObject, "read", read)
    monkeypatch.setattr(socket.socket, "recv", recv)
    await exchange(pair)
    assert large == []


LARGE = 128 * 1024  # glibc's mmap threshold as a node fixes it (engine/memory.py)
