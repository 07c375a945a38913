"""A benchmark's messages delivered to a receiver over a real TLS websocket on loopback (issue 18, the
twenty-third session, part ``cpu``).

``receive_parts`` handed each sale's message to the receiving engine's ``link_messages`` directly, so
its figures left out what taking the message off the wire costs the receiver: the loop's wake-up, the
TLS read, the stream reader, the websocket frame and the channel's read loop (~a quarter of a real
receiver's loop, docs/benchmarks.md, the twentieth session). With ``--wire`` the message goes through
them: a sender thread of its own (a blocking TLS socket and the ``websockets`` library's sans-I/O
client, so that none of the sender's work runs on the receiver's thread, whose Python calls and CPU
time are the figures) writes each message when told, and the receiver reads it with the project's own
stack (``net/wsconn.py``'s :func:`~meshpos.net.wsconn.accept` and ``recv_batch``, then the handler's
``link_messages``, as :class:`~meshpos.net.channel.Channel` reads). Loopback only (the network rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from meshpos.harness.tls import console_tls
from meshpos.net.wsconn import PATH, WsConnection, accept, listen

HOST = "127.0.0.1"
MAX_SIZE = 2**24


def _send_all(port: int, ca: Path, messages: queue.SimpleQueue[bytes | None]) -> None:
    """The sender thread: dial, upgrade, then write each message as its own frame until None."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((HOST, port)) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        protocol = ClientProtocol(parse_uri(f"wss://{HOST}:{port}{PATH}"), max_size=MAX_SIZE)
        protocol.send_request(protocol.connect())
        tls.sendall(b"".join(protocol.data_to_send()))
        while protocol.state is State.CONNECTING:
            data = tls.recv(65536)
            if not data:
                return
            protocol.receive_data(data)
        if protocol.state is not State.OPEN:
            return
        while (message := messages.get()) is not None:
            protocol.send_binary(message)
            tls.sendall(b"".join(protocol.data_to_send()))


@contextlib.asynccontextmanager
async def wire_feed(
    link_messages: Callable[[str, list[bytes]], Awaitable[None]], key: str
) -> AsyncIterator[Callable[[bytes], None]]:
    """A function that sends one message over TLS to this thread's loop, where it is read and handed
    to ``link_messages(key, batch)``; the link is closed on leaving."""
    accepted: asyncio.Future[WsConnection] = asyncio.get_running_loop().create_future()
    with tempfile.TemporaryDirectory(prefix="meshpos-wire-feed-") as tmp:
        tls = console_tls(Path(tmp))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = await accept(reader, writer, context, max_size=MAX_SIZE, client_cert=False)
            accepted.set_result(conn)

        server = await listen(on_client, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        messages: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        sender = threading.Thread(target=_send_all, args=(port, tls.ca, messages), daemon=True)
        sender.start()
        conn = await accepted

        async def read() -> None:  # (``Channel._read``)
            while batch := await conn.recv_batch():
                await link_messages(key, batch)

        reading = asyncio.create_task(read())
        try:
            yield messages.put
        finally:
            messages.put(None)
            await asyncio.to_thread(sender.join, 10.0)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            conn.abort()
            server.close()
