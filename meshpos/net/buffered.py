"""The stream protocol under every websocket connection: asyncio reads into one buffer it keeps.

docs/architecture.md (Links). **Changed** (issue 18, cpu): with a plain ``StreamReaderProtocol``,
asyncio's SSL protocol takes what it decrypts with ``SSLObject.read(256 KiB)`` until that raises
(twice a received message: the data, then "want read"), and a plain socket transport reads with
``sock.recv(256 KiB)``: each call allocates 256 KiB, which a node's fixed glibc mmap threshold (128
KiB, ``engine/memory.py``) makes an ``mmap``, a ``mremap`` and a ``munmap`` (the unmapping flushes
the TLB of every CPU the process's threads ran on). A receiving register made ~2 of each per
received sale (``strace -c -f``, ``python -m meshpos.bench.receive_node``). A
:class:`asyncio.BufferedProtocol` is read into a buffer of its own (``SSLObject.read(n, buffer)``,
``sock.recv_into``), allocated once per connection; what it reads goes to the ``StreamReader`` as
before (copied into the reader's buffer before the next read reuses this one). The listener whose
connections :func:`~meshpos.net.wsconn.accept` upgrades is here too (moved from ``net.wsconn``).

**Changed** (issue 18, latency; the twenty-third session): what it reads may be taken at once
(``take_now``, set by :meth:`~meshpos.net.wsconn.WsConnection.take_at_once`) instead of going to the
``StreamReader``, whose waiting task would take it one loop round later, behind whatever else that
round runs (docs/architecture.md (Links)).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from ssl import SSLContext

from meshpos.net.wshandshake import READ_SIZE

#: what one read takes at most: a TLS record is at most 16 KiB, and a plain read wants no more than
#: the stream reader's limit (``wshandshake.READ_SIZE``)
BUFFER_SIZE = 65536

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


class BufferedStreamProtocol(asyncio.StreamReaderProtocol, asyncio.BufferedProtocol):
    """``StreamReaderProtocol`` fed through one reused buffer (see the module docstring)."""

    def __init__(
        self, reader: asyncio.StreamReader, client_connected_cb: ClientConnected | None = None
    ) -> None:
        super().__init__(reader, client_connected_cb)
        self._view = memoryview(bytearray(BUFFER_SIZE))
        # takes the bytes read instead of the stream reader when it returns True (``take_at_once``)
        self.take_now: Callable[[bytes], bool] | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._view[:nbytes])
        if self.take_now is None or not self.take_now(data):
            self.data_received(data)


async def open_connection(
    host: str,
    port: int,
    *,
    limit: int,
    ssl: SSLContext | None,
    server_hostname: str | None,
    ssl_handshake_timeout: float | None,
    local_addr: tuple[str, int] | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` with a :class:`BufferedStreamProtocol` (its own body, otherwise)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = BufferedStreamProtocol(reader)
    transport, _ = await loop.create_connection(
        lambda: protocol,
        host,
        port,
        ssl=ssl,
        server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        local_addr=local_addr,
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class HoldUntilTls(BufferedStreamProtocol):
    """Pauses reading at once, so the client's TLS hello stays in the socket for ``start_tls``
    instead of being swallowed by the plain stream reader (the sync port's listener; the console's
    HTTPS, ``httpapi.https``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        transport.pause_reading()
        super().connection_made(transport)


async def listen(
    on_client: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str,
    port: int,
) -> asyncio.Server:
    """A plain TCP listener whose connections :func:`accept` upgrades to TLS and websocket."""
    loop = asyncio.get_running_loop()

    async def served(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``on_client``, ending quietly when cancelled (its server stopping with a handshake under
        way): Python 3.11's stream server asks the ended task for its exception, and a cancelled
        one was logged as an error with a traceback (seen when a node stopped in the 50-device
        bench); the connection is closed."""
        try:
            await on_client(reader, writer)
        except asyncio.CancelledError:
            writer.close()

    def factory() -> asyncio.StreamReaderProtocol:
        return HoldUntilTls(asyncio.StreamReader(limit=READ_SIZE), served)

    return await loop.create_server(factory, host, port)
