"""The node's connections to its peers: one mTLS websocket per pair, dialled and redialled with backoff.

Who dials, and when, is ``net.dialling`` (the lower id at once, the higher after ``grace``, with
backoff). When links cross, the one dialled by the lower id wins; a new inbound link from a peer
replaces its old inbound one (the peer restarted, the old socket is stale). Every refusal is counted
by kind and logged with its reason.

Which peers: with ``wants`` (the synchronizer's bounded topology, docs/architecture.md (Links)) a node
dials only the peers it wants: its neighbours in the topology, and every peer whose last link said it is
N−1 (no ``topology1`` feature: full mesh with it, as before). A peer it never linked to and does not want
is not dialled; an N−1 one dials us itself. Discovery's list is handed to ``on_members``. Links that
nobody wants are closed by the synchronizer (a goodbye), and not dialled again while unwanted.

Memory per link is bounded: a peer that stops reading while more than ``max_backlog`` bytes wait for it
is dropped (refusal ``backlog``), so no peer can make this node buffer without end. And a device may open
links to us only at ``accepts`` (a token bucket): each new link costs a TLS handshake, a hello, a step 1 per
document and the replies, so a device that reconnects in a loop is refused (``too_often``, logged once
until it links again) and its dialer's backoff brings it back once the bucket refills.

The sync protocol is not here: each link is a :class:`~meshpos.net.channel.Channel` telling a
:class:`~meshpos.net.port.LinkHandler` (the node) about it as a ``PeerKind.MESH`` peer, which feeds its
synchronizer (docs/architecture.md (Links)).

Who dials whom and when (the dialers, their backoff, the probes of unreachable peers, the wait for a
peer to be wanted) is :class:`~meshpos.net.dialling.Dialling`, a mixin of :class:`Links`: split out
(nineteenth session, robust; behaviour unchanged) so each part reads in one sitting and the module stays
under the size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections import Counter, deque
from dataclasses import replace

from meshpos.net.channel import Channel
from meshpos.net.dialling import Dialling
from meshpos.net.link_settings import LinkSettings, MeshLink
from meshpos.net.port import LinkHandler, LinkPeer
from meshpos.net.wsconn import LinkRefused, WsConnection, accept, listen
from meshpos.net.yjs import YjsServer
from meshpos.sync import TokenBucket

log = logging.getLogger("meshpos.net")

MAX_ACCEPTING = 128  # connections in their TLS or websocket handshake at once (Links._hold)


class Links(Dialling):
    def __init__(self, settings: LinkSettings, handler: LinkHandler, rng: random.Random) -> None:
        self.settings = settings
        self.handler = handler
        self.rng = rng
        self.refusals: Counter[str] = Counter()
        self.recent_refusals: deque[str] = deque(maxlen=50)
        # each linked peer's clock minus ours, read when its link opened (ops/clock.py): the status
        # warns when this device's clock is the odd one out
        self.clock_skews: dict[str, float] = {}
        self.port = settings.port
        self.yjs_port = 0  # the token clients' listener once started; 0: none
        self._server: asyncio.Server | None = None
        self._token_server: asyncio.Server | None = None
        self._links: dict[str, MeshLink] = {}  # by key
        self._by_node: dict[str, MeshLink] = {}
        self._ads: dict[str, tuple[str, int]] = {}
        self._features: dict[str, frozenset[str]] = {}  # by node: what its last link announced
        # advertised but not answering (a crashed node stays listed for minutes): not a member until
        # it links or is advertised anew
        self._unreachable: set[str] = set()
        self._probes: dict[str, tuple[float, float]] = {}  # unreachable: (next dial at, interval)
        self._dialers: dict[str, asyncio.Task[None]] = {}
        # dialers of peers not wanted now, waiting to be (``_until_wanted``), and the one task that looks
        self._waiting: dict[str, asyncio.Event] = {}
        self._rechecker: asyncio.Task[None] | None = None
        # handshakes under way, oldest first: at most MAX_ACCEPTING (a newcomer closes the oldest)
        self._accepting: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        # by device id (certified: one per enrolled device), the links it may still open
        self._accepts: dict[str, TokenBucket] = {}
        # devices whose too_often refusal was logged since they last linked
        self._told: set[str] = set()
        self._seq = 0
        self._stopping = False
        self.stock: YjsServer | None = None
        if settings.yjs is not None:
            self.stock = YjsServer(
                settings.yjs,
                venue_id=settings.venue_id,
                identify=settings.identify,
                is_revoked=settings.is_revoked,
                handler=handler,
                refuse=self._refuse,
            )

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> int:
        s = self.settings
        self._server = await listen(self._on_client, s.host, s.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening for peers on %s:%d", s.host, self.port)
        if self.stock is not None and s.token_context is not None:
            self._token_server = await listen(self._on_token_client, s.host, s.yjs_port)
            self.yjs_port = self._token_server.sockets[0].getsockname()[1]
            log.info("listening for Yjs token clients on %s:%d", s.host, self.yjs_port)
        return self.port

    async def stop(self) -> None:
        """Stop dialling and accepting; the caller has already said goodbye on every link."""
        self._stopping = True
        for task in self._dialers.values():
            task.cancel()
        for server in (self._server, self._token_server):
            if server is not None:
                server.close()
        for link in list(self._links.values()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await link.closed.wait()
            await link.finish("node stopping")
        if self.stock is not None:
            await self.stock.stop()
        tasks = [*self._dialers.values(), *self._accepting]
        if self._rechecker is not None:
            tasks.append(self._rechecker)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in (self._server, self._token_server):
            if server is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await server.wait_closed()

    # --- what the node sees -----------------------------------------------------------------------

    @property
    def connected(self) -> dict[str, str]:
        """node id -> link key of every open link."""
        return {node: link.key for node, link in self._by_node.items()}

    def _overflow(self, link: Channel) -> None:
        """The peer does not read what it is sent: the channel drops it, counted and logged once."""
        self._refuse(
            "backlog",
            link.peer.device_id,
            f"{link.queued:,} bytes wait for it (limit {link.max_backlog:,}): it is not reading",
        )

    def drop(self, device_id: str, reason: str) -> None:
        if self.stock is not None:
            self.stock.drop(device_id, reason)
        link = self._by_node.get(device_id)
        if link is not None:
            log.warning("dropping the link to %s: %s", device_id, reason)
            link.send([b""])

    def peer_found(self, node_id: str, host: str, port: int) -> None:
        """Discovery names a peer (again): remember where it is and make sure someone dials."""
        if node_id == self.settings.node_id or self._stopping:
            return
        known = node_id in self._ads and node_id not in self._unreachable
        self._ads[node_id] = (host, port)
        self._unreachable.discard(node_id)
        self._probes.pop(node_id, None)
        if not known:
            self._tell_members()
        task = self._dialers.get(node_id)
        if task is None or task.done():
            self._dialers[node_id] = asyncio.create_task(self._dialer(node_id))

    def peer_removed(self, node_id: str) -> None:
        """A goodbye on mDNS: stop redialling (an open link stays until the peer closes it)."""
        self._probes.pop(node_id, None)
        if self._ads.pop(node_id, None) is not None:
            self._tell_members()
        task = self._dialers.pop(node_id, None)
        if task is not None:
            task.cancel()

    # --- refusals ---------------------------------------------------------------------------------

    def _refuse(self, kind: str, remote: str, reason: str, *, quiet: bool = False) -> None:
        """Count the refusal; log it unless ``quiet`` (a repeat the log already holds)."""
        self.refusals[kind] += 1
        line = f"refused {remote}: {kind}: {reason}"
        self.recent_refusals.append(line)
        if not quiet:
            log.warning("%s", line)

    def _hold(self, task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
        """A connection that never finished its handshake held a descriptor for handshake_timeout, any
        number of them; past MAX_ACCEPTING the oldest is closed (an honest peer's takes milliseconds)."""
        if len(self._accepting) >= MAX_ACCEPTING:
            # shut down, not closed: a transport closed under start_tls makes it return None
            sock = self._accepting.pop(next(iter(self._accepting))).get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.shutdown(socket.SHUT_RDWR)  # its handshake fails: refused as any lost one
        self._accepting[task] = writer

    def _too_often(self, device_id: str) -> str | None:
        """Why a new link from ``device_id`` is refused now, or None (and the link counts)."""
        bucket = self._accepts.setdefault(device_id, TokenBucket(self.settings.accepts))
        if bucket.take(asyncio.get_running_loop().time()):
            return None
        shape = self.settings.accepts
        return (
            f"device {device_id} opened more than {shape.burst:g} links at once "
            f"and {shape.rate:g} a second"
        )

    def _check_peer(self, conn: WsConnection) -> LinkPeer:
        try:
            peer = self.settings.identify(conn.peer_cert)
        except Exception as exc:
            raise LinkRefused("certificate", str(exc)) from None
        if peer.venue_id != self.settings.venue_id:
            raise LinkRefused("venue", f"device {peer.device_id} belongs to venue {peer.venue_id}")
        if peer.device_id == self.settings.node_id:
            raise LinkRefused("certificate", "the peer presents our own device id")
        if self.settings.is_revoked(peer.device_id):
            raise LinkRefused("revoked", f"device {peer.device_id} is on the venue's deny-list")
        return replace(peer, features=conn.features)

    # --- accepting --------------------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._hold(task, writer)
        remote = _remote(writer)
        s = self.settings
        try:
            conn = await accept(
                reader,
                writer,
                s.server_context,
                max_size=s.max_message_size,
                timeout=s.handshake_timeout,
                client_cert=self.stock is None,  # a stock client may bring a token instead
                also=self.stock.claims if self.stock is not None else None,
            )
            if self.stock is not None and self.stock.claims(conn.path):
                self._accepting.pop(task, None)
                await self.stock.serve(conn)
                return
            try:
                if not conn.peer_cert:
                    raise LinkRefused("tls", "the peer presented no certificate")
                peer = self._check_peer(conn)
            except LinkRefused:
                await conn.close(1008, "refused")
                raise
        except LinkRefused as exc:
            self._refuse(exc.kind, remote, exc.reason)
            writer.close()
            return
        finally:
            self._accepting.pop(task, None)
        too_often = self._too_often(peer.device_id)
        if too_often is not None:
            self._refuse("too_often", remote, too_often, quiet=peer.device_id in self._told)
            self._told.add(peer.device_id)
            await conn.close(1008, "too many links")
            return
        self._told.discard(peer.device_id)
        existing = self._by_node.get(peer.device_id)
        if existing is not None:
            if existing.dialled_by == s.node_id and s.node_id < peer.device_id:
                self._refuse("duplicate", remote, f"already linked to {peer.device_id}")
                await conn.close(1008, "duplicate link")
                return
            await existing.finish("replaced by a newer link from the same peer")
        link = self._open(peer, conn, dialled_by=peer.device_id)
        await link.closed.wait()

    async def _on_token_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A connection to the token clients' listener: TLS without a client certificate, any path
        upgraded so that every refusal is a 44xx close y-websocket understands (net.yjs)."""
        task = asyncio.current_task()
        assert task is not None
        assert self.stock is not None
        self._hold(task, writer)
        remote = _remote(writer)
        s = self.settings
        try:
            conn = await accept(
                reader,
                writer,
                s.token_context,
                max_size=s.max_message_size,
                timeout=s.handshake_timeout,
                client_cert=False,
                also=lambda _path: True,
            )
        except LinkRefused as exc:  # anyone may knock here: logged once per kind and address
            self.stock.refused(exc.kind, remote, exc.reason)
            writer.close()
            return
        finally:
            self._accepting.pop(task, None)
        await self.stock.serve(conn, tokens_only=True)

    # --- one link ---------------------------------------------------------------------------------

    def _open(self, peer: LinkPeer, conn: WsConnection, *, dialled_by: str) -> MeshLink:
        self._seq += 1
        key = f"{peer.device_id}#{self._seq}"
        link = MeshLink(
            key,
            peer,
            conn,
            self.handler,
            max_backlog=self.settings.max_backlog,
            on_overflow=self._overflow,
            on_finish=self._closed,
        )
        link.dialled_by = dialled_by
        self._features[peer.device_id] = peer.features
        self._reachable(peer.device_id, True)
        self._links[key] = link
        self._by_node[peer.device_id] = link
        if conn.clock_skew_s is None:
            self.clock_skews.pop(peer.device_id, None)
        else:
            self.clock_skews[peer.device_id] = conn.clock_skew_s
        log.info("linked with %s (%s) at %s", peer.device_id, peer.role, conn.remote)
        link.start()
        return link

    def _closed(self, link: Channel, reason: str) -> None:
        if link.conn.violation:
            self._refuse("websocket", link.peer.device_id, link.conn.violation)
        self._links.pop(link.key, None)
        if self._by_node.get(link.peer.device_id) is link:
            del self._by_node[link.peer.device_id]
            self.clock_skews.pop(link.peer.device_id, None)
        log.info("link with %s closed: %s", link.peer.device_id, reason)


def _remote(writer: asyncio.StreamWriter) -> str:
    """``host:port`` of an accepted connection, as refusals name it ("?" when the socket is gone)."""
    peername = writer.get_extra_info("peername")
    return f"{peername[0]}:{peername[1]}" if peername else "?"
