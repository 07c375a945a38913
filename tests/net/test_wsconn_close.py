"""Closing a websocket ends within ``CLOSE_WAIT_S`` whatever the far side does: a peer that stops reading
(a console or a register whose process is stopped, a full uplink) cannot hold whoever closes the link,
and its socket is cut off. Before, ``WsConnection.close`` waited without end to hand its close frame to a
peer that read nothing on a plain websocket (``ws://``, as a console on the LAN may be); a channel
bounded it from outside, other callers did not. (Over TLS Python 3.11's transport took the frame at once
without applying backpressure, so the close ended there anyway.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.utils import accept_key

from meshpos.console.runner import server_ssl_context
from meshpos.harness.tls import console_tls
from meshpos.net.wsconn import CLOSE_WAIT_S, WsConnection, dial
from meshpos.relay.link import console_ssl_context


class Deaf:
    """A TLS websocket server on loopback that answers the upgrade and then reads nothing, ever."""

    def __init__(self) -> None:
        self.upgraded = asyncio.Event()
        self.release = asyncio.Event()
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = accept_key(key.decode()).encode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        self.upgraded.set()
        await self.release.wait()  # never reads: the client's writes pile up
        writer.transport.abort()


@pytest.fixture(params=["ws", "wss"])
async def deaf(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Deaf, str, Path]]:
    """The deaf server, plain or TLS; its URL and the CA its certificate is of."""
    tls = console_tls(tmp_path)
    context = server_ssl_context(tls.cert, tls.key) if request.param == "wss" else None
    far = Deaf()
    server = await asyncio.start_server(far.serve, "127.0.0.1", 0, ssl=context)
    far.port = server.sockets[0].getsockname()[1]
    try:
        yield far, f"{request.param}://127.0.0.1:{far.port}", tls.ca
    finally:
        far.release.set()
        server.close()


async def test_a_close_to_a_peer_that_reads_nothing_ends_in_time_and_drops_the_socket(
    deaf: tuple[Deaf, str, Path],
) -> None:
    far, url, ca = deaf
    conn: WsConnection = await dial(
        "127.0.0.1",
        far.port,
        console_ssl_context(url, ca),
        server_hostname="127.0.0.1",
        max_size=2**20,
        path="/",
    )
    await far.upgraded.wait()
    # more than the peer's and the kernel's buffers hold (a few MB on loopback): the write waits
    sending = asyncio.create_task(conn.send_batch([b"\x00" * 2**20] * 32))
    await asyncio.sleep(0)  # (it has handed them to the socket and waits to drain)
    started = time.monotonic()
    async with asyncio.timeout(CLOSE_WAIT_S + 5):  # (a hang fails here, not at the test's bound)
        await conn.close(1000, "bye")
    took = time.monotonic() - started
    assert took < CLOSE_WAIT_S + 1, took
    assert conn._writer.transport.is_closing()
    sending.cancel()
    print(f"\nclosed in {took:.2f} s with 32 MiB still to send")
