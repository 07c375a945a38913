"""One websocket over TLS: asyncio streams carry the bytes, the websockets sans-I/O protocol frames them.

Why not ``websockets.asyncio.server.serve``: a TLS handshake the server refuses (no client certificate,
another venue's CA) never reaches its handler, and asyncio logs it only in debug mode (docs/architecture.md (Library facts)). Doing
``start_tls`` ourselves lets every refusal be counted and logged with its reason, and keeps framing in the
``websockets`` library's own sans-I/O protocol (handshake, masking, size limit, ping/pong, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from meshpos.errors import MeshposError

PATH = "/meshpos/v1"
READ_SIZE = 65536


class LinkRefused(MeshposError):
    """A connection was refused before the sync protocol started (TLS, certificate, handshake)."""

    code = "link_refused"

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class WsConnection:
    """A websocket after its handshake: whole binary messages in and out."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: ServerProtocol | ClientProtocol,
        peer_cert: bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._protocol = protocol
        self.peer_cert = peer_cert
        self._pending: list[bytes] = []  # whole messages parsed but not yet returned
        self._fragments: list[bytes] | None = None
        self.close_reason = ""
        self.violation = ""  # set when the peer broke the websocket protocol (size, text, framing)
        peername = writer.get_extra_info("peername")
        self.remote = f"{peername[0]}:{peername[1]}" if peername else "?"

    async def recv(self) -> bytes | None:
        """The next binary message, or None once the connection has ended (see ``close_reason``)."""
        batch = await self.recv_batch(1)
        return batch[0] if batch else None

    async def recv_batch(self, most: int = 256) -> list[bytes]:
        """Every whole message already read (at least one, at most ``most``), waiting for the first;
        [] once the connection has ended. A receiver that takes a burst at once commits it once."""
        while not self._pending:
            if self._protocol.state is State.CLOSED:
                return []
            try:
                data = await self._reader.read(READ_SIZE)
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                self.close_reason = self.close_reason or f"connection lost ({exc})"
                self._writer.close()
                return []
            if data:
                self._protocol.receive_data(data)
            else:
                self._protocol.receive_eof()
            self._collect()
            await self._flush()
            if not data and not self._pending:
                self.close_reason = self.close_reason or "connection closed by peer"
                self._writer.close()
                return []
        batch, self._pending = self._pending[:most], self._pending[most:]
        return batch

    def _collect(self, events: list[object] | None = None) -> None:
        for event in events if events is not None else self._protocol.events_received():
            opcode = getattr(event, "opcode", None)
            data = bytes(getattr(event, "data", b""))
            fin = getattr(event, "fin", True)
            if opcode is Opcode.TEXT:
                self._protocol.fail(1003, "text messages are not part of the meshpos protocol")
                self.close_reason = "peer sent a text message"
            elif opcode is Opcode.BINARY:
                if fin:
                    self._pending.append(data)
                else:
                    self._fragments = [data]
            elif opcode is Opcode.CONT and self._fragments is not None:
                self._fragments.append(data)
                if fin:
                    self._pending.append(b"".join(self._fragments))
                    self._fragments = None
            elif opcode is Opcode.CLOSE:
                close = self._protocol.close_rcvd
                self.close_reason = self.close_reason or (
                    f"peer closed ({close.code} {close.reason})".strip() if close else "peer closed"
                )
        exc = self._protocol.parser_exc
        if exc is not None and not self.close_reason:
            self.close_reason = f"bad websocket data ({exc})"
        if isinstance(exc, PayloadTooBig | WsProtocolError):
            self.violation = f"bad websocket data ({exc})"
        elif self.close_reason == "peer sent a text message":
            self.violation = self.close_reason

    async def send(self, data: bytes) -> None:
        await self.send_batch([data])

    async def send_batch(self, messages: list[bytes]) -> None:
        """Frame every message, then hand them to TLS as one write (one record, one syscall)."""
        if self._protocol.state is not State.OPEN:
            return
        for data in messages:
            self._protocol.send_binary(data)
        await self._flush()

    async def ping(self) -> None:
        if self._protocol.state is State.OPEN:
            self._protocol.send_ping(b"")
            await self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(code, reason[:120])
            await self._flush()
        self.close_reason = self.close_reason or reason or "closed"
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    def abort(self) -> None:
        self._writer.transport.abort()

    async def _flush(self) -> None:
        if self._writer.is_closing():  # writing to a closed SSL transport fails inside asyncio
            self._protocol.data_to_send()
            return
        chunks = self._protocol.data_to_send()
        if not chunks:
            return
        try:
            frames = [chunk for chunk in chunks if chunk]
            if frames:
                self._writer.write(b"".join(frames))
            if len(frames) < len(chunks):  # b"": the protocol is done writing
                if self._writer.can_write_eof():
                    self._writer.write_eof()
                else:
                    self._writer.close()
            await self._writer.drain()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.close_reason = self.close_reason or f"connection lost ({exc})"
            self._writer.close()


class _HoldUntilTls(asyncio.StreamReaderProtocol):
    """Pauses reading at once, so the client's TLS hello stays in the socket for ``start_tls``
    instead of being swallowed by the plain stream reader."""

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

    def factory() -> asyncio.StreamReaderProtocol:
        return _HoldUntilTls(asyncio.StreamReader(limit=READ_SIZE), on_client)

    return await loop.create_server(factory, host, port)


async def _read_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    protocol: ServerProtocol | ClientProtocol,
    kind: type[Request] | type[Response],
) -> tuple[Request | Response, list[object]]:
    """The handshake event, and whatever frames arrived in the same read."""
    while True:
        data = await reader.read(READ_SIZE)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events: list[object] = list(protocol.events_received())
        for i, event in enumerate(events):
            if isinstance(event, kind):
                return event, events[i + 1 :]
        problem = protocol.handshake_exc or protocol.parser_exc
        if problem is not None:
            for chunk in protocol.data_to_send():  # e.g. websockets' own 400 reply
                if chunk:
                    writer.write(chunk)
            what = "response" if kind is Response else "request"
            raise LinkRefused("websocket", f"bad upgrade {what} ({problem})")
        if not data:
            raise LinkRefused("websocket", "connection closed during the websocket handshake")


def _peer_cert(writer: asyncio.StreamWriter) -> bytes:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise LinkRefused("tls", "the peer presented no certificate")
    return bytes(der)


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    *,
    max_size: int,
    timeout: float = 5.0,
) -> WsConnection:
    """Server side of a fresh TCP connection: TLS (client certificate required), then the upgrade."""
    try:
        await asyncio.wait_for(writer.start_tls(context), timeout)
    except TimeoutError:
        raise LinkRefused("tls", "TLS handshake timed out") from None
    except ssl.SSLError as exc:
        raise LinkRefused("tls", exc.reason or str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise LinkRefused("tls", f"connection lost during the TLS handshake ({exc})") from None
    der = _peer_cert(writer)
    protocol = ServerProtocol(max_size=max_size)
    try:
        request, _ = await asyncio.wait_for(
            _read_handshake(reader, writer, protocol, Request), timeout
        )
    except TimeoutError:
        raise LinkRefused("websocket", "no websocket upgrade request in time") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        raise LinkRefused("websocket", f"connection lost ({exc})") from None
    assert isinstance(request, Request)
    if request.path != PATH:
        response = protocol.reject(404, f"meshpos speaks on {PATH}\n")
        refused: LinkRefused | None = LinkRefused("websocket", f"unknown path {request.path!r}")
    else:
        response = protocol.accept(request)
        refused = (
            None
            if response.status_code == 101
            else LinkRefused("websocket", f"bad upgrade request ({protocol.handshake_exc})")
        )
    protocol.send_response(response)
    conn = WsConnection(reader, writer, protocol, der)
    await conn._flush()
    if refused is not None:
        writer.close()
        raise refused
    return conn


async def dial(
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    server_hostname: str,
    max_size: int,
    timeout: float = 5.0,
    local_addr: tuple[str, int] | None = None,
) -> WsConnection:
    """Client side: TCP, TLS with our certificate checking the server's device name, then the upgrade."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host,
                port,
                ssl=context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
                local_addr=local_addr,
            ),
            timeout,
        )
    except TimeoutError:
        raise LinkRefused("connect", f"{host}:{port} did not answer in {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise LinkRefused("tls", exc.reason or str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise LinkRefused("connect", f"{host}:{port}: {exc.strerror or exc}") from None
    try:
        der = _peer_cert(writer)
        protocol = ClientProtocol(
            parse_uri(f"wss://{server_hostname}:{port}{PATH}"), max_size=max_size
        )
        protocol.send_request(protocol.connect())
        conn = WsConnection(reader, writer, protocol, der)
        await conn._flush()
        _, rest = await asyncio.wait_for(
            _read_handshake(reader, writer, protocol, Response), timeout
        )
        conn._collect(rest)
    except TimeoutError:
        writer.close()
        raise LinkRefused("websocket", "no upgrade response in time") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        writer.close()
        raise LinkRefused("tls", f"the peer ended the connection ({exc})") from None
    except LinkRefused:
        writer.close()
        raise
    if protocol.handshake_exc is not None or protocol.state is not State.OPEN:
        writer.close()
        raise LinkRefused("websocket", f"upgrade refused ({protocol.handshake_exc})")
    return conn
