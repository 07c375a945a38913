"""What a venue's console reports hold: its ledger days materialised into the relational tables, the
counts the console tells the relays, and the records it could not report.

A mixin of :class:`~meshpos.console.hub.VenueHub` (docs/architecture.md (Relay and console)), which owns
the state named below and decides when a day is due (its events); kept apart so the hub reads in one
sitting, and because this is the one part of the hub that writes the reports' tables: what it counts
and what it claims to the relays (``set_console_reports``, ``unreported``) are decided together here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

from meshpos.console.db import ConsoleDB
from meshpos.console.materialise import CORRUPT_RECORD, LedgerFeed
from meshpos.console.venue_docs import VenueDocuments, unreported_summary
from meshpos.engine import Engine
from meshpos.errors import MeshposError, StaleWrite
from meshpos.model import Ledger
from meshpos.model.tally import RECOUNT_WHEN_QUIET, LedgerTally

log = logging.getLogger("meshpos.console")

# Alarms for a record the materialiser skipped: it is at the console but not in its reports.
UNREPORTED_ALARMS = frozenset({CORRUPT_RECORD})  # alarms of records not in the reports


class Materialising:
    """Materialise a venue's changed ledger days, recount the quiet ones, and keep the count of records
    not in the reports (stored, and told to the relays)."""

    venue_id: str
    db: ConsoleDB
    engine: Engine
    documents: VenueDocuments
    counters: Counter[str]
    materialise_delay: float
    unreported: dict[str, tuple[int, str]]
    _dirty: set[str]
    _dirty_since: float
    _stale: set[str]
    _feeds: dict[str, LedgerFeed]
    _tallies: dict[str, LedgerTally]
    _changed_at: dict[str, float]
    _materialised_at: dict[str, float]
    _recounted: dict[str, float]
    _writing: set[asyncio.Task[None]]

    def _recount_quiet_days(self) -> None:
        """Count a materialised day afresh once it has been quiet for ``RECOUNT_WHEN_QUIET`` s after
        it took updates out of their authors' order (``Synchronizer.reordered``: a catch-up, a gap,
        another console process's commits), and what they waited for has arrived: pycrdt misses some
        changes inside nested types then (LedgerTally.recount), and a short count would keep every
        register saying something is not at the console. A day that took its updates in order is
        counted once and kept by its events (a full read of it after every quiet moment made the
        console's cost per receipt grow with the day). Only a day materialised after its last change
        is recounted, so the counts never exceed what the tables hold."""
        now = time.monotonic()
        for name, tally in self._tallies.items():
            changed = self._changed_at.get(name, 0.0)
            if (
                now - changed < RECOUNT_WHEN_QUIET
                or self._recounted.get(name) == changed
                or name in self._dirty
                or self._materialised_at.get(name, -1.0) < changed
            ):
                continue
            reordered = self.engine.sync.reordered(name)
            if reordered:
                continue  # what came ahead still waits for what precedes it: count after that
            self._recounted[name] = changed
            if reordered is None:
                continue  # all in order: the live count holds
            self.engine.sync.settle_reordered(name)
            self.counters["recounts"] += 1
            if tally.recount():
                log.warning("venue %s: %s counts corrected by a full recount", self.venue_id, name)
                self.engine.sync.set_console_reports(name, tally.counts())

    async def _materialise_soon(self) -> None:
        wait = self._dirty_since + self.materialise_delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        while self._dirty:
            name = self._dirty.pop()
            try:
                # a change came in while the day closed: open it again to report it
                await self.engine.open_day(name)
                await self._materialise(name)
            except StaleWrite as exc:  # another process committed more: it is heard, then again
                self.counters["materialise_stale"] += 1
                log.info("venue %s: %s", self.venue_id, exc)
                self._stale.add(name)
            except MeshposError as exc:  # a corrupt record, the database: the next change retries
                self.counters["materialise_errors"] += 1
                log.error("venue %s: %s not materialised: %s", self.venue_id, name, exc)
                if name not in self.engine.closed_days():  # (still closed: it could not open)
                    self._unreported(name, _records_in(self.engine.replica.doc(name)), exc.message)

    async def _materialise(self, name: str) -> None:
        doc = self.engine.replica.doc(name)
        feed = self._feeds.get(name)
        if feed is None or feed.doc is not doc:
            if feed is not None:
                feed.close()
            feed = self._feeds[name] = LedgerFeed(doc, name.split("/", 1)[1])
        tally = self._tallies.get(name)
        if tally is None or tally.doc is not doc:
            if tally is not None:
                tally.close()
            tally = self._tallies[name] = LedgerTally(doc)
            self._recounted[name] = self._changed_at.get(name, 0.0)  # just counted whole
        started = time.monotonic()
        counted = tally.counts()  # before the feed reads the day: never more than it materialises
        version = self.documents.versions.get(name)
        result = await feed.materialise(self.db, self.venue_id, version=version)
        self.engine.sync.set_console_reports(name, counted)
        self._materialised_at[name] = started
        self.counters["materialised"] += 1
        self.counters["materialised_whole" if feed.whole else "materialised_part"] += 1
        skipped = [a for a in result.alarms if a.kind in UNREPORTED_ALARMS]
        for alarm in result.alarms:
            if alarm.new:
                self.counters["alarms"] += 1
                log.error("venue %s: %s", self.venue_id, alarm)
        # a partial export shows only the records it touched: the ones skipped before stay skipped
        count = (
            len(skipped)
            if feed.whole
            else self.unreported.get(name, (0, ""))[0] + sum(1 for a in skipped if a.new)
        )
        reason = (
            f"{name} {skipped[0].table}/{skipped[0].record_id}: {skipped[0].detail}"
            if skipped
            else self.unreported.get(name, (0, ""))[1]
        )
        self._unreported(name, count, reason)

    def _unreported(self, name: str, count: int, reason: str) -> None:
        """Note how many records of ``name`` are not in the reports (0: all are), tell the relays,
        and store it for every console process (and this one's next load of the venue)."""
        before = self.unreported.get(name, (0, ""))
        if count > 0:
            self.unreported[name] = (count, reason)
        else:
            self.unreported.pop(name, None)
        self._tell_unreported()
        if before != self.unreported.get(name, (0, "")):
            task = asyncio.create_task(self._store_unreported(name, count, reason))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _store_unreported(self, name: str, count: int, reason: str) -> None:
        try:
            await self.db.set_unreported(self.venue_id, name, count, reason)
        except MeshposError as exc:  # the next materialisation of the day stores it again
            log.error(
                "venue %s: cannot store what %s could not report: %s", self.venue_id, name, exc
            )

    def _tell_unreported(self) -> None:
        shown = unreported_summary(self.unreported)
        self.engine.sync.set_console_report(shown["count"], shown["reason"])


def _records_in(doc: Any) -> int:
    """The records a ledger day holds (a shift and its close count once): what a day that cannot be
    materialised keeps out of the reports."""
    texts = Ledger.export(doc)
    return max(1, sum(len(json.loads(t)) for root, t in texts.items() if root != "shift_closes"))
