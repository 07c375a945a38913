"""The one websocket stack (docs/architecture.md (Wire)): asyncio streams carry the bytes, the ``websockets``
library's sans-I/O protocol frames them. Mesh links (mTLS), the relay's link to the console (TLS or plain,
no client certificate) and the console's server all open their connections here; :mod:`meshpos.net.channel`
runs an open one for a :class:`~meshpos.net.port.LinkHandler`.

Why not ``websockets.asyncio.server.serve``: a TLS handshake the server refuses (no client certificate,
another venue's CA) never reaches its handler, and asyncio logs it only in debug mode. Doing ``start_tls``
ourselves lets every refusal be counted and logged with its reason, and keeps framing in the ``websockets``
library's own sans-I/O protocol (handshake, masking, size limit, ping/pong, close). A server decides on
the upgrade request itself (``route``: its path, its token) and may answer it with plain HTTP, which is how
the console answers ``/health``, a relay's probe and every refusal.

Every wait here is bounded with ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for``
returns the result when a cancel arrives just as what it waits for completes, and the cancelled task
goes on (a relay's console link, stopped, redialled for ever; tests/test_cancellation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
import time
from collections.abc import Awaitable, Callable

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, PayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.extensions.permessage_deflate import (
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from meshpos.errors import MeshposError, RemoteProtocolError
from meshpos.net.buffered import BufferedStreamProtocol, open_connection
from meshpos.net.buffered import HoldUntilTls as HoldUntilTls  # (where callers import them from)
from meshpos.net.buffered import listen as listen
from meshpos.net.dates import date_skew
from meshpos.net.wshandshake import READ_SIZE, peer_cert, read_handshake, tls_reason
from meshpos.net.wshandshake import LinkRefused as LinkRefused  # (where callers import it from)
from meshpos.sync import FEATURES, FEATURES_HEADER, features_header, parse_features

PATH = "/meshpos/v1"
CLOSE_WAIT_S = (
    2.0  # for a close frame to be handed over and the socket to end (a dead peer answers never)
)


#: what a server's ``route`` answers an upgrade request with instead of the upgrade: (HTTP status, text)
Answer = tuple[int, str]
#: a server's look at an upgrade request: None lets it upgrade, an :data:`Answer` answers it in HTTP
Route = Callable[[Request], Awaitable[Answer | None]]


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
        self._waiting = False  # ``recv_batch`` waits in a read of an empty stream reader
        self._take: Callable[[list[bytes]], None] | None = None  # (``take_at_once``)
        self._fragments: list[bytes] | None = None
        self.path = ""  # the path of the upgrade request (server side)
        # what the far end announced it can take in its upgrade request or response (empty: N−1)
        self.features: frozenset[str] = frozenset()
        self.request: Request | None = None  # and the request (its headers), for the route's owner
        self.close_reason = ""
        self.close_code = 0  # the code of the peer's close frame, once it sent one
        self.close_text = ""  # and its reason
        self.violation = ""  # set when the peer broke the websocket protocol (size, text, framing)
        # the far end's clock minus ours, from its upgrade request's or response's Date header (None:
        # it sent none, e.g. N−1 in its request): a clock hours off says so (ops/clock.py)
        self.clock_skew_s: float | None = None
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
            self._waiting = True  # (a read that does not wait lets no callback in meanwhile)
            try:
                data = await self._reader.read(READ_SIZE)
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                self.close_reason = self.close_reason or f"connection lost ({exc})"
                self._writer.close()
                return []
            finally:
                self._waiting = False
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

    def take_at_once(self, take: Callable[[list[bytes]], None]) -> None:
        """Hand ``take`` the messages read while :meth:`recv_batch` waits on nothing, in the read
        callback (**Changed** (issue 18, latency): its task took them a loop round later). Bytes
        that come while the task holds earlier ones go to it, in order; a close or bad data leave
        the state as its own read would, and it reads on to the end; what ``take`` raises, its
        read raises. Not for a handler that must await (the console)."""
        protocol = self._writer.transport.get_protocol()
        if isinstance(protocol, BufferedStreamProtocol):
            self._take = take
            protocol.take_now = self._read_now

    def _read_now(self, data: bytes) -> bool:
        if not self._waiting or self._take is None or not data or self._writer.is_closing():
            return False
        self._protocol.receive_data(data)
        self._collect()
        self._write_out()  # (a pong, the answer to a close: the task's next write drains)
        if self._pending:
            batch, self._pending = self._pending, []
            try:
                self._take(batch)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # the task's read raises it, as its handler's call would
                if not isinstance(exc, Exception):  # (a pycrdt panic)
                    failed = MeshposError(f"a peer's messages failed ({type(exc).__name__})")
                    failed.__cause__ = exc
                    exc = failed
                self._reader.set_exception(exc)
                self._waiting = False  # (nothing more is taken here: the task ends the link)
        return True

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
                self.close_code = close.code if close else 1005
                self.close_text = close.reason if close else ""
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

    def limit(self, max_size: int) -> None:
        """Accept messages up to ``max_size`` bytes from now on (a server that learnt from the path
        what the connection is for)."""
        self._protocol.max_message_size = max_size

    async def send(self, data: bytes) -> None:
        await self.send_batch([data])

    async def send_batch(self, messages: list[bytes]) -> None:
        """Frame every message, then hand them to TLS as one write (one record, one syscall)."""
        if self._protocol.state is not State.OPEN:
            return
        for data in messages:
            self._protocol.send_binary(data)
        await self._flush()

    def send_now(self, messages: list[bytes]) -> bool:
        """Frame ``messages`` and hand them to TLS at once, as :meth:`send_batch` would, when the
        transport takes them without waiting (open, below its high-water mark: no drain to await);
        False: nothing was done (the caller queues them for ``send_batch``). **Changed** (issue 18,
        tail): a channel's writer task took every message one loop round later."""
        transport = self._writer.transport
        if self._protocol.state is not State.OPEN or self._writer.is_closing():
            return False
        if transport.get_write_buffer_size() >= transport.get_write_buffer_limits()[1]:
            return False
        for data in messages:
            self._protocol.send_binary(data)
        self._write_out()
        return True

    async def ping(self) -> None:
        if self._protocol.state is State.OPEN:
            self._protocol.send_ping(b"")
            await self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send the close frame and drop the socket within ``CLOSE_WAIT_S``: a peer that reads nothing
        (the frame cannot be handed to its full buffers) or never ends its side is cut off (aborted)."""
        try:
            async with asyncio.timeout(CLOSE_WAIT_S):
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close(code, reason[:120])
                    await self._flush()
                self.close_reason = self.close_reason or reason or "closed"
                self._writer.close()
                with contextlib.suppress(Exception):
                    await self._writer.wait_closed()
        except TimeoutError:
            self.close_reason = self.close_reason or reason or "closed"
            self.abort()

    def abort(self) -> None:
        self._writer.transport.abort()

    async def linger(self, grace: float) -> None:
        """Drop the socket once the peer has closed it, reading (and discarding) until then, for at
        most ``grace`` seconds: a peer still sending when this side failed the connection (a message
        too big) then reads the close frame with its code instead of a reset, as with the
        ``websockets`` library's own servers. An open websocket (a peer dropped for not reading, a
        stop) is dropped at once."""
        if self._protocol.state is State.OPEN or self._writer.is_closing():
            self.abort()
            return
        try:
            async with asyncio.timeout(grace):
                while await self._reader.read(READ_SIZE):
                    pass
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            self.abort()

    async def _flush(self) -> None:
        if not self._write_out():
            return
        try:
            await self._writer.drain()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self._lost(exc)

    def _write_out(self) -> bool:
        """Hand what the protocol has to send to the transport; whether anything was (a drain
        may follow)."""
        if self._writer.is_closing():  # writing to a closed SSL transport fails inside asyncio
            self._protocol.data_to_send()
            return False
        chunks = self._protocol.data_to_send()
        if not chunks:
            return False
        try:
            frames = [chunk for chunk in chunks if chunk]
            if frames:
                self._writer.write(b"".join(frames))
            if len(frames) < len(chunks):  # b"": the protocol is done writing
                if self._writer.can_write_eof():
                    self._writer.write_eof()
                else:
                    self._writer.close()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self._lost(exc)
            return False
        return True

    def _lost(self, exc: BaseException) -> None:
        self.close_reason = self.close_reason or f"connection lost ({exc})"
        self._writer.close()


def features_of(headers: Headers) -> frozenset[str]:
    """The far end's features (:func:`parse_features`); its header sent twice is malformed too: read
    with ``get``, a second value raised ``MultipleValuesError`` out of the handshake, which dropped
    the connection unanswered and logged a traceback per request (outside, second round)."""
    values = headers.get_all(FEATURES_HEADER)
    if len(values) > 1:
        raise RemoteProtocolError(
            f"{FEATURES_HEADER} header sent more than once ({len(values)} values): send it once"
        )
    return parse_features(values[0] if values else None)


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext | None,
    *,
    max_size: int,
    timeout: float = 5.0,
    route: Route | None = None,
    client_cert: bool = True,
    compress: bool = False,
    features: frozenset[str] = FEATURES,
    also: Callable[[str], bool] | None = None,
) -> WsConnection:
    """Server side of a fresh TCP connection from :func:`listen`: TLS (with ``context``; a client
    certificate unless ``client_cert`` is False), then the upgrade request, which ``route`` may answer in
    plain HTTP instead (raised as ``LinkRefused("http", ...)`` with its status once answered). Without
    a ``route``, the mesh's: :data:`PATH` only (the client certificate already said who it is), and the
    paths ``also`` accepts (a stock Yjs client's: its owner checks who it is).
    ``compress`` offers permessage-deflate (the console's uplinks may be slow; the LAN is not).
    The response announces ``features`` (sync/_features.py); the connection's ``features`` are the
    client's (a malformed header is answered 400 and refused)."""
    if context is None:
        transport = writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        transport.resume_reading()  # no TLS hello to keep for start_tls: read the request
    else:
        try:
            async with asyncio.timeout(timeout):
                await writer.start_tls(context)
        except TimeoutError:
            raise LinkRefused("tls", "TLS handshake timed out") from None
        except ssl.SSLError as exc:
            raise LinkRefused("tls", tls_reason(exc)) from None
        except (ConnectionError, OSError) as exc:
            raise LinkRefused("tls", f"connection lost during the TLS handshake ({exc})") from None
    der = peer_cert(writer, required=context is not None and client_cert)
    extensions = enable_server_permessage_deflate(None) if compress else None
    protocol = ServerProtocol(max_size=max_size, extensions=extensions)
    try:
        async with asyncio.timeout(timeout):
            request, _ = await read_handshake(reader, writer, protocol, Request)
            assert isinstance(request, Request)
            arrived = time.time()
            answer = await route(request) if route is not None else None
    except TimeoutError:
        raise LinkRefused("websocket", "no websocket upgrade request in time") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        raise LinkRefused("websocket", f"connection lost ({exc})") from None
    refused: LinkRefused | None
    try:
        theirs = features_of(request.headers)
    except RemoteProtocolError as exc:
        theirs, problem = frozenset(), exc.message
    else:
        problem = ""
    if route is None and request.path != PATH and not (also is not None and also(request.path)):
        response = protocol.reject(404, f"meshpos speaks on {PATH}\n")
        refused = LinkRefused("websocket", f"unknown path {request.path!r}", status=404)
    elif answer is not None:  # the route's own refusal first: it counted it already
        status, text = answer
        response = protocol.reject(status, text)
        refused = LinkRefused("http", f"answered {status}: {text.strip()}", status=status)
    elif problem:
        response = protocol.reject(400, problem + "\n")
        refused = LinkRefused("websocket", problem, status=400)
    else:
        response = protocol.accept(request)
        if features:
            response.headers[FEATURES_HEADER] = features_header(features)
        refused = (
            None
            if response.status_code == 101
            else LinkRefused("websocket", f"bad upgrade request ({protocol.handshake_exc})")
        )
    protocol.send_response(response)
    conn = WsConnection(reader, writer, protocol, der)
    conn.path = request.path
    conn.features = theirs
    conn.request = request
    conn.clock_skew_s = date_skew(request.headers.raw_items(), arrived, arrived)
    await conn._flush()
    if refused is not None:
        writer.close()
        raise refused
    return conn


async def dial(
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    *,
    server_hostname: str,
    max_size: int,
    timeout: float = 5.0,
    local_addr: tuple[str, int] | None = None,
    path: str = PATH,
    headers: dict[str, str] | None = None,
    server_cert: bool = True,
    compress: bool = False,
    features: frozenset[str] = FEATURES,
) -> WsConnection:
    """Client side: TCP, TLS with ``context`` (None: plain) checking the server's certificate for
    ``server_hostname``, then the upgrade of ``path`` with ``headers``. A server that answers in HTTP
    instead raises ``LinkRefused("status", ...)`` with its status and body. ``compress`` asks for
    permessage-deflate, which the server may grant. The request announces ``features``
    (sync/_features.py); the connection's ``features`` are the server's (none from N−1)."""
    try:
        async with asyncio.timeout(timeout):  # (not wait_for: see above)
            reader, writer = await open_connection(  # (buffered: ``net/buffered.py``)
                host,
                port,
                limit=READ_SIZE,
                ssl=context,
                server_hostname=server_hostname if context is not None else None,
                ssl_handshake_timeout=timeout if context is not None else None,
                local_addr=local_addr,
            )
    except TimeoutError:
        raise LinkRefused("connect", f"{host}:{port} did not answer in {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise LinkRefused("tls", tls_reason(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise LinkRefused("connect", f"{host}:{port}: {exc.strerror or exc}") from None
    try:
        der = peer_cert(writer, required=context is not None and server_cert)
        scheme = "wss" if context is not None else "ws"
        protocol = ClientProtocol(
            parse_uri(f"{scheme}://{server_hostname}:{port}{path}"),
            max_size=max_size,
            extensions=enable_client_permessage_deflate(None) if compress else None,
        )
        request = protocol.connect()
        for name, value in (headers or {}).items():
            request.headers[name] = value
        if features:
            request.headers[FEATURES_HEADER] = features_header(features)
        if "Date" not in request.headers:  # the server compares its clock with ours (ops/clock.py)
            request.headers["Date"] = email.utils.formatdate(usegmt=True)
        sent = time.time()
        protocol.send_request(request)
        conn = WsConnection(reader, writer, protocol, der)
        await conn._flush()
        async with asyncio.timeout(timeout):
            response, rest = await read_handshake(reader, writer, protocol, Response)
        conn._collect(rest)
    except asyncio.CancelledError:  # the caller gave up on this dial: its socket goes with it
        writer.close()
        raise
    except TimeoutError:
        writer.close()
        raise LinkRefused("websocket", "no upgrade response in time") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        writer.close()
        raise LinkRefused("tls", f"the peer ended the connection ({exc})") from None
    except LinkRefused:
        writer.close()
        raise
    if isinstance(protocol.handshake_exc, InvalidStatus):
        writer.close()
        assert isinstance(response, Response)
        raise LinkRefused(
            "status",
            f"upgrade refused: HTTP {response.status_code}",
            status=response.status_code,
            body=bytes(response.body),
        )
    if protocol.handshake_exc is not None or protocol.state is not State.OPEN:
        writer.close()
        raise LinkRefused("websocket", f"upgrade refused ({protocol.handshake_exc})")
    assert isinstance(response, Response)
    conn.clock_skew_s = date_skew(response.headers.raw_items(), sent, time.time())
    try:
        conn.features = features_of(response.headers)
    except RemoteProtocolError as exc:
        writer.close()
        raise LinkRefused("websocket", exc.message) from None
    return conn
