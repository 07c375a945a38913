"""One venue at the console: a sync engine in the ``console`` role, its relays' sessions, and its reports
(materialised by ``hub_reports``, past days closed by ``hub_days``: mixins, so each reads in one sitting).

The console is "one more peer" of the venue (docs/architecture.md (Relay and console)), on the same
:class:`~meshpos.engine.Engine` as a node, over the console database. A relay's updates are
committed to the console database before anything is forwarded or acknowledged, then the ledger days they
touched are materialised into the relational tables: at most ``materialise_delay`` after the first change of
a burst (the time the commit took counts), once per burst, and only the records that changed since the
day's last materialisation (the first one after start reads the whole day). The console's heartbeats carry
its own state vector per document, which the relay passes on in presence so every register can tell what is
at the console.

A day the console cannot materialise (a corrupt record, a database error) is not in its reports, although
its state vector says it holds it: the hub counts those records per day, with the reason, shows them in
its status and tells the relay in its heartbeats (``unreported``), so no register says "All data is
synced" while the reports lack something.

Console-side edits (catalog, stop list) go through the same model rules as on a register: :meth:`edit`
runs a change on a draft of the venue's documents, commits what it wrote, then applies it to the live
documents; the synchronizer sends it to the relays.

Several console processes may share one PostgreSQL: what another one commits is applied here as it is
heard (:meth:`apply_stored`), and every document's version (one per append) is known, so rows are
materialised from a document only while no later version of it is stored: a process that has not yet
heard another's commit is refused (StaleWrite) and materialises again once it has, never rolling a
row back.

**Changed** (the twenty-third session, epoch): at each load the hub signs which database it runs on
(``ConsoleDB.venue_epoch``, ``sync/_epoch.py``), so a register that keeps running sees a console on a
new database and judges again what it holds. **Changed** (the twenty-fourth session, operator): a new
epoch also when the database went backwards (a restored backup: ``console/epoch_marks.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from meshpos.console.db import ConsoleDB
from meshpos.console.drafts import Drafts
from meshpos.console.hub_days import DayClosing
from meshpos.console.hub_reports import Materialising
from meshpos.console.materialise import LedgerFeed
from meshpos.console.records import AuditEntry
from meshpos.console.venue_docs import (
    CONSOLE_NODE,
    VenueDocuments,
    unreported_summary,
)
from meshpos.engine import Committed, DayClosed, Engine, EngineEvent, LinkClosed
from meshpos.errors import MeshposError, PeerTimeout
from meshpos.model import Replica, Venue
from meshpos.model.documents import is_ledger
from meshpos.model.tally import LedgerTally
from meshpos.net.port import LinkPeer, Send
from meshpos.sync import (
    ClientIdAlarm,
    DocumentChanged,
    PeerClosed,
    PeerJoined,
    SyncConfig,
    Synchronizer,
    UpdateRejected,
)
from meshpos.trust.console_key import ConsoleSigning

log = logging.getLogger("meshpos.console")

T = TypeVar("T")


class Unsettled(MeshposError):
    """A hub's pending work outlasted the bound its caller gave :meth:`VenueHub.settle`."""

    code = "hub_unsettled"


class VenueHub(DayClosing, Materialising):
    """One venue on the sync engine (the console's side of its relays), plus its reports."""

    def __init__(
        self,
        venue_id: str,
        db: ConsoleDB,
        *,
        max_message_size: int,
        heartbeat_interval: float = 1.0,
        materialise_delay: float = 0.2,
        counters: Counter[str] | None = None,
        console_signer: ConsoleSigning | None = None,
    ) -> None:
        self.venue_id = venue_id
        self.db = db
        self.console_signer = console_signer
        self.materialise_delay = materialise_delay
        # this process's counts for the venue: the server keeps them across loads of the hub
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.used_at = time.monotonic()  # the last relay message, edit or load (idle unloading)
        self.loaded_at = self.used_at
        self.busy = 0  # edits and reads holding the hub: it is not unloaded under them
        self.closed = False
        self.rejections: list[str] = []
        self.documents = VenueDocuments(db, venue_id)  # (a relay's batch committed before the next)
        self.engine = Engine(
            self.documents,
            venue=venue_id,
            node_id=CONSOLE_NODE,
            role="console",
            sync_config=replace(
                SyncConfig.paced(heartbeat_interval, max_message_size),
                console_signer=console_signer,  # (Security; issue 18, tick: a tick at rest)
                console_tick_signer=None if console_signer is None else console_signer.tick,
            ),
            received_commit_interval=None,
        )
        self.venue = Venue(self.replica, device=CONSOLE_NODE, role="console")
        self.relays: dict[str, str] = {}  # session key -> relay node id
        self.last_seen: dict[str, float] = {}  # relay node id -> wall time of its last message
        self._dirty: set[str] = set()
        self._dirty_since = 0.0  # monotonic time the first change of the pending burst arrived
        self._arriving = False  # a ledger change of this burst is on its way to the database
        self._feeds: dict[str, LedgerFeed] = {}
        self._tallies: dict[str, LedgerTally] = {}
        self._changed_at: dict[str, float] = {}  # ledger day -> monotonic time of its last change
        self._materialised_at: dict[
            str, float
        ] = {}  # ledger day -> its last materialisation's start
        self._recounted: dict[str, float] = {}  # ledger day -> the change it was recounted after
        self._materialiser: asyncio.Task[None] | None = None
        self._stale: set[str] = set()  # days refused as stale: materialised again once heard
        self.unreported: dict[str, tuple[int, str]] = {}  # day -> records not in the reports, why
        self._writing: set[asyncio.Task[None]] = set()  # unreported counts on their way to the db
        # links whose batch is in commit (their reader waits for it)
        self._reading: Counter[str] = Counter()
        self._pumping: asyncio.Task[None] | None = None  # the ticker's pump (pump_soon)
        self._drafts = Drafts(self.engine, self.documents, self.catch_up)
        self.engine.subscribe(
            self._on_event,
            DocumentChanged,
            Committed,
            DayClosed,
            PeerJoined,
            LinkClosed,
            PeerClosed,
            UpdateRejected,
            ClientIdAlarm,
        )
        self.documents.reports = self.sync.console_reports

    @property
    def replica(self) -> Replica:
        return self.engine.replica

    @property
    def sync(self) -> Synchronizer:
        return self.engine.sync

    async def load(self) -> None:
        await self.engine.open()
        # which database this is, signed once a start (the twenty-third session, epoch: a register
        # that sees it change forgets what the console on the old one told it; sync/_epoch.py)
        epoch = await self.db.start_epoch(self.venue_id)  # (a new one: went backwards)
        if self.console_signer is not None and epoch is not None:
            self.sync.epochs.own = self.console_signer.epoch(epoch)
        for name, reports in (await self.db.closed_reports(self.venue_id)).items():
            self.sync.set_console_reports(name, reports)  # told to a register still holding it
        # what an earlier load (or another process) found it could not materialise: told at once
        self.unreported = await self.db.unreported(self.venue_id)
        self._tell_unreported()
        # what the reports hold is told to the relays after each materialisation: materialise the
        # latest days once at start (a crash may have come between a commit and its materialisation)
        self.loaded_at = time.monotonic()
        # every open day: each is then known to be in the reports, and a past one can close
        days = sorted(filter(is_ledger, self.sync.docs))
        if days:
            self._dirty.update(days)
            self._materialiser = asyncio.create_task(self._materialise_soon())

    # --- relays (meshpos.net.port.LinkHandler) ----------------------------------------------------

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        self.engine.link_opened(key, peer, send)

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        self._reading[key] += 1  # its batch is in commit: the relay's next ones wait unread
        try:
            await self.engine.link_messages(key, messages)
        except MeshposError as exc:  # the database: drop the link, the relay redials
            log.error("venue %s: %s", self.venue_id, exc)
            self.engine.hang_up(key)
        finally:
            self._reading[key] -= 1
            if not self._reading[key]:
                del self._reading[key]
        self._seen()
        self.used_at = time.monotonic()

    async def link_closed(self, key: str, reason: str) -> None:
        await self.engine.link_closed(key, reason)

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        self.engine.link_refused(peer, reason)

    def _seen(self) -> None:
        now = time.time()
        for node in self.relays.values():
            self.last_seen[node] = now

    def tick(self, now: float) -> None:
        """Advance the venue's timers and build its heartbeats (sent by the next pump). Never waits:
        the server ticks every hub each round, whatever is being committed (**Changed**, relaydrop).
        A relay whose batch this hub is still committing is not silent: the console has not read
        what it sent since, so its idle timeout waits until the commit is done."""
        if self._reading:
            sessions = self.sync.sessions
            for key in self._reading:
                session = sessions.get(key)
                if session is not None:
                    session.still_reading()
        self.sync.tick(now)
        self._recount_quiet_days()

    # --- console-side edits -----------------------------------------------------------------------

    async def edit(
        self, change: Callable[[Venue], T], audit: Callable[[T], AuditEntry] | None = None
    ) -> T:
        """Run a console edit (catalog, stop list) under the model's rules; returns once committed
        with ``audit``'s entry in the same transaction. **Changed** (issue 18 session): it reaches the
        live documents, relays and pages only once the database holds it (meshpos.console.drafts). It
        first catches up with what other console processes committed (and with a commit of its own
        that failed only on the way back): an edit writes what it changes whole, never old values."""
        if self.engine.closing or self.closed:
            raise MeshposError(f"venue {self.venue_id} is being unloaded: nothing was written")
        return await self._drafts.edit(change, audit)

    async def catch_up(self, name: str) -> None:
        """Apply ``name`` as the database holds it if it holds a later version than this process."""
        version = await self.db.document_version(self.venue_id, name)
        if version > self.documents.versions.get(name, 0):
            update = await self.db.load_document(self.venue_id, name)
            if update is not None:
                self.counters["caught_up"] += 1
                await self.apply_stored(name, [update], version)

    # --- what other console processes commit (a shared PostgreSQL) -------------------------------

    async def apply_stored(self, name: str, updates: Sequence[bytes], version: int) -> None:
        """Apply updates another console process committed for this venue (``version``: the
        document's after them): sent on to this hub's relays and materialised like received ones,
        not stored again (Engine.apply_stored)."""
        if self.closed:  # unloaded meanwhile: its next load reads the database
            return
        if await self.engine.open_day(name):  # closed here: reopened with what the db holds
            self.counters["days_reopened"] += 1
        await self.db.mark_heard(self.venue_id)  # before this process states it (epoch_marks)
        await self.engine.apply_stored(name, updates)
        # after applying: rows exported before it carry the older version (refused, never newer
        # rows claimed as older); a day refused meanwhile is materialised again now
        self.documents.held(name, version)
        if name in self._stale:
            self._stale.discard(name)
            self._dirty.add(name)
            if self._materialiser is None or self._materialiser.done():
                self._materialiser = asyncio.create_task(self._materialise_soon())

    async def reread(self) -> None:
        """Apply every document as the database holds it (after the other processes' commits may
        have gone unheard); what this hub holds already changes nothing."""
        for name in await self.db.documents(self.venue_id, open_only=True):
            version = await self.db.document_version(self.venue_id, name)
            update = await self.db.load_document(self.venue_id, name)
            if update is not None:
                await self.apply_stored(name, [update], version)

    # --- commit, materialise, forward -------------------------------------------------------------

    async def pump(self) -> None:
        await self.engine.pump()
        self._seen()

    def pump_soon(self) -> None:
        """Commit and send what is due in a task of the hub's own (at most one at a time), so the
        server's ticker never waits for this hub's commit, which waits for the database's one write
        connection behind every other venue's (**Changed**, relaydrop: awaited in turn, one round
        of the ticker over 60 uploading venues took 11.5 s and the relays late in it went 5 s
        without a heartbeat). Heartbeats leave with the pump, after the commit: nothing claims
        what is not committed."""
        if self._pumping is None or self._pumping.done():
            self._pumping = asyncio.create_task(self._pump_logged())

    async def _pump_logged(self) -> None:
        try:
            await self.pump()
        except MeshposError as exc:  # the database: the next tick pumps again
            log.error("venue %s: %s", self.venue_id, exc)

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, DocumentChanged):
            if is_ledger(event.doc) and not self._dirty and not self._arriving:
                self._dirty_since = time.monotonic()
                self._arriving = True
        elif isinstance(event, Committed):
            for doc, updates in event.updates.items():
                self.counters["updates"] += updates
                if is_ledger(doc):
                    self._dirty.add(doc)
                    self._stale.discard(doc)
                    self._changed_at[doc] = time.monotonic()
            self._arriving = False
            if self._dirty and (self._materialiser is None or self._materialiser.done()):
                self._materialiser = asyncio.create_task(self._materialise_soon())
        elif isinstance(event, DayClosed):  # drop what reads it: its memory goes back
            feed = self._feeds.pop(event.doc, None)
            if feed is not None:
                feed.close()
            tally = self._tallies.pop(event.doc, None)
            if tally is not None:
                tally.close()
        elif isinstance(event, PeerJoined):
            self.relays[event.peer] = event.node
            log.info("venue %s: relay %s connected", self.venue_id, event.node)
        elif isinstance(event, LinkClosed):
            self.relays.pop(event.key, None)
        elif isinstance(event, PeerClosed):
            if isinstance(event.error, PeerTimeout):
                self.counters["timeouts"] += 1  # the relay's internet went: not bad input
                log.info("venue %s: %s went silent", self.venue_id, event.node)
            elif event.error is not None:
                self._reject(f"{event.node or event.peer}: {event.reason}")
        elif isinstance(event, UpdateRejected):
            self._reject(f"update for {event.doc} from {event.node}: {event.reason}")
        elif isinstance(event, ClientIdAlarm):
            self._reject(f"client id alarm from {event.node}: {event.detail}")

    def _reject(self, line: str) -> None:
        self.counters["rejected"] += 1
        self.rejections.append(line)
        del self.rejections[:-100]
        log.warning("venue %s: refused %s", self.venue_id, line)

    async def settle(self, within: float | None = None) -> None:
        """Wait until pending materialisation is done (tests, reports, shutdown); with ``within``, at
        most that many seconds, then :class:`Unsettled` naming what still runs (a stop or a test's
        teardown that waited on a stuck write hung until the test's bound, saying nothing).

        The work is shielded: the bound, or a waiter cancelled (a report request, a stop), ends the
        wait only. **Changed** (issue 18, notices): the tasks were awaited directly, and asyncio
        cancels an awaited task with its cancelled waiter: the materialiser went down with it and the
        burst's days stayed unmaterialised until the next change."""
        timer = asyncio.timeout(within)
        try:
            async with timer:
                await self._settle()
        except TimeoutError:
            if not timer.expired():
                raise
            raise Unsettled(
                f"venue {self.venue_id}: the console's hub did not settle within {within:g} s: "
                f"{self._unsettled()} still running"
            ) from None

    async def _settle(self) -> None:
        if self._pumping is not None and not self._pumping.done():
            await asyncio.shield(self._pumping)  # (it logs its own errors)
        while (self._materialiser is not None and not self._materialiser.done()) or self._writing:
            if self._materialiser is not None and not self._materialiser.done():
                await asyncio.shield(self._materialiser)
            if self._writing:
                await asyncio.shield(asyncio.gather(*self._writing, return_exceptions=True))

    def _unsettled(self) -> str:
        """What :meth:`settle` still waits for, in words."""
        parts = []
        if self._pumping is not None and not self._pumping.done():
            parts.append("the pump of received changes")
        if self._materialiser is not None and not self._materialiser.done():
            days = ", ".join(sorted(self._dirty)) or "days already taken"
            parts.append(f"materialising ({days})")
        if self._writing:
            parts.append(f"{len(self._writing)} write(s) of unreported counts")
        return "; ".join(parts) or "nothing (it settled as the bound ran out)"

    @property
    def idle(self) -> bool:
        """Nothing holds the hub: no relay session, no edit or read, nothing to materialise or
        commit (what it holds is all in the database)."""
        return (
            not self.sync.sessions
            and not self.busy
            and not self._dirty
            and not self._writing
            and (self._materialiser is None or self._materialiser.done())
        )

    async def close(self) -> None:
        """Unload: everything is in the database once materialising settles; the documents, feeds and
        tallies go (the caller releases the memory)."""
        self.closed = True
        await self.settle()
        await self.engine.stop()
        for feed in self._feeds.values():
            feed.close()
        for tally in self._tallies.values():
            tally.close()
        self._feeds.clear()
        self._tallies.clear()
        for name in list(self.sync.docs):
            self.sync.drop_doc(name)
            self.replica.unload(name)

    def summary(self) -> dict[str, Any]:
        return {
            "venue": self.venue_id,
            "relays": sorted(set(self.relays.values())),
            "last_seen": dict(self.last_seen),
            "documents": sorted(self.sync.docs),
            "counters": dict(self.counters),
            "rejections": list(self.rejections[-20:]),
            "not_materialised": unreported_summary(self.unreported),
        }
