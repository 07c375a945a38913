"""The fast read of whole binary frames (``net/wsframes.py``) reads what the ``websockets`` library's own
parser reads, no more: fed the same random byte streams in the same random chunks, a protocol read
through the fast path and one read by the library alone see the same messages, the same control
frames, the same failure (its code and text) and send the same answers. The streams mix what a peer may
send (binary and text frames, fragments, pings, pongs, closes), what a hostile one may (reserved bits,
bad opcodes, the wrong mask, frames over the limit, lengths written long) and chunks that cut a frame
anywhere. Then a real TLS websocket on loopback shows the fast path is the one taken for a received
sale's message (the library's ``Frame.parse`` not run: on main it ran once a message) and that the
library still reads a ping, a fragmented message and a message over the limit there."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest import mock

import pytest
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLIENT, SERVER, Protocol, Side, State

from meshpos.console.runner import server_ssl_context
from meshpos.harness.tls import console_tls
from meshpos.net.wsconn import WsConnection, accept, dial, listen
from meshpos.net.wsframes import whole_binary_frames
from meshpos.relay.link import console_ssl_context

LIMIT = 300  # a small size limit, so that frames over it come up often

# what an honest peer sends, by weight: final binary most often, a message in two fragments, a ping, a pong
_GOOD = [(0x82, 14), (0x02, 2), (0x89, 2), (0x8A, 1)]
# what a failing or hostile one may: a close, text, a lone continuation, reserved bits, reserved opcodes,
# a fragmented ping
_BAD = [0x88, 0x81, 0x80, 0x00, 0xC2, 0xA2, 0x92, 0x83, 0x8B, 0x09]


def _frame(rng: random.Random, masked: bool) -> bytes:
    """One frame's bytes (two for a fragmented message), mostly well formed, sometimes not."""
    bad = rng.random() < 0.04
    first = rng.choice(_BAD) if bad else rng.choices(*zip(*_GOOD, strict=True))[0]
    if first == 0x88:
        body = rng.choice([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x03", b"\x00\x00"])
    elif first in (0x89, 0x8A):
        body = rng.randbytes(rng.choice([0, 3, 125]))
    elif first == 0x81:
        body = rng.choice(["ok", "café"]).encode() + rng.choice([b"", b"\xff"])
    else:
        sizes = [0, 1, 125, 126, 127, 200, LIMIT] + ([LIMIT + 1, 70000] if bad else [])
        body = rng.randbytes(rng.choice(sizes))
    mask_bit = masked != (rng.random() < 0.01)  # now and then the wrong mask
    if first == 0x02:  # a message in two fragments: the second is the continuation
        cut = rng.randrange(len(body) + 1)
        return _framed(rng, 0x02, body[:cut], mask_bit) + _framed(rng, 0x80, body[cut:], mask_bit)
    return _framed(rng, first, body, mask_bit)


def _framed(rng: random.Random, first: int, body: bytes, mask_bit: bool) -> bytes:
    size = len(body)
    style = rng.random()
    if size < 126 and style < 0.9:
        head = bytes([first, (0x80 if mask_bit else 0) | size])
    elif size < 65536 and style < 0.95:
        head = bytes([first, (0x80 if mask_bit else 0) | 126]) + size.to_bytes(2, "big")
    else:  # (also a length written longer than it needs: the library takes it)
        head = bytes([first, (0x80 if mask_bit else 0) | 127]) + size.to_bytes(8, "big")
    if not mask_bit:
        return head + body
    key = rng.randbytes(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(body))


def _chunks(rng: random.Random, stream: bytes) -> Iterator[bytes]:
    """``stream`` cut at random places: whole frames in one read, or a frame cut anywhere."""
    at = 0
    while at < len(stream):
        step = rng.choice([1, 2, 5, 40, 400, 5000, 100000, 100000, 100000])
        yield stream[at : at + step]
        at += step


def _events(protocol: Protocol) -> list[tuple[Opcode, bool, bytes]]:
    frames = [e for e in protocol.events_received() if isinstance(e, Frame)]
    return [(e.opcode, e.fin, bytes(e.data)) for e in frames]


def _outcome(
    side: Side, chunks: list[bytes], fast: bool
) -> tuple[list[tuple[Opcode, bool, bytes]], list[int], State, str, object, int]:
    """What a protocol of ``side`` made of ``chunks``: the frames read, the answers' sizes, its state,
    its failure, the close it received, and how many frames the fast path read."""
    protocol = Protocol(side, max_size=LIMIT)
    seen: list[tuple[Opcode, bool, bytes]] = []
    answers: list[int] = []
    quick = 0
    for chunk in chunks:
        taken = 0
        if fast:
            payloads, taken = whole_binary_frames(protocol, chunk)
            seen += [(Opcode.BINARY, True, p) for p in payloads]
            quick += len(payloads)
        if taken < len(chunk):
            protocol.receive_data(chunk[taken:])
        seen += _events(protocol)
        answers += [len(c) for c in protocol.data_to_send()]
    return seen, answers, protocol.state, repr(protocol.parser_exc), protocol.close_rcvd, quick


@pytest.mark.parametrize("side", [SERVER, CLIENT], ids=["server", "client"])
@pytest.mark.parametrize("seed", range(6))
def test_the_fast_read_reads_what_the_library_reads(side: Side, seed: int) -> None:
    rng = random.Random(seed)
    quick = 0
    failed = 0
    for _ in range(150):
        frames = [_frame(rng, masked=side is SERVER) for _ in range(rng.randrange(1, 12))]
        chunks = list(_chunks(rng, b"".join(frames)))
        library = _outcome(side, chunks, fast=False)
        both = _outcome(side, chunks, fast=True)
        assert both[:5] == library[:5], (seed, frames)
        quick += both[5]
        failed += library[2] is not State.OPEN
    # the streams exercised both: frames the fast path read, and failures the library made
    assert quick > 60, quick
    assert failed > 10, failed


def test_the_fast_read_leaves_a_frame_boundary_it_cannot_see_to_the_library() -> None:
    """A frame's header read by the library with its body still to come: the next bytes are the body,
    not a frame, and only the library reads them."""
    protocol = Protocol(CLIENT, max_size=LIMIT)
    body = bytes(range(100))
    protocol.receive_data(b"\x82\x64")  # final binary, 100 bytes to come
    assert whole_binary_frames(protocol, b"\x82\x01" + body[2:]) == ([], 0)
    protocol.receive_data(body)
    assert _events(protocol) == [(Opcode.BINARY, True, body)]
    assert whole_binary_frames(protocol, b"\x82\x01x") == ([b"x"], 3)


@pytest.mark.parametrize("side", [SERVER, CLIENT], ids=["server", "client"])
def test_a_whole_frame_over_the_limit_is_the_librarys_to_refuse(side: Side) -> None:
    rng = random.Random(7)
    masked = side is SERVER
    stream = _framed(rng, 0x82, b"x" * LIMIT, masked) + _framed(
        rng, 0x82, b"y" * (LIMIT + 1), masked
    )
    library = _outcome(side, [stream], fast=False)
    both = _outcome(side, [stream], fast=True)
    assert both[:5] == library[:5]
    assert both[0] == [(Opcode.BINARY, True, b"x" * LIMIT)]
    assert both[5] == 1
    assert both[2] is State.CLOSING
    assert both[3] == "PayloadTooBig(301, 300)"


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[tuple[WsConnection, WsConnection]]:
    """A client and a server websocket over TLS on loopback (the mesh's stack, no client certificate)."""
    tls = console_tls(tmp_path)
    context = server_ssl_context(tls.cert, tls.key)
    accepted: asyncio.Queue[WsConnection] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(
            await accept(reader, writer, context, max_size=100_000, client_cert=False)
        )

    server = await listen(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client_context = console_ssl_context("wss://127.0.0.1", tls.ca)
    assert isinstance(client_context, ssl.SSLContext)
    client = await dial(
        "127.0.0.1", port, client_context, server_hostname="127.0.0.1", max_size=100_000
    )
    far = await accepted.get()
    try:
        yield client, far
    finally:
        client.abort()
        far.abort()
        server.close()


async def _received(conn: WsConnection, count: int) -> list[bytes]:
    got: list[bytes] = []
    while len(got) < count:
        batch = await conn.recv_batch()
        assert batch, conn.close_reason
        got += batch
    return got


async def test_a_sales_message_is_read_by_the_fast_path_over_tls(
    linked: tuple[WsConnection, WsConnection],
) -> None:
    client, server = linked
    small = [bytes([i]) * size for i, size in enumerate([0, 1, 125, 126, 1500, 9000])]
    large = [bytes([i]) * size for i, size in enumerate([65535, 65536, 99_999])]
    with mock.patch.object(Frame, "parse", wraps=Frame.parse) as library:
        for message in small + large:  # one at a time, as a sale's message arrives
            await client.send_batch([message])
            assert await _received(server, 1) == [message]
            await server.send_batch([message[::-1]])
            assert await _received(client, 1) == [message[::-1]]
            if message in small:  # (a message over a TLS record may take reads: the library's)
                assert library.call_count == 0  # (on main: once a message)


async def test_the_library_still_reads_pings_fragments_and_refuses_a_message_too_big(
    linked: tuple[WsConnection, WsConnection],
) -> None:
    client, server = linked
    sent = [b"a" * 10, b"b" * 20, b"c" * 30]
    pongs: list[Opcode] = []
    events = client._protocol.events_received

    def watched() -> list[Request | Response | Frame]:
        got = events()
        pongs.extend(e.opcode for e in got if isinstance(e, Frame) and e.opcode is Opcode.PONG)
        return got

    with (
        mock.patch.object(Frame, "parse", wraps=Frame.parse) as library,
        mock.patch.object(client._protocol, "events_received", watched),
    ):
        client._protocol.send_binary(sent[0])
        client._protocol.send_ping(b"are you there")
        client._protocol.send_binary(sent[1][:5], fin=False)
        client._protocol.send_continuation(sent[1][5:], fin=True)
        client._protocol.send_binary(sent[2])
        await client._flush()
        assert await _received(server, 3) == sent
        assert library.call_count >= 3  # the ping and the two fragments: the library's
        await server.send_batch([b"after"])
        assert await _received(client, 1) == [b"after"]
    assert pongs == [Opcode.PONG]  # the server answered the ping before its message
    server.limit(5000)  # (a frame over it still fits one TLS record: one read)
    await client.send_batch([b"x" * 5000, b"y" * 5001])
    assert await server.recv_batch() == [b"x" * 5000]
    assert await server.recv_batch() == []
    assert (
        server.violation == "bad websocket data (frame with 5001 bytes exceeds limit of 5000 bytes)"
    )
