"""What the node's indicator says: its peers, what the console lacks per device, how far the latest sale
has spread, and clearing the console-authored cache once everything is at the console.

docs/architecture.md (Status). The counts come from a :class:`~meshpos.model.tally.LedgerTally` per open
business day, compared with what the console says its reports hold; a day that took changes out of their
authors' order (``Synchronizer.reordered``: a catch-up of several authors not held whole once applied,
another process's commits) is counted afresh once it has been quiet for ``RECOUNT_WHEN_QUIET`` seconds
and what they waited for has arrived: pycrdt misses some nested changes after such a delivery (the
console does the same, ``console/hub.py``). Changes in their authors' order (this node's own writes, a
peer's forwarded sales) are always reported, so they never cost a recount (a full read of the day, ~0.3 s
on the event loop for 5,000 receipts: the sale after a pause waited for it, and a busy venue's registers
read their whole day after every lull; docs/benchmarks.md, history).

**Changed** (outside round six, longshift; the twentieth session): a register's shift left open past its
business day is said (``shift``: "shift open since <date>: close it", ``register/status_problems.py``):
it keeps every day since in memory on every device, and the status stayed green. (shiftsum: those days
now close with their parts kept, ``model/kept_parts.py``; its own day stays, and the status says it.
ownday, the twenty-first session: its own day closes too, and the status says it from the kept record,
``model/kept_shifts.py``.)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from meshpos.config import Config
from meshpos.engine import DayClosed, DayOpened, Engine, EngineEvent, LinkClosed
from meshpos.errors import ClearCacheRefused, MeshposError, UnknownRecord
from meshpos.model import Catalog, PaymentResult, Venue
from meshpos.model.documents import (
    CATALOG,
    CONSOLE_DOCUMENTS,
    STOPLIST,
    is_kitchen,
    is_ledger,
    kitchen_name,
    ledger_name,
)
from meshpos.model.tally import RECOUNT_WHEN_QUIET, LedgerTally, Tally, covers
from meshpos.node_status import Durability, NodeStatus, OwedView, compute_status, indicator
from meshpos.ops.clock import certificate_ending
from meshpos.register.held_count import HeldCount
from meshpos.register.owed_counts import OwedCounts
from meshpos.register.status_problems import StatusProblems
from meshpos.relay.service import RelayService
from meshpos.sync import DocumentChanged, Heartbeat, PeerClosed, PeerJoined, PeerLive
from meshpos.sync._updates import held_clocks

log = logging.getLogger("meshpos.node")


class StatusService:
    """The node's status (``GET /status``, ``meshpos status``) and the durability of its receipts."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        relay: RelayService,
        config: Config,
        counters: Counter[str],
        refusals: Callable[[], dict[str, int]],
        peer_clocks: Callable[[], dict[str, float]] = dict,
        certified: tuple[float, float] | None = None,
    ) -> None:
        """``refusals``: the links refused so far, by kind (the mesh's counts); ``peer_clocks``:
        each linked peer's clock minus ours (the mesh's readings); ``certified``: when this
        device's certificate and its venue CA are both valid (epoch seconds, from and until)."""
        self._engine = engine
        self._venue = venue
        self._relay = relay
        self._node_id = config.node_id
        self._role = config.role
        self._counters = counters
        self._refusals = refusals
        self._peer_clocks = peer_clocks
        self._certified = certified
        self._started_at = time.monotonic()
        self._peers: dict[str, str] = {}  # link key -> node id, past the hello
        self._live: set[str] = set()  # link keys whose initial sync is done
        self._tallies: dict[str, LedgerTally] = {}  # ledger document -> its records per register
        self._changed_at: dict[str, float] = {}  # document -> monotonic time of its last change
        # documents that took a change from elsewhere since their tally was last counted whole
        self._unsure: set[str] = set()
        # this register's latest receipt: (id, number, document, the exact state that wrote it)
        self._latest_sale: tuple[str, str, str, dict[int, int]] | None = None
        self._held = HeldCount()  # the latest sale's devices (``_durability``)
        self._owed_view = OwedView()  # what a status shows of the owed counts (``compute_status``)
        self._shown: dict[str, Any] | None = None  # the status indicator last published
        # what the owed counts and the indicator were last computed from (``_inputs``), and when: an
        # idle node computes neither again on every tick (docs/architecture.md (Status))
        self._generation = 0  # moves with every engine event a status is computed from
        self._owed_for: tuple[object, ...] | None = None
        self._owed: dict[str, dict[str, int]] = {}
        self._owed_told_for: tuple[object, ...] | None = None
        self._shown_for: tuple[object, ...] | None = None
        self._shown_at = float("-inf")
        self._spreading = False  # the latest sale is not yet known on every device (``_refresh_s``)
        self._refresh_s = config.heartbeat_interval
        # (issue 18, rounds) each document's changes reported so far, and its pending count as
        # last read, with what it was read at (``_pending_by_document``)
        self._doc_changes: Counter[str] = Counter()
        self._pending: dict[str, tuple[tuple[object, ...], int]] = {}
        # (issue 18, rounds2) the presence view while a publish_indicator runs (``_presence``:
        # built once, not once per reader); (status) per open ledger day, what the console lacks
        # per register, and per device the owed counts, each kept on what it is computed from
        self._view: dict[str, Heartbeat] | None = None
        self._counts = OwedCounts()
        self._in_round = False
        self._problems = StatusProblems(venue, relay, config.role, peer_clocks, certified)
        # (issue 18, receiver) moves with every engine event but a change of the days' documents or
        # the stop list (its days ended early are watched): ``StatusProblems.shift``
        self._calendar = 0
        engine.subscribe(
            self._on_event,
            DocumentChanged,
            DayClosed,
            DayOpened,
            PeerJoined,
            PeerLive,
            PeerClosed,
            LinkClosed,
        )

    def _on_event(self, event: EngineEvent) -> None:
        if type(event) is DocumentChanged:  # nearly every event: one test (issue 18, cpu)
            self._on_document(event)
            return
        if isinstance(event, DayClosed | PeerJoined | PeerLive | PeerClosed | LinkClosed):
            self._generation += 1
        self._calendar += 1
        if isinstance(event, DayClosed):
            self.forget(event.doc)
        elif isinstance(event, DayOpened):
            self._pending.clear()  # (loaded without a change reported: read again)
        elif isinstance(event, PeerJoined):
            if event.role != "console":
                self._peers[event.peer] = event.node
        elif isinstance(event, PeerLive):
            if event.peer in self._peers:
                self._live.add(event.peer)
                log.info("in sync with %s", event.node)
        elif isinstance(event, PeerClosed | LinkClosed):
            key = event.peer if isinstance(event, PeerClosed) else event.key
            self._peers.pop(key, None)
            self._live.discard(key)

    def _on_document(self, event: DocumentChanged) -> None:
        self._generation += 1
        doc = event.doc
        if not (doc == STOPLIST or is_ledger(doc) or is_kitchen(doc)):
            self._calendar += 1
        self._doc_changes[doc] += 1
        self._changed_at[doc] = time.monotonic()
        if event.peer is not None or event.stored or self._engine.sync.reordered(doc) is not None:
            self._unsure.add(doc)  # (or a write into what came past: ``Exchange.reordered``)

    def publish_indicator(self) -> None:
        """The indicator also moves without a document or peer event (a heartbeat timeout turns it
        gray, the relay gives up, the console acknowledges): publish it as a presence change.

        Computed again only when something it is computed from moved (``_inputs``), and, while the
        latest sale is not yet on every device, every heartbeat period (what no version covers: the
        sync steps peers answer with, which say what they hold): an idle node computed it on every
        tick, the most of its idle CPU, growing with the venue.

        **Changed** (issue 18, rounds): the owed counts are told first (:meth:`publish_owed`, also
        a hook before the tick): the pump between the two hooks moved them, and they were told only
        in the next round, which the pump's own drain asked for (``engine/wake.py``) and which
        computed the status again for the version telling them moved."""
        self._in_round = True  # (nothing here awaits: the presence view cannot move meanwhile)
        try:
            self._publish_indicator()
        finally:
            self._in_round, self._view = False, None

    def _publish_indicator(self) -> None:
        self.publish_owed()
        now = time.monotonic()
        generation, version, _, due = self._inputs()
        said = (  # (computed once a round: the status below shows them as they are here)
            self._problems.clock(),
            self._problems.shift(self._generation, self._calendar),
            certificate_ending(time.time(), self._certified),
        )
        inputs = (
            # (issue 18, rounds) a peer's owed counts by what they make the owed counts, not by
            # ``owed_version``: this node most often counts that sale from its own tally already
            (generation, version, due, self._owed_now()),
            self._relay.uplink,
            tuple(self._relay.upload_progress().items()),
            self._venue.numbering.known,
            self._venue.corrupt_count(),
            said,
        )
        if inputs == self._shown_for:
            if not self._spreading or now - self._shown_at < self._refresh_s:
                return
            self._shown_at = now
            if self._latest_spread() == (self._shown or {}).get("latest_sale"):
                return  # the sale has spread no further: nothing else can have moved
        self._shown_for, self._shown_at = inputs, now
        try:
            status = self._status(shown_only=True, said=said)
            shown = indicator(status)
        except MeshposError as exc:  # the ticker must go on; the status API shows the same error
            if self._shown != {}:
                log.error("cannot compute the status: %s", exc)  # once, until it works again
            self._shown = {}
            self._shown_for = None  # tried again on the next tick, as before: it may be passing
            return
        sale = status.latest_sale
        self._spreading = sale is not None and sale.devices < sale.of
        if shown != self._shown:
            self._shown = shown
            self._engine.presence_changed()

    def _latest_spread(self) -> Durability | None:
        latest = self._latest_sale
        try:
            return self.durability(latest[0]) if latest is not None else None
        except MeshposError:
            return None

    def publish_owed(self) -> None:
        """Tell every peer (in the heartbeats) what of this node's records the console lacks (when
        that may have changed: ``_inputs``)."""
        inputs = self._inputs()
        if inputs == self._owed_told_for:
            return
        # (issue 18, rounds2: telling them moves nothing the counts or the status are keyed on)
        self._engine.sync.set_owed(self._owed_now().get(self._node_id, {}))
        self._owed_told_for = inputs

    def _inputs(self) -> tuple[object, ...]:
        """What the owed counts are computed from, as versions: the engine's events (documents
        changed, days closed, peers came and went), the synchronizer's ``status_version`` (what
        peers and the console say) and ``owed_version`` (peers' owed counts), and whether a day is
        due for its recount (``_tally``)."""
        now, sync, due = time.monotonic(), self._engine.sync, False
        for name in [
            n for n in self._unsure if now - self._changed_at.get(n, 0.0) >= RECOUNT_WHEN_QUIET
        ]:
            reordered = sync.reordered(name)
            if reordered is None:  # every change came in its authors' order: nothing to recount,
                self._unsure.discard(name)  # so nothing moves (it moved the inputs twice a lull)
            due = due or reordered is False
        return (self._generation, sync.status_version, sync.owed_version, due)

    def sold(self, result: PaymentResult) -> None:
        if result.receipt is None:
            return
        receipt = result.receipt
        ledger = next(day for day in self._venue.ledgers() if day.has_receipt(receipt.id))
        client = self._engine.replica.client_id
        clock = held_clocks(ledger.doc).get(client, 0)  # (the fast parse, kept for the next update)
        self._latest_sale = (receipt.id, receipt.number, ledger.name, {client: clock})
        self._generation += 1

    def status(self) -> NodeStatus:
        """Each of its parts computed once: the presence view (built afresh on every read), the owed
        counts and the latest sale's durability (status2: each was computed 2-3 times a status)."""
        return self._status(shown_only=False)

    def _status(self, *, shown_only: bool, said: tuple[str, str, str] | None = None) -> NodeStatus:
        """``shown_only``: a status only the indicator is read of. **Changed** (issue 18, status):
        while records are owed the indicator shows no document's pending count (they count only when
        nothing is owed: "changes to open orders..."), so none is read for it (each read asks pycrdt
        for the document's state, ~2 documents after each received receipt), nor the counters and
        refusals (not in it). The status a caller asks for has them all, as before.

        **Changed** (issue 18, receiver; the twenty-second session): nor the receipts, corrupt
        records, peers' clocks and console skew (not in it); ``said``: the clock, shift and
        certificate problems as :meth:`_publish_indicator` just read them (it read them twice)."""
        venue, sync = self._venue, self._engine.sync
        presence = self._presence()
        owed = self._owed_now()
        latest = self._latest_sale
        status = compute_status(
            node_id=self._node_id,
            role=self._role,
            sync=sync,
            peers={self._peers[k]: k in self._live for k in self._peers},
            uplink=self._relay.uplink,
            upload=self._relay.upload_progress(),
            refusals={} if shown_only else self._refusals(),
            counters={} if shown_only else dict(self._counters),
            receipts=0 if shown_only else self._receipts(),
            corrupt_records=0 if shown_only else venue.corrupt_count(),
            uptime_s=time.monotonic() - self._started_at,
            owed_by_device=owed,
            latest_sale=self._durability(latest[0], presence) if latest is not None else None,
            presence=presence,
            pending_by_document={} if shown_only and owed else self._pending_by_document(),
            owed_view=self._owed_view,
        )
        skew = None if shown_only else self._relay.console_skew_s
        clock, shift, certificate = said or (
            self._problems.clock(),
            self._problems.shift(self._generation, self._calendar),
            certificate_ending(time.time(), self._certified),
        )
        status = replace(
            status,
            clock_skew_s=None if skew is None else round(skew, 1),
            clock=clock,
            peer_clocks={}
            if shown_only
            else {n: round(s, 1) for n, s in sorted(self._peer_clocks().items())},
            shift=shift,
            certificate=certificate,
        )
        if venue.numbering.known:
            return status
        return replace(status, receipt_numbers_known=False)

    def _pending_by_document(self) -> dict[str, int]:
        """``sync.pending`` of every open document, read again only for a document that changed
        since (a change reported, a day opened or closed) or whose state at the console moved
        (what it is counted against). **Changed** (issue 18, rounds): each read asks pycrdt for
        the document's state, ~4 documents a status, and nearly every round while sales arrive
        computes a status. While changes wait to be reported (``has_events``: between an apply and
        the pump's drain) every document is read, as before, so a status is never behind them."""
        sync = self._engine.sync
        fresh = sync.has_events
        counts: dict[str, int] = {}
        for name, doc in sync.docs.items():
            at = (id(doc), self._doc_changes[name], sync.console_state(name))  # (a copy)
            known = self._pending.get(name)
            if fresh or known is None or known[0] != at:
                known = self._pending[name] = (at, sync.pending(name))
            counts[name] = known[1]
        return counts

    def _receipts(self) -> int:
        """Receipts of the open days, from their tallies (kept as changes arrive): a map's length is a
        walk of all its entries in yrs, and the status is computed on every change."""
        return sum(self._tally(n).receipts for n in self._engine.sync.docs if is_ledger(n))

    def durability(self, receipt_id: str) -> Durability:
        """On how many devices ``receipt_id`` is committed, and whether the console holds it."""
        presence = self._engine.sync.presence
        self._owed_now()  # the tallies of every open day, up to date
        return self._durability(receipt_id, presence)

    def _durability(self, receipt_id: str, presence: dict[str, Heartbeat]) -> Durability:
        """:meth:`durability`, the tallies already up to date, from ``presence`` (``sync.presence``)."""
        sync = self._engine.sync
        found: tuple[str, str, dict[int, int]] | None = None
        if self._latest_sale is not None and self._latest_sale[0] == receipt_id:
            found = self._latest_sale[1:]
        else:
            for name, tally in self._tallies.items():
                state = tally.receipt_state(receipt_id)
                if state is not None:
                    found = (self._venue.receipt(receipt_id).number, name, state)
                    break
        if found is None:
            raise UnknownRecord(f"unknown receipt {receipt_id!r}")
        number, doc, needed = found
        devices, holders = self._held.count(sync, doc, needed)  # (held: kept, moves re-read)
        peers = {  # every device keeps the ledger days it hears of, kitchen displays too
            node
            for node, beat in presence.items()
            if beat.role != "console" and node != self._node_id
        }
        return Durability(
            receipt=number,
            devices=1 + devices,
            of=1 + len(peers | holders),
            console=bool(needed) and covers(sync.console_state(doc), needed),
        )

    def owed(self) -> dict[str, dict[str, int]]:
        """Per device, the records the console's reports lack, per kind: for this node and every
        device whose records it holds, from its own counts; for a live peer, at least what the peer
        says it owes (it may hold records this node has not received yet).

        Counted again only when something it is counted from moved (``_inputs``): the status, its
        indicator and the heartbeats' owed counts ask for it several times a tick."""
        return {device: dict(gap) for device, gap in self._owed_now().items()}

    def _owed_now(self) -> dict[str, dict[str, int]]:
        """:meth:`owed`, not copied (callers only read it)."""
        inputs = self._inputs()
        if inputs != self._owed_for:
            self._owed = self._count_owed()
            # a recount just done is no longer due: only then are the inputs taken again
            self._owed_for = self._inputs() if inputs[-1] else inputs
        return self._owed

    def _count_owed(self) -> dict[str, dict[str, int]]:
        """**Changed** (issue 18, rounds2): summed again only when a day's counts (``_day``, kept
        objects) or a peer's told counts moved; the inputs move for much else (another document, the
        console's state, a peer's beat saying what this node counts already). (status) Only the
        devices whose gaps or told counts moved (``OwedCounts``). (cpu) Told counts come only in a
        linked peer's own heartbeat (``sync.linked_presence``; what ``presence`` makes of a far record
        tells none): the whole presence view was built for them, outside a round, on every tick."""
        days = tuple(self._missing(name) for name in self._engine.sync.docs if is_ledger(name))
        told = {
            node: beat.owed
            for node, beat in sorted(self._engine.sync.linked_presence.items())
            if beat.owed and node != self._node_id and beat.role != "console"
        }
        return self._counts.count(days, told)

    def _tally(self, name: str) -> LedgerTally:
        """The tally of open ledger day ``name``, up to date (counted afresh once it is quiet, if it took
        a change from elsewhere)."""
        doc = self._engine.sync.docs[name]
        tally = self._tallies.get(name)
        if tally is None or tally.doc is not doc:  # a new day, or a document opened again
            if tally is not None:
                tally.close()
            tally = self._tallies[name] = LedgerTally(doc)
            self._unsure.discard(name)  # just counted whole
        quiet = time.monotonic() - self._changed_at.get(name, 0.0) >= RECOUNT_WHEN_QUIET
        if quiet and name in self._unsure:
            reordered = self._engine.sync.reordered(name)
            if reordered:
                return tally  # what came ahead of its author's order still waits: count after that
            self._unsure.discard(name)
            if reordered is None:
                return tally  # every change came in its author's order: the live count holds
            self._engine.sync.settle_reordered(name)
            if tally.recount():
                log.warning("%s: counts corrected by a full recount", name)
        return tally

    def _missing(self, name: str) -> Tally:
        """Per register, what of open ledger day ``name`` the console's reports lack (read only).
        **Changed** (issue 18, rounds2): computed again only when its tally's counts moved or what
        the console reports may have; (status) and then only for the registers the tally says
        moved or whose reported counts differ, all of them after a recount (``OwedCounts.day``)."""
        return self._counts.day(name, self._tally(name), self._engine.sync.console_reports(name))

    def _presence(self) -> dict[str, Heartbeat]:
        """``sync.presence`` (a view built on every read), built once while a publish_indicator runs
        (issue 18, rounds2: its owed counts and its status each built it)."""
        if not self._in_round:
            return self._engine.sync.presence
        if self._view is None:
            self._view = self._engine.sync.presence
        return self._view

    def day_synced(self, date: str) -> bool:
        """Whether the console holds all of business day ``date`` as this node knows it: what "All
        data is synced" means for that one day (no clock unit of its documents the console lacks, and
        no record of it missing from the console's reports)."""
        sync = self._engine.sync
        names = [ledger_name(date), kitchen_name(date)]
        if any(sync.pending(name) for name in names if name in sync.docs):
            return False
        return ledger_name(date) not in sync.docs or not self._missing(ledger_name(date))

    def forget(self, name: str) -> None:
        """Drop what the status keeps of a document that was closed (unloaded): its tally (and the
        tally's observers on the document) and its change times."""
        tally = self._tallies.pop(name, None)
        if tally is not None:
            tally.close()
        self._changed_at.pop(name, None)
        self._unsure.discard(name)
        self._pending.pop(name, None)
        self._counts.forget(name)

    async def clear_cache(self) -> list[str]:
        """Drop the console-authored documents and pull them again from the mesh (and so the console).

        Refused while anything local is not at the console, or while there is no path to the console
        to pull from: clearing can never lose a sale, and never leaves a register without a catalog.
        """
        status = self.status()
        if status.owed or status.pending_by_document:
            raise ClearCacheRefused(
                f"{status.message}; clear cache once the indicator says All data is synced"
            )
        if status.colour != "green":
            raise ClearCacheRefused(
                f"the console cannot be reached (status {status.colour}); clear cache needs it "
                "to pull the catalog again"
            )
        dropped = list(
            CONSOLE_DOCUMENTS
        )  # authored at the console only: safe to drop and pull again
        venue, replica = self._venue, self._engine.replica

        def reopened() -> None:
            venue.catalog = Catalog(replica.doc(CATALOG))

        await self._engine.reload(dropped, reopened)
        self._calendar += 1  # (a catalog of its own again: its settings may move the business day)
        log.info("cache cleared: %s pulled again", ", ".join(dropped))
        return dropped
