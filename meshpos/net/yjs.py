"""Stock Yjs clients on a node's mesh port: ``/yjs/<document>`` (docs/architecture.md (Links); docs/api.md, Yjs).

A y-websocket provider opens ``wss://<node>:<mesh port>/yjs/<document>`` (a query string allowed: y-websocket
adds its ``params`` there). The mesh's listener (:class:`~meshpos.net.links.Links`) hands such a
connection here once the websocket is up; this decides who it is, then runs it as a
:class:`~meshpos.net.channel.Channel` telling the engine about a ``PeerKind.YJS`` peer on that document
(its session: ``meshpos.sync._yjs``). Who may connect:

* a **device certificate** of the venue (mutual TLS, as a mesh peer): the certificate's role decides what
  it may write. Several connections of one device are several clients (a register's page and its app);
  the node's own certificate serves a client on the same device;
* a **bearer token** from the node's ``yjs_tokens`` (``<name>:<role>:<token>``, config), in an
  ``Authorization: Bearer`` header or the ``token`` query parameter (a browser's WebSocket cannot set
  headers); role ``reader`` may write nothing.

A refusal that reconnecting cannot mend closes the websocket with a 44xx code, after which y-websocket
stops reconnecting (an HTTP refusal would look like a network failure to it, and it would retry for
ever): 4401 no valid certificate or token, 4403 another venue, a revoked device or a token below register opening the catalog, 4404 not a document
of the venue. Too many clients or connections opened too fast close with 1013 (try again later).
Refusals are counted with the mesh's (``refusals``) and logged once per kind and client.

**Changed**: browsers. The mesh port asks every client for a certificate (optional for token clients,
required for devices), and Chromium, holding none, drops such a TLS 1.3 handshake. So a node with
``yjs_tokens`` also listens on ``yjs_port`` with the node's certificate and no certificate request
(``trust.tls.token_ssl_context``): there only tokens are admitted (``serve(tokens_only=True)``; any
other path is upgraded and closed 4404, no token 4401), counted and logged as on the mesh port.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from meshpos.errors import MeshposError
from meshpos.model.documents import CATALOG, MAX_DOC_NAME, valid_document_name
from meshpos.net.channel import MAX_BACKLOG, Channel
from meshpos.net.port import LinkHandler, LinkPeer, PeerKind
from meshpos.net.wsconn import WsConnection
from meshpos.sync import Allowance, TokenBucket, read_close
from meshpos.sync._session import SessionConfig

log = logging.getLogger("meshpos.net")

PREFIX = "/yjs/"
#: how a token's client is named (a certificate's is ``yjs:<device id>``: a device id holds no ':')
TOKEN_NAME = "yjs:token:"
#: one stock client's largest message: as large as a mesh peer's chunked message may be once
#: reassembled (y-websocket does not chunk)
MAX_MESSAGE_SIZE = SessionConfig().max_payload_size
#: stock clients one node serves at once
MAX_CLIENTS = 64
#: connections one device or token may open: y-websocket reconnects with a backoff of up to 2.5 s
ACCEPTS = Allowance(rate=1.0, burst=16)
#: (kind, client) pairs whose refusal was logged; beyond, refusals are only counted
MAX_LOGGED = 1024

UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, TRY_LATER = 4401, 4403, 4404, 1013
#: token roles that may open the catalog: it holds the staff's scrypt PIN hashes, and a 4-digit PIN
#: falls to an offline search in minutes, so a token that could never sell (``reader``, ``kds``: a
#: board, a kitchen screen) must not carry them off the premises; a register app needs the prices
CATALOG_TOKEN_ROLES: tuple[str, ...] = ("register",)


class Refused(MeshposError):
    """Why a stock client is turned away: the close code, the refusal's kind and the reason."""

    code = "yjs_refused"

    def __init__(self, close_code: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.close_code, self.kind, self.reason = close_code, kind, reason


@dataclass(frozen=True, slots=True)
class YjsSettings:
    """``tokens``: the node's ``yjs_tokens`` entries (``<name>:<role>:<token>``, checked by the config)."""

    tokens: tuple[str, ...] = ()
    max_message_size: int = MAX_MESSAGE_SIZE
    max_clients: int = MAX_CLIENTS
    accepts: Allowance = ACCEPTS
    max_backlog: int = MAX_BACKLOG


def document_of(path: str) -> str | None:
    """The document a ``/yjs/...`` path names (percent-decoded, query string dropped); None if not one."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(path).path[len(PREFIX) :])
    return name if len(name) <= MAX_DOC_NAME and valid_document_name(name) else None


def bearer_token(conn: WsConnection) -> str:
    """The token an upgrade request carries (header first, then the ``token`` query parameter)."""
    request = conn.request
    if request is None:
        return ""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
    return (query.get("token") or [""])[0]


class StockChannel(Channel):
    """A channel whose session closes it with a code of its own (``sync._yjs.close_message``)."""

    def send(self, messages: list[bytes]) -> None:
        for i, message in enumerate(messages):
            close = read_close(message)
            if close is not None:
                self.goodbye = close
                super().send([*messages[:i], b""])
                return
        super().send(messages)


class YjsServer:
    """The ``/yjs/`` side of a mesh port. ``refuse(kind, client, reason, quiet)`` counts (and unless
    ``quiet`` logs) a refusal with the mesh's."""

    def __init__(
        self,
        settings: YjsSettings,
        *,
        venue_id: str,
        identify: Callable[[bytes], LinkPeer],
        is_revoked: Callable[[str], bool],
        handler: LinkHandler,
        refuse: Callable[..., None],
    ) -> None:
        self.settings = settings
        self._venue_id = venue_id
        self._identify = identify
        self._is_revoked = is_revoked
        self._handler = handler
        self._refuse = refuse
        self._tokens: list[tuple[bytes, str, str]] = []  # (token, name, role)
        for entry in settings.tokens:
            name, role, token = entry.split(":", 2)
            self._tokens.append((token.encode(), name, role))
        self._channels: dict[str, StockChannel] = {}  # by key
        self._accepts: dict[str, TokenBucket] = {}
        self._logged: set[tuple[str, str]] = set()
        self._seq = 0

    @staticmethod
    def claims(path: str) -> bool:
        return path.startswith(PREFIX)

    @property
    def clients(self) -> int:
        return len(self._channels)

    async def serve(self, conn: WsConnection, *, tokens_only: bool = False) -> None:
        """Run one upgraded ``/yjs/`` connection until it ends (refused ones end here at once);
        ``tokens_only``: the token clients' listener (any path reaches here; no certificate there)."""
        try:
            peer = self._admit(conn, tokens_only)
        except Refused as exc:
            self.refused(f"yjs_{exc.kind}", conn.remote, exc.reason)
            await conn.close(exc.close_code, exc.reason)
            await conn.linger(1.0)
            return
        conn.limit(self.settings.max_message_size)
        self._seq += 1
        key = f"{peer.device_id}#{self._seq}"
        channel = StockChannel(
            key,
            peer,
            conn,
            self._handler,
            max_backlog=self.settings.max_backlog,
            on_finish=self._finished,
        )
        self._channels[key] = channel
        log.info("stock Yjs client %s on %s at %s", peer.device_id, peer.document, conn.remote)
        channel.start()
        await channel.closed.wait()

    def refused(self, kind: str, remote: str, reason: str) -> None:
        """Count a refusal; log it once per kind and address (``remote`` is ``host:port``): whoever
        can reach the port controls how many there are."""
        cause = (kind, remote.rpartition(":")[0])
        quiet = cause in self._logged or len(self._logged) >= MAX_LOGGED
        self._logged.add(cause)
        self._refuse(kind, remote, reason, quiet=quiet)

    def _admit(self, conn: WsConnection, tokens_only: bool) -> LinkPeer:
        name, role = self._who(conn, tokens_only)  # first: who is not known learns nothing
        if not self.claims(conn.path):
            shown = urllib.parse.urlsplit(conn.path).path[: MAX_DOC_NAME + len(PREFIX)]
            raise Refused(NOT_FOUND, "path", f"{shown!r}: this port serves {PREFIX}<document> only")
        doc = document_of(conn.path)
        if doc is None:
            shown = urllib.parse.urlsplit(conn.path).path[len(PREFIX) :][:MAX_DOC_NAME]
            raise Refused(NOT_FOUND, "document", f"{shown!r} is not a document of this venue")
        if doc == CATALOG and name.startswith(TOKEN_NAME) and role not in CATALOG_TOKEN_ROLES:
            raise Refused(
                FORBIDDEN,
                "catalog",
                f"a {role} token may not open the catalog (it holds the staff's PIN hashes)",
            )
        bucket = self._accepts.setdefault(name, TokenBucket(self.settings.accepts))
        if not bucket.take(asyncio.get_running_loop().time()):
            raise Refused(TRY_LATER, "too_often", f"{name} opens connections too fast")
        if len(self._channels) >= self.settings.max_clients:
            raise Refused(
                TRY_LATER,
                "busy",
                f"this node serves {self.settings.max_clients} Yjs clients already",
            )
        return LinkPeer(name, role, self._venue_id, PeerKind.YJS, document=doc)

    def _who(self, conn: WsConnection, tokens_only: bool) -> tuple[str, str]:
        """(the client's name in logs and refusals, its role), from its certificate or token."""
        if conn.peer_cert and not tokens_only:
            try:
                peer = self._identify(conn.peer_cert)
            except Exception as exc:
                raise Refused(UNAUTHENTICATED, "certificate", str(exc)) from None
            if peer.venue_id != self._venue_id:
                raise Refused(
                    FORBIDDEN, "venue", f"device {peer.device_id} belongs to venue {peer.venue_id}"
                )
            if self._is_revoked(peer.device_id):
                raise Refused(
                    FORBIDDEN, "revoked", f"device {peer.device_id} is on the venue's deny-list"
                )
            return f"yjs:{peer.device_id}", peer.role
        token = bearer_token(conn).encode()
        if not token:
            what = (
                "no token (devices connect on the mesh port)"
                if tokens_only
                else "no device certificate or token"
            )
            raise Refused(UNAUTHENTICATED, "unauthenticated", what)
        found = [(n, r) for t, n, r in self._tokens if hmac.compare_digest(t, token)]
        if not found:
            raise Refused(UNAUTHENTICATED, "token", "the token is not one of this node's")
        name, role = found[0]
        return f"{TOKEN_NAME}{name}", role

    def drop(self, device_id: str, reason: str) -> None:
        """Close every client of ``device_id`` (revoked): for good (4403)."""
        for channel in list(self._channels.values()):
            if channel.peer.device_id == f"yjs:{device_id}":
                channel.goodbye = (FORBIDDEN, reason[:120])
                channel.send([b""])

    async def stop(self) -> None:
        for channel in list(self._channels.values()):
            await channel.finish("node stopping")

    def _finished(self, channel: Channel, reason: str) -> None:
        self._channels.pop(channel.key, None)
        if channel.conn.violation:
            self._refuse("yjs_websocket", channel.peer.device_id, channel.conn.violation)
        log.info("stock Yjs client %s closed: %s", channel.peer.device_id, reason)
