"""The TCP listener under :mod:`meshpos.net.wsconn`'s servers (docs/architecture.md (Links)).

A server does its TLS handshake itself (``wsconn.accept``), so that every refused handshake reaches its
handler and is counted; the client's TLS hello must therefore stay unread in the socket until then.
A plain transport paused in ``connection_made`` would hold it on asyncio's loop, but uvloop starts
reading after ``connection_made`` whatever the protocol asked, and a hello swallowed by the plain
stream left the handshake waiting until it timed out. So no transport reads an accepted connection
before :func:`open_accepted`: the listener takes a duplicate of its socket and drops the loop's
transport before it reads a byte; the socket, held in an :class:`Accepted`, is opened with
``connect_accepted_socket`` (TLS or plain) when the server knows which. The same on every loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

READ_SIZE = 65536

OnClient = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


class Accepted(asyncio.Transport):
    """An accepted connection nothing has read from yet: its socket, until :func:`open_accepted`
    opens it; then the transport it was opened with (closing this closes that)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock: socket.socket | None = sock
        self.opened: asyncio.Transport | None = None
        self._extra: dict[str, object] = {"socket": sock}
        with contextlib.suppress(OSError):
            self._extra["peername"] = sock.getpeername()
            self._extra["sockname"] = sock.getsockname()

    def get_extra_info(self, name: str, default: object = None) -> object:
        if self.opened is not None:
            return self.opened.get_extra_info(name, default)
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        """True once opened too: the handler's first writer, dropped, must not close the connection
        (asyncio's ``StreamWriter.__del__`` closes a transport not closing); ``close`` still does."""
        return self.opened is not None or self.sock is None

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()
        elif self.sock is not None:
            self.sock.close()
            self.sock = None

    def abort(self) -> None:
        if self.opened is not None:
            self.opened.abort()
        else:
            self.close()


_RUNNING: set[asyncio.Task[None]] = set()  # the handlers' tasks (the loop keeps only weak refs)


class _Handoff(asyncio.Protocol):
    """Takes an accepted connection from the loop's transport before it reads a byte."""

    def __init__(self, on_client: OnClient) -> None:
        self._on_client = on_client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        except OSError:
            transport.close()
            return
        _drop(transport)  # before the loop reads from it; the duplicate keeps the connection open
        sock.setblocking(False)
        held = Accepted(sock)
        reader = asyncio.StreamReader(limit=READ_SIZE)
        writer = asyncio.StreamWriter(held, asyncio.StreamReaderProtocol(reader), reader, loop)
        task = loop.create_task(self._on_client(reader, writer))
        _RUNNING.add(task)

        def done(task: asyncio.Task[None]) -> None:
            _RUNNING.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:
                held.abort()
                loop.call_exception_handler(
                    {"message": "unhandled error on an accepted connection", "exception": exc}
                )

        task.add_done_callback(done)


def _drop(transport: asyncio.BaseTransport) -> None:
    abort = getattr(transport, "abort", None)  # every stream transport has it; uvloop's are not
    if abort is not None:  # asyncio.Transport subclasses
        abort()
    else:
        transport.close()


async def listen(on_client: OnClient, host: str, port: int) -> asyncio.Server:
    """A TCP listener: each connection goes to ``on_client`` unread, its writer's transport an
    :class:`Accepted` that ``wsconn.accept`` opens (TLS or plain) and upgrades to websocket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Handoff(on_client), host, port)


async def open_accepted(
    held: Accepted, context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The accepted socket as streams, after the TLS handshake with ``context`` (None: plain).
    Raises what the handshake raised; the socket is closed then."""
    sock, held.sock = held.sock, None
    if sock is None:
        raise ConnectionResetError("closed before it was opened")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    protocol = asyncio.StreamReaderProtocol(reader)
    try:
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock, ssl=context)
    except BaseException:
        sock.close()  # the loop closed its transport already; a socket it never took, here
        raise
    held.opened = transport
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
