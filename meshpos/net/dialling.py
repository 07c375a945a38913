"""Who dials whom, and when: the dialers of a node's mesh links (a mixin of ``net.links.Links``).

docs/architecture.md (Links). The node with the lower id dials as soon as discovery names a peer; the
higher one only if no link exists after ``grace`` seconds (so a one-sided discovery still links up).
A dial that fails backs off (``backoff_min`` doubling to ``backoff_max``, jittered) and a link that
closes at once is redialled after the same backoff, never in a storm. With bounded links (``wants``)
a peer not wanted now is not dialled: its dialer waits (``_until_wanted``: one task looks at every
waiting peer), and an advertised peer no dial reached is no member but is probed on a growing
interval (``LinkSettings.probe``), so a healed partition relinks without waiting for discovery.

Split from ``net.links`` (nineteenth session, robust; behaviour unchanged): the links' accepting, their
table and their refusals stay there, who dials is here, each part read in one sitting. The state
named below is ``Links``'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from meshpos.net.link_settings import LinkSettings, MeshLink
from meshpos.net.port import LinkPeer
from meshpos.net.wsconn import LinkRefused, WsConnection, dial

log = logging.getLogger("meshpos.net")


class Dialling:
    """The dialers, their backoff and the probes (a mixin of ``Links``, which owns the state)."""

    settings: LinkSettings
    rng: random.Random
    _by_node: dict[str, MeshLink]
    _ads: dict[str, tuple[str, int]]
    _features: dict[str, frozenset[str]]
    _unreachable: set[str]
    _probes: dict[str, tuple[float, float]]
    _waiting: dict[str, asyncio.Event]
    _rechecker: asyncio.Task[None] | None
    _stopping: bool

    if TYPE_CHECKING:

        def _check_peer(self, conn: WsConnection) -> LinkPeer: ...

        def _open(self, peer: LinkPeer, conn: WsConnection, *, dialled_by: str) -> MeshLink: ...

        def _refuse(self, kind: str, remote: str, reason: str, *, quiet: bool = False) -> None: ...

    async def _dialer(self, node_id: str) -> None:
        s = self.settings
        backoff = s.backoff_min
        if node_id < s.node_id:
            await asyncio.sleep(s.grace * (1 + self.rng.random() * 0.5))
        while not self._stopping and node_id in self._ads:
            if node_id in self._by_node:
                await self._by_node[node_id].closed.wait()
                backoff = s.backoff_min
                if node_id < s.node_id:
                    await asyncio.sleep(s.grace * (1 + self.rng.random() * 0.5))
                continue
            if not self._wanted(node_id):
                await self._until_wanted(node_id)
                continue
            host, port = self._ads[node_id]
            try:
                conn = await dial(
                    host,
                    port,
                    s.client_context,
                    server_hostname=s.hostname_for(node_id),
                    max_size=s.max_message_size,
                    timeout=s.handshake_timeout,
                    local_addr=(s.host, 0),
                )
                try:
                    peer = self._check_peer(conn)
                except LinkRefused:
                    await conn.close(1008, "refused")
                    raise
            except LinkRefused as exc:
                if exc.kind == "connect":
                    log.debug("cannot reach %s at %s:%d: %s", node_id, host, port, exc.reason)
                    self._reachable(node_id, False)
                else:
                    self._refuse(exc.kind, f"{node_id}@{host}:{port}", exc.reason)
            else:
                if node_id in self._by_node or self._stopping:
                    await conn.close(1000, "already linked")
                    continue
                link = self._open(peer, conn, dialled_by=s.node_id)
                opened = asyncio.get_running_loop().time()
                await link.closed.wait()
                if asyncio.get_running_loop().time() - opened > s.backoff_max:
                    backoff = s.backoff_min  # a link that lasted: redial at once
                    continue
                # the peer closed right away (refused us, or restarting): back off, never storm
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, s.backoff_max)

    def _tell_members(self) -> None:
        if self.settings.on_members is not None:
            self.settings.on_members(frozenset(self._ads) - self._unreachable)

    def _reachable(self, node_id: str, ok: bool) -> None:
        """A dial reached ``node_id`` or found nobody there: the members told change with it, and a
        node found nowhere is probed on a growing interval (``LinkSettings.probe``)."""
        if ok:
            self._probes.pop(node_id, None)
        else:
            s = self.settings
            last = self._probes.get(node_id)
            interval = s.probe if last is None else min(last[1] * 2, s.probe_max)
            due = asyncio.get_running_loop().time() + interval * (0.5 + self.rng.random())
            self._probes[node_id] = (due, interval)
        if ok != (node_id not in self._unreachable):
            (self._unreachable.discard if ok else self._unreachable.add)(node_id)
            self._tell_members()

    async def _until_wanted(self, node_id: str) -> None:
        """Wait until ``node_id`` is wanted, no longer advertised, or we stop. One task looks at every
        waiting peer about every ``recheck`` seconds: each unwanted peer's dialer used to wake on its
        own, a wakeup a second per device of the venue (with bounded links, most of them), which made
        an idle node's CPU grow with the venue."""
        event = self._waiting.get(node_id)
        if event is None:
            event = self._waiting[node_id] = asyncio.Event()
        if self._rechecker is None or self._rechecker.done():
            self._rechecker = asyncio.create_task(self._recheck())
        try:
            await event.wait()
        finally:
            if self._waiting.get(node_id) is event:
                del self._waiting[node_id]

    async def _recheck(self) -> None:
        s = self.settings
        while self._waiting:
            await asyncio.sleep(s.recheck * (0.5 + self.rng.random()))
            for node_id, event in list(self._waiting.items()):
                if self._stopping or node_id not in self._ads or self._wanted(node_id):
                    del self._waiting[node_id]
                    event.set()

    def _wanted(self, node_id: str) -> bool:
        """Dial ``node_id`` now? Everyone, in a full mesh; else whom the topology wants, and an
        advertised node no dial reached when its probe is due: it is no member, so the topology would
        never want it again, and both sides of a healed partition would wait for discovery to
        advertise the other anew (mDNS: up to a minute)."""
        wants = self.settings.wants
        if wants is None:
            return True
        if node_id in self._unreachable:
            probe = self._probes.get(node_id)
            return probe is None or asyncio.get_running_loop().time() >= probe[0]
        return wants(node_id, self._features.get(node_id))
