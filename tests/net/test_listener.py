"""The listener leaves an accepted connection unread until the server's TLS handshake (net/listener.py):
a client's hello already in the socket when the server accepts reaches the handshake, on asyncio's
loop and on uvloop's (which starts reading a transport after ``connection_made`` even when it paused,
so a plain transport holding the connection swallowed the hello and the handshake timed out)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpos.harness.venue import make_venue
from meshpos.net.loop import loop_factory
from meshpos.net.wsconn import LinkRefused, WsConnection, accept, listen
from meshpos.trust import client_ssl_context, device_hostname, server_ssl_context

from ..trust.helpers import issue_identity
from .test_link_contract import HOST, LIMIT


def _loops() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


async def _hello_first(tmp: Path) -> WsConnection | LinkRefused:
    authority = make_venue(tmp)
    server_id, client_id = issue_identity(authority, "R1"), issue_identity(authority, "R2")
    accepted: asyncio.Queue[WsConnection | LinkRefused] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await accept(
                reader, writer, server_ssl_context(server_id), max_size=LIMIT, timeout=5
            )
        except LinkRefused as exc:
            accepted.put_nowait(exc)
        else:
            accepted.put_nowait(conn)

    server = await listen(on_client, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_ssl_context(client_id).wrap_bio(
        incoming, outgoing, server_hostname=device_hostname("R1", authority.venue_id)
    )
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    # connected and the hello sent before the loop runs again: it is in the socket when accepted
    sock = socket.create_connection((HOST, port))
    sock.sendall(outgoing.read())
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if pending := outgoing.read():
                        await loop.sock_sendall(sock, pending)
                    data = await loop.sock_recv(sock, 65536)
                    assert data, "the server closed the connection during the handshake"
                    incoming.write(data)
            if pending := outgoing.read():
                await loop.sock_sendall(sock, pending)
            # the server now waits for the websocket upgrade request; none comes
            sock.shutdown(socket.SHUT_WR)
            return await accepted.get()
    finally:
        sock.close()
        server.close()


@pytest.mark.parametrize("loop_name", _loops())
def test_a_tls_hello_in_the_socket_before_the_accept_reaches_the_handshake(
    loop_name: str, tmp_path: Path
) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] = loop_factory(loop_name)
    with asyncio.Runner(loop_factory=factory) as runner:
        outcome = runner.run(_hello_first(tmp_path))
    # past TLS: refused for the missing upgrade request, not for the handshake
    assert isinstance(outcome, LinkRefused)
    assert outcome.kind == "websocket", outcome
