"""HTTPS for :class:`~meshpos.httpapi.server.HttpServer` (the console's pages and API), with a plain answer
for a plain request.

Why not ``asyncio.start_server(ssl=...)``: a browser sent to ``http://console:8443`` (the scheme left out
or mistyped) got its connection closed without a word, as did any other plain client: the TLS handshake
failed inside asyncio, before the server saw the connection. Here the connection starts plain with its
reading held, the server peeks at its first byte, and only a TLS handshake record (0x16) goes on to
``start_tls``; anything else is answered in plain HTTP, 400 ``https_required`` naming the port's scheme.
The handshake has the request's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl

from meshpos.net.wsconn import HoldUntilTls as HoldUntilTls  # (the server's protocol: reading held)

HANDSHAKE = 0x16  # the content type of a TLS record carrying a handshake (every ClientHello)


async def first_byte(writer: asyncio.StreamWriter, timeout: float) -> int | None:
    """The first byte the client sent, left unread; None if it sent none in time or hung up."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    loop = asyncio.get_running_loop()
    # the transport owns the socket's descriptor, so the wait is on a duplicate of it
    with sock.dup() as dup:
        dup.setblocking(False)
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(dup.fileno(), ready)
        try:
            async with asyncio.timeout(timeout):
                await readable
            data = dup.recv(1, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            return None
        finally:
            loop.remove_reader(dup.fileno())
    return data[0] if data else None


def plain_answer(port: int) -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": "https_required",
                "message": f"port {port} speaks HTTPS only: open https:// (not http://) on it",
            }
        },
        separators=(",", ":"),
    ).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


async def start_tls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    port: int,
    timeout: float,
) -> bool:
    """Upgrade a held connection to TLS: True when done; False when the client sent nothing, hung up,
    failed the handshake, or spoke plain (answered 400 here, and its request read and dropped so that
    the answer is not lost to a reset)."""
    first = await first_byte(writer, timeout)
    if first is None:
        return False
    if first != HANDSHAKE:
        transport = writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        transport.resume_reading()
        writer.write(plain_answer(port))
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(1.0):
                while await reader.read(64 * 1024):
                    pass
        return False
    try:
        async with asyncio.timeout(timeout):
            await writer.start_tls(context)
    except (TimeoutError, ssl.SSLError, ConnectionError, OSError):
        return False
    return True
