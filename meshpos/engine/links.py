"""The engine's links: sessions opened, fed and closed for the transport, and received updates committed.

docs/architecture.md (Engine). A link (:class:`~meshpos.net.port.LinkHandler`) plugs in with a kind:
``send`` is kept per key, and ``peer.kind`` says what the session is (a device, or a stock Yjs client
on one document); nothing here reads meaning into a key.

With a ``received_commit_interval``, updates a link delivers are committed one interval after the first
of them arrived (**Changed** (issue 18): was at once when none were in the last interval, so a sale's
steps arriving a few milliseconds apart cost every receiver two or three fsyncs), by one task at a time
however many batches arrive; without one (the console), every batch of messages is committed before
:meth:`Links.link_messages` returns, so a slow database slows the sender down.

**Changed** (nineteenth session, robust): a pump that leaves nothing to commit (a write's, the ticker's,
one that took the window's changes in its round) closes the window; it stayed open, and the next
received update joined it, committed before a whole interval had passed, often alone.

**Changed** (issue 18, notices): a connection that opens while the engine is closing (its goodbyes
sent, the links not yet stopped: the dialer of the lowest id redials at once a link that closed) is
hung up without a session. Its hello and heartbeats told the neighbours that had just signed the
stopping node gone that it was alive: they took their notices back and distrusted their own word
about it for five minutes, so far nodes left a stopped relay only once its record went stale.

Kept apart from ``engine`` (documents, writes, the pump) so each reads in one sitting. A mixin of
:class:`~meshpos.engine.engine.Engine`, which owns the state named below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshpos.errors import MeshposError, StoreError
from meshpos.net.port import LinkPeer, PeerKind, Send
from meshpos.sync import Synchronizer

log = logging.getLogger("meshpos.engine")


@dataclass(frozen=True, slots=True)
class LinkOpened:
    key: str
    peer: LinkPeer


@dataclass(frozen=True, slots=True)
class LinkClosed:
    key: str
    peer: LinkPeer
    reason: str


@dataclass(frozen=True, slots=True)
class LinkRefused:
    """The far end refused us for good (a wrong venue token): the service that dialled reacts."""

    peer: LinkPeer
    reason: str


class Links:
    """The transport's surface and the received updates' commits (a mixin of ``Engine``)."""

    sync: Synchronizer
    closing: bool
    _links: dict[str, tuple[LinkPeer, Send]]
    _interval: float | None
    _early: bool
    _received_commit: asyncio.TimerHandle | None
    _received_due: bool  # received changes wait for a pump (``_commit_received``)
    _received_pump: asyncio.Task[None] | None
    _committers: set[asyncio.Task[None]]
    _uncommitted: list[tuple[str, bytes, bool]]
    _stored: Counter[str]
    _meta_hooks: list[Callable[[bool], Mapping[str, str]]]

    if TYPE_CHECKING:

        async def pump(self) -> None: ...

        def _emit(self, event: LinkOpened | LinkClosed | LinkRefused) -> None: ...

        def _flush(self) -> None: ...

    # --- links (meshpos.net.port.LinkHandler) -------------------------------------------------------

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        if self.closing:  # (its goodbyes are out: a session now would say it is alive)
            send([b""])
            return
        self._links[key] = (peer, send)
        if peer.kind is PeerKind.YJS:  # a stock Yjs client on one document (sync._yjs)
            self.sync.connect_yjs(key, doc=peer.document, name=peer.device_id, role=peer.role)
        else:
            self.sync.connect(
                key,
                expected_role=peer.role,
                expected_node=peer.device_id or None,
                features=peer.features,
            )
        self._emit(LinkOpened(key, peer))
        self._flush()

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        if self._interval is not None:
            self._take_messages(key, messages)
        elif self._received(key, messages):
            await self.pump()

    def messages_at_once(self, key: str) -> Callable[[list[bytes]], None] | None:
        """What takes a link's messages without waiting (a mesh link calls it in its transport's
        read callback, ``net.wsconn``): with a received commit interval, handling them awaits
        nothing; without one (the console) None, every batch is committed before the next."""
        if self._interval is None:
            return None
        return lambda messages: self._take_messages(key, messages)

    def _take_messages(self, key: str, messages: list[bytes]) -> None:
        if self._received(key, messages):
            if self._early:
                self._flush()  # a peer's updates go on now; the rest waits for the commit
            self._commit_received_soon()

    def _received(self, key: str, messages: list[bytes]) -> bool:
        """Hand a link's messages to the synchronizer; True when what they brought waits for a
        commit (False: nothing to commit, and what they asked for went out now)."""
        if key not in self.sync.sessions:
            return False
        for data in messages:  # a session that closes midway ignores the rest
            self.sync.receive_data(key, data)
        if not self._pump_wanted():
            self._flush()  # a heartbeat, a reply: nothing to commit, what they asked for goes now
            return False
        return True

    async def link_closed(self, key: str, reason: str) -> None:
        if key in self.sync.sessions:
            self.sync.receive_eof(key)
            with contextlib.suppress(MeshposError):
                await self.pump()
        link = self._links.pop(key, None)
        if link is not None:
            self._emit(LinkClosed(key, link[0], reason))

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        self._emit(LinkRefused(peer, reason))

    def close_link(self, key: str, reason: str) -> None:
        """Say goodbye on one session (the link closes once its goodbye is out)."""
        if key in self.sync.sessions:
            self.sync.close(key, reason)
            self._flush()
            if self._early and self._interval is not None:
                self._commit_received_soon()  # the goodbye waits behind what waits for a commit

    def hang_up(self, key: str) -> None:
        """Close one connection now, without a goodbye (its peer redials); an empty message is what
        tells a link to close."""
        link = self._links.get(key)
        if link is not None:
            link[1]([b""])

    def _pump_wanted(self) -> bool:
        """Whether a pump has anything to do: events to drain (changes, peers, anything a service
        listens to), changes to commit (or a failed commit to retry), meta a service wants committed,
        or messages that wait for a commit (``sync._commits``). **Changed** (issue 18, pump): every
        batch a link delivered was followed by a pump (a timer, a task, the lock, a drain and a
        flush of every session), a heartbeat's too, which moves nothing a pump acts on: at 6
        devices 4 beats a second came into each, 441 pumps over 90 node-seconds of an idle mesh."""
        sync, commits = self.sync, self.sync.commits
        return (
            sync.has_events
            or bool(self._uncommitted or self._stored)
            or (
                commits is not None
                and (commits.undrained > 0 or commits.holding_drain > commits.committed)
            )
            or any(hook(False) for hook in self._meta_hooks)
        )

    def _commit_received_soon(self) -> None:
        if self._received_commit is not None or self.closing:
            return  # already due
        assert self._interval is not None
        # one commit for whatever arrives within the interval (nothing claims them held meanwhile)
        self._received_commit = asyncio.get_running_loop().call_later(
            self._interval, self._commit_received
        )

    def _received_window_done(self) -> None:
        """A pump committed every received change (it leaves nothing a pump would do): the
        window's timer goes, and the next update that arrives opens a whole interval of its own."""
        if self._received_commit is not None and not self._pump_wanted():
            self._received_commit.cancel()
            self._received_commit = None

    def _commit_received(self) -> None:
        self._received_commit = None
        if not self._pump_wanted():
            return  # a pump meanwhile (the ticker's, a write's) took it all
        self._received_due = True
        if not self.closing and (self._received_pump is None or self._received_pump.done()):
            task = asyncio.create_task(self._pump_received())
            self._received_pump = task
            self._committers.add(task)
            task.add_done_callback(self._committers.discard)

    async def _pump_received(self) -> None:
        """Pump until no received change is due: one task at a time, however many batches arrive."""
        while self._received_due and not self.closing:
            self._received_due = False
            await self._pump_logged()

    async def _pump_logged(self) -> None:
        try:
            await self.pump()
        except StoreError as exc:  # the ticker retries
            log.error("cannot commit received changes (%s); retrying", exc)
