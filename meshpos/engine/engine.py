"""The durable sync engine: one replica, its synchronizer and its document store, joined by one pump.

docs/architecture.md (Engine). The node and each venue hub at the console run on it; what differs
between them are the services that listen to its events.

* **Commit, then claim.** :meth:`Engine.pump` drains the synchronizer's events and commits every
  change they carry (local writes and received updates alike) to the store, one batch per drain, one
  batch at a time. **Changed** (issue 18): a node (``forward_before_commit``, the default with a
  ``received_commit_interval``) forwards an update a peer sent as soon as it is applied: its author
  committed it before it left, so a crash here loses nothing. While anything is uncommitted, everything
  else a session sends waits until the drain that takes it is committed (``sync._commits.Commits``): a
  local write's update and a stock Yjs client's (this device holds the only durable copy), and whatever
  tells a peer what this device holds (sync step 1s, which become the peers' ``held_by`` and the durability count; heartbeats with
  their pending counts; step 2 replies). The console (no interval) hands out nothing before the last
  commit, with no await between: nothing leaves it that a crash could take back.
* **Writes return once committed, without waiting behind others.** :meth:`Engine.write` runs a change
  and pumps: the pump returns once a drain taken after the change is committed. **Changed** (issue 18):
  while another pump commits (a batch of received updates), the write does not queue for the lock
  behind all its rounds; it waits for the first round that drains its change (the one under way ends,
  the next takes the change), which keeps the store's order (a change never commits before what it
  was built on) and one transaction at a time. A change that raises was taken back by the model (its
  insert and the deletion are committed and sent alike); anything but a MeshposError (a pycrdt panic is
  a BaseException) becomes :class:`~meshpos.errors.WriteFailed`.
* **Received updates are grouped.** With a ``received_commit_interval``, updates a link delivers are
  committed one interval after the first of them arrived (at most one fsync per interval; nothing waits
  on them but what claims they are held; **Changed** (issue 18): not at once when none came in the last
  interval); a pump under way takes them in its next round. Without one (the console), every batch of messages is committed before
  :meth:`link_messages` returns, so a slow database slows the sender down.
* **Typed events.** Services subscribe (:meth:`subscribe`) to the synchronizer's events (before their
  changes are committed), to links opening, closing and refusing, and to :class:`Committed`; services
  add values to commit with the updates through :meth:`add_meta` (the node's receipt counter, its
  deny-list copy). The pages' :class:`~meshpos.engine.changes.ChangeFeed` is published after each pump.
* **Links plug in with a kind** (:class:`~meshpos.net.port.LinkHandler`): ``send`` is kept per key, and
  ``peer.kind`` says what the session is; nothing here reads meaning into a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from meshpos.engine.changes import ChangeFeed, Subscription
from meshpos.engine.closing import ClosingDays, DayClosed, DayOpened
from meshpos.engine.fanout import Fanout
from meshpos.engine.linger import Lingers
from meshpos.engine.links import LinkClosed, LinkOpened, LinkRefused, Links
from meshpos.engine.stores import DayDropping, DocumentStore, known_documents, stored_document
from meshpos.engine.wake import Wake
from meshpos.errors import MeshposError, PeerTimeout, WriteFailed
from meshpos.model import Replica, new_client_id
from meshpos.model.documents import STANDING_DOCUMENTS
from meshpos.net.port import LinkPeer, Send
from meshpos.sync import (
    ClientIdAlarm,
    ClosedDayDeferred,
    DocumentChanged,
    LocalWriteRefused,
    PeerClosed,
    PeerGone,
    PeerJoined,
    PeerLive,
    RelayChanged,
    ReopenWanted,
    SyncConfig,
    SyncEvent,
    Synchronizer,
    UpdateRejected,
)

log = logging.getLogger("meshpos.engine")

T = TypeVar("T")

#: one websocket message; larger step-2 replies are chunked (links allow a little framing on top)
MAX_MESSAGE_SIZE = 4 * 2**20
#: received changes are committed this long after the first of them arrived (``links``). **Changed**
#: (issue 18, cpu): 10 ms made nearly a commit per received receipt at 50-100 receipts/s, ~0.6 ms of
#: a receiver's CPU each; they are forwarded before it, and what waits for it (a page's feed, what
#: this device says it holds) waits up to 40 ms more
RECEIVED_COMMIT_INTERVAL = 0.05
MAX_REJECTIONS = 100  # the latest refused updates kept for the status and the tests


@dataclass(frozen=True, slots=True)
class Rejection:
    """An update a peer sent that the synchronizer refused (``at``: wall-clock seconds)."""

    at: float
    node: str
    doc: str
    reason: str


@dataclass(frozen=True, slots=True)
class Committed:
    """One durable commit: updates per document, whether any was a local write, and the meta."""

    updates: Mapping[str, int]
    local: bool
    meta: Mapping[str, str]


EngineEvent = SyncEvent | LinkOpened | LinkClosed | LinkRefused | Committed | DayClosed | DayOpened
Listener = Callable[[EngineEvent], None]
#: called before each commit with "the batch holds a local write": the meta to commit with it
MetaHook = Callable[[bool], Mapping[str, str]]


class Engine(ClosingDays, Links, Lingers):
    """Documents, their store and their synchronizer; the one commit-then-forward pump (closing and
    opening business days: ``closing``; links and the received updates' commits: ``links``)."""

    def __init__(
        self,
        store: DocumentStore,
        *,
        venue: str,
        node_id: str,
        role: str,
        sync_config: SyncConfig,
        priority: int = 100,
        rng: random.Random | None = None,
        counters: Counter[str] | None = None,
        clock: Callable[[], float] = time.time,
        received_commit_interval: float | None = RECEIVED_COMMIT_INTERVAL,
        forward_before_commit: bool | None = None,
    ) -> None:
        """``forward_before_commit`` (default: with a ``received_commit_interval``): see the module
        docstring."""
        client_id = new_client_id(rng or random.Random())  # fresh at every start, never persisted
        if forward_before_commit is None:
            forward_before_commit = received_commit_interval is not None
        self.store = store
        self.replica = Replica(client_id=client_id, capture=False)
        self.sync = Synchronizer(
            venue=venue,
            node_id=node_id,
            role=role,
            client_id=client_id,
            priority=priority,
            config=sync_config,
            doc_factory=self.replica.doc,
            forward_before_commit=forward_before_commit,
        )
        self._early = forward_before_commit
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.rejections: list[Rejection] = []
        self.closing = False
        self._clock = clock
        self._interval = received_commit_interval
        self._links: dict[str, tuple[LinkPeer, Send]] = {}
        self._fanout: Fanout[EngineEvent] = Fanout()
        self._meta_hooks: list[MetaHook] = []
        self._lock = asyncio.Lock()
        self._uncommitted: list[tuple[str, bytes, bool]] = []
        self._stored: Counter[str] = Counter()  # applied from the shared store: committed already
        self._received_commit: asyncio.TimerHandle | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self._received_due = False  # received changes wait for a pump (``_commit_received``)
        self._received_pump: asyncio.Task[None] | None = None
        self._done = 0  # the last drain whose changes (and all before) are committed
        self._round: list[asyncio.Future[None]] = []  # pumps waiting for a commit round to end
        self._opening: dict[str, asyncio.Future[bool]] = {}  # closed days being loaded
        self._deferred: dict[tuple[str, str], tuple[float, int]] = {}  # (closing: logged once)
        self._ticker: asyncio.Task[None] | None = None
        self._feed = ChangeFeed()
        self._changed_docs: set[str] = set()  # committed by this pump, not yet published
        self._changed_local = False
        self._presence_changed = False
        self._round_flushed = False  # the last ``_commit`` ended with a flush and a publish

    # --- documents --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Register the closed business days (not loaded), load the stored documents, open the ones
        every device holds, and open each new business day from its first change (local or received)."""
        for name, (state_vector, deletions) in known_documents(await self.store.closed()):
            self.sync.mark_closed(name, state_vector, deletions)
            self.replica.close(name)
        if isinstance(self.store, DayDropping):  # a register's: its dropped days never open
            for name, (state_vector, deletions) in known_documents(await self.store.dropped()):
                self.sync.mark_closed(name, state_vector, deletions)
                self.sync.mark_dropped(name)
                self.replica.close(name)
            self.signed_closed.update(await self.store.signed_closed())
        for name, update in known_documents(await self.store.load()):
            with stored_document(name):  # (one stored update is applied as it is: decoded here)
                self.sync.load(name, update)
        for name in STANDING_DOCUMENTS:
            self.sync.open_doc(name)
        self.sync.events_received()  # loading is not a change
        self._done = self.sync.drained
        self.sync.mark_committed(self._done)
        self.replica.on_open = self._observe

    def _observe(self, name: str) -> None:
        self.sync.open_doc(name)

    async def reload(self, names: Iterable[str], reopened: Callable[[], None]) -> None:
        """Forget ``names`` (memory and store) and open them empty, which asks every peer for them;
        ``reopened`` runs before anything else can see them (the model takes the new documents)."""
        names = list(names)
        async with self._exclusive():
            for name in names:
                self.sync.drop_doc(name)
                self.replica.unload(name)
                await self.store.drop(name)
            for name in names:
                self.sync.open_doc(name)
            reopened()
        await self.pump()

    def pending_total(self) -> int:
        """Changes this device holds that the console does not (over every document)."""
        return sum(self.sync.pending(name) for name in self.sync.docs)

    # --- subscribers --------------------------------------------------------------------------------

    def subscribe(self, listener: Listener, *kinds: type[EngineEvent]) -> None:
        """Call ``listener`` with every event of ``kinds`` (none: every event), in order, inside the
        pump (it must not block). **Changed** (issue 18, fanout): an event goes only to the listeners
        of its type (:class:`~meshpos.engine.fanout.Fanout`)."""
        self._fanout.add(listener, kinds)

    def add_meta(self, hook: MetaHook) -> None:
        self._meta_hooks.append(hook)

    def changes(self) -> Subscription:
        """Subscribe to committed changes and presence changes (close the subscription when done)."""
        return self._feed.subscribe()

    def presence_changed(self) -> None:
        """Tell the feed's subscribers the status moved without a document or peer event."""
        self._feed.publish(presence=True)

    def _emit(self, event: EngineEvent) -> None:
        self._fanout.emit(event)

    # --- writes -------------------------------------------------------------------------------------

    async def write(self, change: Callable[[], T], *, wait_ms: float = 0) -> T:
        """Apply one change and return once it is durable (see the module docstring). **Changed**
        (issue 18, coalesce): with ``wait_ms``, its update may be held that long before it is sent,
        to leave merged with the next ones (``sync/_lingering.py``); committed as always."""
        if self.closing:
            raise MeshposError("the node is shutting down: nothing was written")
        try:  # (a new day's document is observed from its first change)
            result = self._change(change, wait_ms)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            await self.pump()
            if isinstance(exc, MeshposError):
                raise
            raise WriteFailed(
                f"the change failed ({type(exc).__name__}); nothing was written"
            ) from exc
        await self.pump()
        return result

    async def apply_stored(self, name: str, updates: Iterable[bytes]) -> None:
        """Apply updates another process already committed to the store this engine shares (the
        console's PostgreSQL): forwarded to the links and reported (:class:`Committed`) like received
        ones, never appended a second time."""
        async with self._exclusive():
            for update in updates:
                self.sync.apply_stored(name, update)
        await self.pump()

    # --- commit, then forward -----------------------------------------------------------------------

    async def pump(self) -> None:
        """Return once a drain taken after the call is committed (and what waited for it is sent
        and published): a pump under way takes what was applied before the call in its next round,
        so the caller waits for that round, not for the lock behind every round (module docstring)."""
        want = self.sync.drained + 1
        while True:
            if not self._lock.locked():
                async with self._exclusive():
                    # forwarding before the commit, one round is what the caller waits for: what
                    # arrives meanwhile is the next interval's (the store stays free for sales)
                    await self._commit(until_empty=not self._early or self.closing)
                    if not self._round_flushed:  # (else the round's own flush was the last step)
                        self._flush()
                        self._publish()
                    self._received_window_done()  # (``links``: nothing left, the window goes)
                return
            if self._early and self._done >= want:
                return
            # a future of its own, not one shared and shielded: the caller runs one loop round
            # sooner once the round ends (a cancelled one is passed over)
            ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._round.append(ended)
            await ended
            if self._early and self._done >= want:
                return

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """The pump lock (one commit at a time); pumps waiting for a round look again once it is let
        go, whoever held it and however it ended."""
        try:
            async with self._lock:
                yield
        finally:
            self._round_ended()

    def _round_ended(self) -> None:
        """Wake the pumps waiting for a round (they look whether theirs is done, or take the lock)."""
        waiting, self._round = self._round, []
        for ended in waiting:
            if not ended.done():
                ended.set_result(None)

    async def _commit(self, *, until_empty: bool = True) -> None:
        """Drain the synchronizer's events and commit what they carry until none are left (the
        lock held); returns with no await after the last drain. Forwarding before the commit, each
        round also hands out what waited for it and wakes the pumps waiting for it, and
        ``until_empty=False`` stops after one round that committed something (``_round_flushed``:
        that round's flush and publish were the last thing it did)."""
        self._round_flushed = False
        while True:
            for event in self.sync.events_received():
                self._on_sync_event(event)
            drain = self.sync.drained
            if self._stored:
                stored, self._stored = dict(self._stored), Counter()
                self._changed_docs.update(stored)
                self._emit(Committed(stored, False, {}))
            local = any(is_local for _, _, is_local in self._uncommitted)
            meta: dict[str, str] = {}
            for hook in self._meta_hooks:
                meta.update(hook(local))
            if not self._uncommitted and not meta:
                self._committed(drain)
                break
            batch = list(self._uncommitted)  # what arrives during the commit waits
            await self._append(batch, meta or None)  # (linger: fsync'd unless all may wait)
            del self._uncommitted[: len(batch)]
            counts = Counter(doc for doc, _, _ in batch)
            self._changed_docs.update(counts)
            self._changed_local |= local
            self.counters["commits"] += 1
            self._emit(Committed(dict(counts), local, meta))
            self._committed(drain)  # (the batch held all that was drained, a failed round's too)
            if self._early:
                self._flush()
                self._publish()
                if not until_empty:
                    self._round_flushed = True
                    return

    def _committed(self, drain: int) -> None:
        """Drain ``drain`` and all before it are committed: what waited for it may leave, and the
        pumps waiting for it return."""
        self._done = max(self._done, drain)
        self.sync.mark_committed(drain, synced=self._synced)  # (received: once fsync'd, linger.py)
        self._round_ended()

    def _flush(self) -> None:
        if self._uncommitted and not self._early:
            return  # forwarded once committed
        for key in self.sync.outgoing():  # (not every session: most have nothing)
            out = self.sync.data_to_send(key)
            link = self._links.get(key)
            if out and link is not None:
                link[1](out)
                self.counters["messages_sent"] += len(out)
        self._sync_if_wanted()  # (what still waits for a received round's fsync: ``linger``)

    def _publish(self) -> None:
        """Tell subscribers what the last commits changed (only ever after they are durable)."""
        docs, self._changed_docs = self._changed_docs, set()
        self._feed.publish(docs, presence=self._presence_changed, local=self._changed_local)
        self._changed_local = self._presence_changed = False

    def _on_sync_event(self, event: SyncEvent) -> None:
        if type(event) is DocumentChanged:  # most events: one test, not the whole chain below
            if event.stored:
                self._stored[event.doc] += 1
            else:
                self._uncommitted.append((event.doc, event.update, event.peer is None))
            self._emit(event)
            return
        if isinstance(event, PeerJoined | PeerLive | PeerClosed | RelayChanged):
            self._presence_changed = True
        if isinstance(event, DocumentChanged) and event.stored:
            self._stored[event.doc] += 1
        elif isinstance(event, DocumentChanged):
            self._uncommitted.append((event.doc, event.update, event.peer is None))
        elif isinstance(event, PeerClosed):
            if isinstance(event.error, PeerTimeout):
                self.counters["link_timeouts"] += 1
                log.info("link with %s closed: %s", event.node or event.peer, event.reason)
            elif event.error is not None:
                self.counters["protocol_errors"] += 1
                log.warning("link with %s closed: %s", event.node or event.peer, event.reason)
        elif isinstance(event, PeerGone):  # (a status counts them: ``sync/_stalls.py``)
            self.counters["peers_gone"] += 1
        elif isinstance(event, UpdateRejected):
            self.counters["rejected_updates"] += 1
            self.rejections.append(Rejection(self._clock(), event.node, event.doc, event.reason))
            del self.rejections[:-MAX_REJECTIONS]
        elif isinstance(event, ClientIdAlarm):
            self.counters["client_id_alarms"] += 1
            log.error("client id alarm from %s: %s (%s)", event.node, event.client_id, event.detail)
        elif isinstance(event, LocalWriteRefused):
            self.counters["local_writes_refused"] += 1
        elif isinstance(event, RelayChanged):
            log.info("relay is now %s", event.relay or "nobody")
        elif isinstance(event, ReopenWanted):
            self._reopen_wanted(event.doc)  # (closing)
        elif isinstance(event, ClosedDayDeferred):
            self._closed_day_deferred(event)  # (closing)
        self._emit(event)

    # --- time and shutdown --------------------------------------------------------------------------

    def start_ticking(
        self,
        period: float,
        *,
        before: Iterable[Callable[[], None]] = (),
        after: Iterable[Callable[[], None]] = (),
    ) -> None:
        """``before`` hooks, the synchronizer's timers, a pump, ``after`` hooks: at most every
        ``period``, and only when something is due. **Changed** (issue 18): it ran every ``period``
        (10 a second), the most of an idle node's CPU; now it sleeps until the synchronizer's next
        deadline or until something moved (``sync/_deadlines.py``), and at least once a heartbeat
        period (the hooks' own timers: a day's recount when quiet, the spreading sale's refresh)."""
        wake = Wake()
        loop = asyncio.get_running_loop()
        self.sync.clock = loop.time
        self.sync.wall_offset = lambda: self._clock() - loop.time()  # (issue 18, idle: the grid)
        self.sync.on_moved = wake.round
        self.sync.on_drained = wake.hooks
        self._ticker = asyncio.create_task(
            self._tick_forever(period, wake, list(before), list(after))
        )

    async def _tick_forever(
        self,
        period: float,
        wake: Wake,
        before: list[Callable[[], None]],
        after: list[Callable[[], None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        longest = self.sync.config.heartbeat_interval
        while True:
            wake.tick = wake.look = False  # what moves from here on is the next round's
            self.counters["ticker_rounds"] += 1
            for hook in before:
                hook()
            self.sync.tick(loop.time())
            if self._pump_wanted():
                await self._pump_logged()
            else:
                self._flush()  # (a beat, a timeout's goodbye: nothing to commit first)
            wake.look = False  # (issue 18, rounds) the hooks look at every drain before them
            for hook in after:
                hook()
            await wake.rest(period, self.sync.next_deadline, longest)

    async def begin_stop(self) -> None:
        """Refuse new writes and say goodbye on every session (the links close once it is out)."""
        self.closing = True
        if self._received_commit is not None:
            self._received_commit.cancel()  # the pumps below commit it all
        self.sync.release_lingering()  # (before the goodbyes)
        for key in list(self.sync.sessions):
            self.sync.close(key, "node shutting down")
        with contextlib.suppress(MeshposError):
            await self.pump()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def stop(self) -> None:
        """Commit what is left once the links are gone (the caller closes the store it opened)."""
        await self.begin_stop()
        with contextlib.suppress(MeshposError):
            await self.pump()
        self._feed.close()
