"""A hand-rolled malicious peer for the security tests: forged identities, raw TLS / TCP clients, an impostor
server, and a websocket client that speaks the meshpos sync protocol by hand (or breaks it on purpose)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography import x509

from meshpos.net.wsconn import LinkRefused, WsConnection, accept, dial, listen
from meshpos.sync import Bye, Hello, Message, SyncStep1, SyncStep2, decode, encode
from meshpos.sync._codec import messages_in
from meshpos.trust import (
    DeviceIdentity,
    VenueAuthority,
    client_ssl_context,
    device_hostname,
    server_ssl_context,
)
from meshpos.trust.certs import (
    certificate_pem,
    load_private_key,
    new_private_key,
    private_key_pem,
)

from ..trust.helpers import build_cert

WAIT = 10.0  # a guard against hangs, never a synchronisation delay
#: the guard of :meth:`Attacker.wait_closed`: a loaded node reads a flood's megabytes slowly (a full run
#: at load 15-20 ran out of 10 s before the node cut the flood off)
CLOSE_WAIT = 30.0
MAX_SIZE = 64 * 2**20  # what the attacker accepts from the node: anything


# --- identities -------------------------------------------------------------------------------------


def trusting(identity: DeviceIdentity, ca_pem: str) -> DeviceIdentity:
    """The same key and certificate, but verifying peers against ``ca_pem`` (an impostor that trusts
    the real venue CA, so that only the *other* side can refuse the handshake)."""
    return dataclasses.replace(identity, ca_pem=ca_pem)


def ca_signed_identity(
    authority: VenueAuthority, device_id: str, san: list[x509.GeneralName]
) -> DeviceIdentity:
    """A certificate the real venue CA signed with whatever names the test wants (a CA misuse)."""
    ca_key = load_private_key((authority.directory / "ca.key").read_text(), "ca.key")
    ca = x509.load_pem_x509_certificate(authority.ca_pem.encode())
    key = new_private_key()
    cert = build_cert(key, ca_key, cn=device_id, san=san, issuer=ca.subject)
    return DeviceIdentity(
        device_id,
        "register",
        authority.venue_id,
        private_key_pem(key),
        certificate_pem(cert),
        authority.ca_pem,
    )


def bare_client_context(ca_pem: str) -> ssl.SSLContext:
    """A TLS 1.3 client that trusts the venue CA but has no certificate of its own."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=ca_pem)
    return ctx


# --- raw clients --------------------------------------------------------------------------------------


async def _read_all(reader: asyncio.StreamReader, limit: float) -> bytes:
    out = b""
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, TimeoutError):
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                out += chunk
    return out


async def raw_tls(
    host: str,
    port: int,
    ctx: ssl.SSLContext,
    server_hostname: str,
    payload: bytes,
    *,
    read_for: float = WAIT,
) -> bytes:
    """Connect with TLS, send ``payload``, return what came back until the server closed.

    Raises :class:`ssl.SSLError` / :class:`OSError` when the TLS handshake itself fails.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname=server_hostname), WAIT
    )
    try:
        writer.write(payload)
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            await writer.drain()
        return await _read_all(reader, read_for)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def plain_tcp(host: str, port: int, payload: bytes, *, read_for: float = WAIT) -> bytes:
    """No TLS at all: send ``payload`` and return whatever came back until the server closed."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), WAIT)
    try:
        writer.write(payload)
        await writer.drain()
        return await _read_all(reader, read_for)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


def upgrade_request(path: str, host: str) -> bytes:
    """A well-formed websocket upgrade request for ``path``."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


# --- a peer that speaks the sync protocol by hand ---------------------------------------------------------


@dataclass
class Attacker:
    """A websocket to a node, opened with a (stolen or forged) identity; sends whatever it is told."""

    conn: WsConnection
    identity: DeviceIdentity
    received: list[Message] = field(default_factory=list)
    undecodable: list[bytes] = field(default_factory=list)
    received_bytes: int = 0  # every message the node sent, as whole websocket messages
    _pump: asyncio.Task[None] | None = None
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    async def dial(cls, identity: DeviceIdentity, target: str, host: str, port: int) -> Attacker:
        conn = await dial(
            host,
            port,
            client_ssl_context(identity),
            server_hostname=device_hostname(target, identity.venue_id),
            max_size=MAX_SIZE,
            timeout=WAIT,
        )
        attacker = cls(conn, identity)
        attacker._pump = asyncio.create_task(attacker._read())
        return attacker

    async def _read(self) -> None:
        try:
            while (data := await self.conn.recv()) is not None:
                self.received_bytes += len(data)
                try:  # (a batch: each message inside)
                    self.received.extend(decode(m, MAX_SIZE) for m in messages_in(data))
                except Exception:
                    self.undecodable.append(data)
                async with self._arrived:
                    self._arrived.notify_all()
        finally:
            self._closed.set()
            async with self._arrived:
                self._arrived.notify_all()

    async def expect(
        self, predicate: Callable[[Message], bool], what: str, start: int = 0
    ) -> Message:
        """The first message from index ``start`` on that satisfies ``predicate`` (waits for it)."""

        def found() -> Message | None:
            return next((m for m in self.received[start:] if predicate(m)), None)

        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None or self.closed)
        message = found()
        if message is None:
            raise AssertionError(f"connection closed before {what}: {self.close_reason}")
        return message

    def hello(self, role: str | None = None, *, client_id: int = 4242, node: str = "") -> Hello:
        return Hello(
            venue=self.identity.venue_id,
            node=node or self.identity.device_id,
            role=role or self.identity.role,
            software="evil/6.6.6",
            client_id=client_id,
        )

    async def send(self, message: Message) -> None:
        await self.conn.send(encode(message))

    async def send_raw(self, data: bytes) -> None:
        await self.conn.send(data)

    async def send_text(self, text: str) -> None:
        """A websocket text frame (the meshpos protocol is binary only)."""
        self.conn._protocol.send_text(text.encode())
        await self.conn._flush()

    async def wait_for_hello(self) -> Hello:
        """The node's hello (it sends it first, once the link is open)."""
        hello = await self.expect(lambda m: isinstance(m, Hello), "the node's hello")
        assert isinstance(hello, Hello)
        return hello

    async def fetch(self, doc: str) -> bytes:
        """Everything the node holds of ``doc`` (reading is allowed): sync step 1 from nothing."""
        start = len(self.received)
        await self.send(SyncStep1(doc, b"\x00"))
        reply = await self.expect(
            lambda m: isinstance(m, SyncStep2) and m.doc == doc, f"sync step 2 for {doc}", start
        )
        assert isinstance(reply, SyncStep2)
        return reply.update

    async def wait_closed(self) -> str:
        """Wait until the node ends the connection; the websocket close reason."""
        await asyncio.wait_for(self._closed.wait(), CLOSE_WAIT)
        return self.close_reason

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_reason(self) -> str:
        return self.conn.close_reason

    @property
    def byes(self) -> list[str]:
        return [m.reason for m in self.received if isinstance(m, Bye)]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.conn.close(1000, "attacker done")
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


# --- an impostor server -----------------------------------------------------------------------------


@dataclass
class ImpostorServer:
    """Listens like a node with ``identity`` (e.g. another venue's device under a real device id) and
    records what happened to every connection: a refusal, or an accepted websocket."""

    identity: DeviceIdentity
    host: str = "127.0.0.1"
    on_open: Callable[[WsConnection], Awaitable[None]] | None = None  # run on each accepted link
    refused: list[LinkRefused] = field(default_factory=list)
    accepted: list[WsConnection] = field(default_factory=list)
    _server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> ImpostorServer:
        ctx = server_ssl_context(self.identity)

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                conn = await accept(reader, writer, ctx, max_size=MAX_SIZE, timeout=WAIT)
            except LinkRefused as exc:
                self.refused.append(exc)
                writer.close()
                return
            self.accepted.append(conn)
            if self.on_open is not None:
                await self.on_open(conn)

        self._server = await listen(on_client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for conn in self.accepted:
            conn.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
