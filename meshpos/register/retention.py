"""A register's history stops growing: it drops closed business days past ``keep_days``.

docs/architecture.md (Documents). The console is the venue's system of record;
a register needs its recent days (refunds, reprints, its own reports, peers catching up), not every day it
ever sold on (~740 MB a year at 1,000 receipts a day). A register drops ``ledger/D`` and ``kitchen/D``
(``Engine.drop_day``: one store transaction each, whole or not at all) once both hold:

* D is **closed** (``register/days.py``): a day closes only once the console holds all of it, so a venue
  without a console never closes a day and never drops one (its ``pending`` never reaches 0);
* D's date is more than ``keep_days`` days before today's business day (0: keep every day);
* the node is **strict** (it takes the console's state only from statements the console signed:
  ``console_signed`` true, or "auto" once it took one): otherwise "the console holds it" rested on what
  any enrolled device may claim, and a lying one could have a register drop a day the console lacks.
  A venue whose console does not sign keeps every day, as before (logged once);
* **Changed** (issue 18, keep): D **closed on signed word**: the node was strict when the rule let it
  close (``DayCloser``), or a signed statement it took since says the console holds all of D's
  summary (``Synchronizer.held_closed``: recorded here, ``Engine.confirm_closed``). A register in
  "auto" closes days on unsigned word until its first statement, and a file of schema version 3 did
  not record how its days closed; such a day is kept until the console's signed word covers it. The
  console states its latest closed days only (``STATED_CLOSED_DAYS``), so a day closed unsigned that
  is older than those when the node turns strict is kept for good (logged: it costs disk, not data).
  A more recent one that no signed statement covered ``REOPEN_AFTER`` seconds after the node turned
  strict is **opened again** (the console may lack it: a device lied): open, it syncs towards the
  console and shows pending until the console's signed word says it holds it, then ``DayCloser``
  closes it again, on signed word. The store refuses to drop a day closed unsigned
  (``Store.drop_day``), whoever asks.

**Changed** (issue 18, newconsole; the twenty-second session): a closed day the console's signed
statements say it lacks (a console on a new or restored database: ``sync/_lacking.py``) is opened
again too, once it stayed lacking for ``LACKING_FOR`` anti-entropy periods (:meth:`Retention.lacking`,
``REOPENS_PER_LOOK`` a look, once until a statement covers it): open, it syncs to the console, shows
pending until the console's signed word covers it, and closes again on signed word.

A day open at the moment (a read, a refund, a peer's late update) is not closed, so it is not dropped; it
closes again by the usual rule and is dropped at a later look. A dropped day keeps only its summary
(``dropped_days``): the synchronizer answers for it without ever creating it empty (``sync/_dropped.py``),
a refund, reprint or report of it is refused naming the console (:class:`~meshpos.errors.DayDropped`).
Only registers drop (a kds keeps its kitchen days, which are small; the console keeps everything).

**Changed** (shifts, the twenty-first session): the kept parts of a dropped day's closed shifts (store
meta ``shiftpart/<shift>@<date>``, ``model/kept_parts.py``) are pruned at the next look: they were never
dropped. An open shift's parts stay (its X adds them), and so does a part with a refund in it (it may
be of a day before its shift's first, which a reprint of the shift adds).

**Changed** (ownday, the twenty-first session): the day of a kept open shift (``model/kept_shifts.py``) is
never dropped: its close is written there.

**Changed** (reprint, the twenty-second session): a dropped day's kept closed shift records (store meta
``shiftclosed/<shift>``, ``model/kept_shifts.py``) are pruned with its parts (a reprint of such a
shift is refused: its span holds a dropped day), and so are the parts with a refund of such a shift.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable

from meshpos.config import Config
from meshpos.engine import Engine
from meshpos.engine.stores import DayDropping
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.documents import day_of, ledger_name
from meshpos.model.kept_shifts import CLOSED_META
from meshpos.sync import STATED_CLOSED_DAYS

log = logging.getLogger("meshpos.node")

#: how often (seconds) at most the rule is looked at (lower with a short ``day_idle_seconds``)
CHECK_EVERY = 60.0
#: documents dropped per look at most: a drop holds the engine's pump lock for its transaction
#: (8-50 ms for a 1,000-receipt day on the bench machine), so a register upgraded with a year of
#: history drops it over hours instead of holding its sales up for seconds
DROPS_PER_LOOK = 4
#: seconds a strict node waits for the console's signed word to cover a recent day closed unsigned
#: before it opens the day again (the console states its closed days within two anti-entropy
#: periods, ~10 s, of a register's asking; a node that turned strict has just taken a statement)
REOPEN_AFTER = 120.0
#: recent days closed unsigned opened again per look at most (each is loaded until it closes again)
REOPENS_PER_LOOK = 2


def horizon(today: str, keep_days: int) -> str:
    """The oldest business date a register keeps when today's business day is ``today``."""
    return (datetime.date.fromisoformat(today) - datetime.timedelta(days=keep_days)).isoformat()


class Retention:
    """Drops closed days past ``keep_days``; ``tick`` runs on the engine's ticker (``DayCloser``)."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        config: Config,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._engine = engine
        self._venue = venue
        self._register = config.role == "register"
        self._keep = config.keep_days if self._register else 0
        self._monotonic = monotonic
        self._now_ms = now_ms
        self._every = min(CHECK_EVERY, config.day_idle_seconds)
        self._checked_at = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self._said_unsigned = False  # "not strict: keeping every day" is logged once
        self._said_kept = 0  # days past the horizon kept as closed unsigned, as last logged
        self._strict_since: float | None = None  # the first look that found the node strict
        self._reopened: set[str] = set()  # recent days closed unsigned opened again (once each)
        #: closed days opened again as the console lacks them (once each until a statement covers it)
        self._lacking_reopened: set[str] = set()

    def tick(self) -> None:
        now = self._monotonic()
        if not self._register:  # (a kds drops nothing: what statements said of its days is moot)
            self._engine.sync.held_closed.clear()
            return
        if now - self._checked_at < self._every:
            return
        if self._task is not None and not self._task.done():
            return
        self._checked_at = now
        if not self._engine.sync.statements.strict:
            if self._keep and not self._said_unsigned:
                self._said_unsigned = True
                log.info(
                    "keep_days %d: keeping every business day: the console's statements are not "
                    "signed (console_signed), so that it holds a day is not proven",
                    self._keep,
                )
            return
        if self._strict_since is None:
            self._strict_since = now
        held = self.confirmable()
        try:
            names = self.droppable()[:DROPS_PER_LOOK] if self._keep else []
            due = now - self._strict_since >= REOPEN_AFTER
            recent = self.reopenable(held)[:REOPENS_PER_LOOK] if due else []
        except MeshposError as exc:  # e.g. unreadable settings: nothing is dropped this time
            log.warning("cannot tell which business days to drop: %s", exc)
            names, recent = [], []
        lacking = self.lacking(recent)
        pruned = self._prunable()
        if held or names or recent or pruned or lacking:
            self._task = asyncio.create_task(self._run(held, names, recent, pruned, lacking))

    def lacking(self, recent: list[str]) -> list[str]:
        """Closed days the console's signed word says it lacks (``sync/_lacking.py``), long enough
        to open them again: oldest first, a few a look, each once until a statement covers it."""
        confirmed = self._engine.sync.lacking_days.confirmed
        self._lacking_reopened -= confirmed
        due = [
            name
            for name in self._engine.sync.closed_lacking_due()
            if name not in self._lacking_reopened and name not in recent
        ]
        return due[:REOPENS_PER_LOOK]

    def _prunable(self) -> list[str]:
        """The meta keys of kept shift parts no read needs any more (``KeptParts.prunable``): of a
        day dropped (here, or at an earlier look) and a shift closed."""
        venue, sync = self._venue, self._engine.sync
        open_ids = {s.id for s in venue.open_shifts()}  # (model/kept_shifts.py's too)
        # (reprint, the twenty-second session) closed shifts' records of dropped days, and the parts
        # with a refund of a shift whose own day is dropped (its report is refused)
        kept = venue.kept_shifts.spans()

        def gone(shift_id: str) -> bool:
            day = kept.get(shift_id)
            return day is not None and sync.is_dropped(ledger_name(day[0]))

        parts = venue.kept_parts.prunable(open_ids, sync.is_dropped, gone)
        return parts + venue.kept_shifts.prunable(sync.is_dropped)

    def confirmable(self) -> list[str]:
        """Closed days not known to have closed on signed word that a signed statement said the
        console holds all of since the last look (taken: each is told once)."""
        held = self._engine.sync.held_closed
        found = sorted(held - self._engine.signed_closed)
        held.clear()
        return found

    def droppable(self) -> list[str]:
        """The closed, not yet dropped documents of days before the horizon that closed on signed
        word, oldest first (the others past it are kept, and logged when there are more)."""
        oldest = horizon(self._venue.business_date(self._now_ms()), self._keep)
        sync, signed = self._engine.sync, self._engine.signed_closed
        # the day an open shift opened on is kept: its close is written there (model/kept_shifts.py)
        shift_days = self._venue.kept_shifts.days()
        past = [
            name
            for name in self._engine.closed_days()
            if day_of(name) < oldest
            and not sync.is_dropped(name)
            and day_of(name) not in shift_days
        ]
        kept = sorted(name for name in past if name not in signed)
        if len(kept) > self._said_kept:  # (at most once a look, only when they grew)
            self._said_kept = len(kept)
            log.warning(
                "keep_days %d: keeping %d closed documents older than that (%s%s): they closed "
                "on the console's unsigned word and no signed statement said since that the "
                "console holds all of them",
                self._keep,
                len(kept),
                ", ".join(kept[:4]),
                ", ..." if len(kept) > 4 else "",
            )
        return sorted(name for name in past if name in signed and self._vouched(name))

    def _vouched(self, name: str) -> bool:
        """Whether no signed statement of the console this node reaches now says it lacks the closed
        day ``name`` (``sync/_lacking.py``).

        **Changed** (the twenty-third session): a day closed on the signed word of an *earlier*
        console was dropped on that word alone, so a day crossing the horizon while a console on a
        new database (``sync/_epoch.py``) lacked it could be dropped before it was opened again and
        sent: lost but for a console backup. Now a day judged lacking is kept until it was sent and
        the console's signed word covers it. Still dropped on the earlier word: a day no statement
        was judged against yet (a register that reaches no console keeps dropping by its horizon)."""
        return name not in self._engine.sync.lacking_days.lacking

    def reopenable(self, held: list[str]) -> list[str]:
        """Closed days that closed on unsigned word, recent enough for the console's statements to
        name them, that no signed statement covered (``held``: about to be recorded), not opened
        again before: oldest first."""
        today = self._venue.business_date(self._now_ms())
        recent = horizon(today, STATED_CLOSED_DAYS)
        sync, signed = self._engine.sync, self._engine.signed_closed
        return sorted(
            name
            for name in self._engine.closed_days()
            if day_of(name) >= recent
            and name not in signed
            and name not in held
            and name not in self._reopened
            and not sync.is_dropped(name)
        )

    async def _run(
        self,
        held: list[str],
        names: list[str],
        recent: list[str],
        pruned: list[str],
        lacking: list[str],
    ) -> None:
        await self._prune(pruned)
        for name in held:
            try:
                confirmed = await self._engine.confirm_closed(name)
            except MeshposError as exc:  # it stays unsigned: kept; a later statement says it again
                log.error("could not record that the console holds closed %s: %s", name, exc)
                continue
            if confirmed:
                log.info("closed %s: the console's signed word now says it holds all of it", name)
        await self._drop(names)
        for name in recent:
            if name in self._engine.signed_closed:
                continue  # (covered meanwhile)
            self._reopened.add(name)
            try:
                await self._engine.open_day(name)
            except MeshposError as exc:  # it stays closed, whole; kept
                log.error("could not open %s again: %s", name, exc)
                continue
            log.warning(
                "opened %s again: it closed on the console's unsigned word and no signed statement "
                "says the console holds it; it closes again once one does",
                name,
            )

        await self._reopen_lacking(lacking)

    async def _reopen_lacking(self, names: list[str]) -> None:
        sync = self._engine.sync
        for name in names:
            self._lacking_reopened.add(name)
            try:
                await self._engine.open_day(name)
            except MeshposError as exc:  # it stays closed, whole; still shown not at the console
                log.error("could not open %s again: %s", name, exc)
                continue
            sync.lacking_days.forget([name])  # (open: its pending counts as any open day's)
            log.warning(
                "opened %s again: the console's signed statement says it lacks it (a new or "
                "restored console database?); it syncs to the console and closes again once the "
                "console's signed word says it holds all of it",
                name,
            )

    async def _prune(self, keys: list[str]) -> None:
        """Forget kept shift parts of dropped days whose shift closed (``model/kept_parts.py``): one
        key at a time, the store first (a part the store still holds is still true: nothing is
        lost if the node stops between)."""
        store = self._engine.store
        if not isinstance(store, DayDropping):
            return  # (nothing is dropped either: no part is of a dropped day)
        for key in keys:
            try:
                await store.drop_meta_range(
                    key, key + "~"
                )  # (that key alone: none extends a part's)
            except MeshposError as exc:  # kept; the next look tries again
                log.error("could not prune the kept shift part %s: %s", key, exc)
                return
            if key.startswith(CLOSED_META):
                self._venue.kept_shifts.forget_closed([key])
            else:
                self._venue.kept_parts.forget([key])
        if keys:
            log.info("pruned %d kept shift parts and records of dropped days", len(keys))

    async def _drop(self, names: list[str]) -> None:
        for name in names:
            try:
                await self._engine.drop_day(name)
            except MeshposError as exc:  # the next look tries again; the day stays closed, whole
                log.error("could not drop closed %s: %s", name, exc)
                return
            log.info(
                "dropped closed %s: older than keep_days (%d); the console holds it",
                name,
                self._keep,
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
