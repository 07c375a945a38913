"""Closing business days: the policy that unloads a past day once the console holds all of it.

docs/architecture.md (Documents). The engine can close a day (``Engine.close_day``: its documents leave
memory, the store keeps them, peers agree it is closed) and open it again on demand; this service decides
*when*. ``ledger/D`` and ``kitchen/D`` close, one ``close_day`` each, once all of these hold:

* D is before today's business day (``Venue.business_date``: a day a manager ended early is past), or
  after tomorrow (:func:`ahead`: a day a register's clock made while it was ahead);
* nothing of D is still open (:func:`meshpos.model.day_end.what_keeps_open`: no open shift or order of
  D); a record of D counted in a drawer still open does not keep it (below);
* the console holds all of D: what "All data is synced" means for that one day
  (:meth:`StatusService.day_synced`: no pending change of D's documents, no record of D missing from the
  console's reports);
* D was not touched (changed, opened) for ``day_idle_seconds``;
* no kitchen ticket of D is still being made, until two hours after D's cut-off
  (:meth:`meshpos.model.Venue.tickets_being_made`): a day ends at its cut-off or early while the food
  ordered a minute before cooks, and its ticket stays on the kitchen's board and can still be bumped.

A node that was away while the others closed D still learns the console holds it (the console or relay
adds D's console view and reports to the beats addressed to a node that asks for D: the engine's
mechanism), so it closes D too.

**Changed** (open rules, rules, the twentieth session): a day after tomorrow closes by the same rule, and
a closed day that today or tomorrow is opened again before anything is written into it (:meth:`tick`).
A register whose clock was ahead (days, years) made that day; once its clock was corrected the day stayed
in memory until its date, held by "before today" alone. Tomorrow is kept loaded: its first sale (at the
day's cut-off) must find it open, and a clock a day ahead costs at most a day's memory.

**Changed** (shiftsum, the twentieth session): a day whose only tie is a shift still open (its
records count in that drawer) closes by the same rule: its part of each such shift's figures is written
to the store's meta first (``model/kept_parts.py``), and the shift's X, Z and expected cash add it. Such
a day kept every day since a shift opened loaded on every device (~9 MB a day of 1,000 sales) until
the shift closed. A close that raced a change (the part older than the close) opens the day again.

**Changed** (ownday, the twenty-first session): the day a shift opened on closes too while the shift is
open (``what_keeps_open(own_shifts=False)``): its open shifts' records are written with its parts
(``model/kept_shifts.py``), and those of its shifts closed since are dropped after its close.
**Changed** (reprint, the twenty-second session): a closing day keeps the records of its closed
shifts too, and a part of every closed shift whose span covers it (``model/day_keeping.py``, the one
rule): a reprint of a closed shift loads no day.
**Changed** (the twentieth session, at the merge): a day that fails to open or close is logged the
first time and then at most once a minute with the count (``FAILURE_LOG_EVERY_S``), not at every look.

A day opened again (a refund or reprint of an old receipt, a peer's late sale) closes again by the same
rule. When a day closes, the venue, the status and the pages' index drop what they held of it (the
engine's ``DayClosed``, delivered synchronously), so its memory returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections import Counter
from collections.abc import Callable

from meshpos.config import Config
from meshpos.engine import DayClosed, DayOpened, Engine, EngineEvent
from meshpos.engine.stores import DayDropping
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.day_end import day_keys, what_keeps_open
from meshpos.model.day_keeping import held, keeping
from meshpos.model.documents import day_of, is_kitchen, is_ledger, kitchen_name, ledger_name
from meshpos.model.kept_shifts import SHIFT_META
from meshpos.model.ledger import Ledger
from meshpos.register.retention import Retention
from meshpos.register.status import StatusService
from meshpos.sync import DocumentChanged

log = logging.getLogger("meshpos.node")

#: how often (seconds) at most the rule is looked at; lower with a short ``day_idle_seconds``
CHECK_EVERY = 1.0
#: a day the closer cannot open or close is tried again at every look; it is logged at most this often
#: (with the count of failures between), not once a look: a full disk made a line a second
FAILURE_LOG_EVERY_S = 60.0


def ahead(date: str) -> str:
    """The business day after ``date`` (a calendar day: business days are named by their dates)."""
    return (datetime.date.fromisoformat(date) + datetime.timedelta(days=1)).isoformat()


class DayCloser:
    """Closes past business days by the rule above; ``tick`` runs on the engine's ticker."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        status: StatusService,
        config: Config,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._engine = engine
        self._venue = venue
        self._status = status
        self._idle = config.day_idle_seconds
        self._monotonic = monotonic
        self._now_ms = now_ms
        started = monotonic()
        self._touched: dict[str, float] = {}  # business day -> when it last changed or opened
        self._held: Counter[str] = Counter()  # business day -> requests using it (:meth:`hold`)
        self._started = started  # a day loaded at start is untouched since then
        self._checked_at = -float("inf")
        self._every = min(CHECK_EVERY, self._idle / 2)
        # business day -> when it was touched, of a look that found it still open
        self._kept: dict[str, float] = {}
        # business day -> (when it was touched, the minute) of a look that found a ticket being made
        self._making: dict[str, tuple[float, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._parts_looked = False  # (the first look opens the days whose shift parts are stale)
        # (open|close, business day) -> (when last logged, failures since): ``_failed``
        self._failures: dict[tuple[str, str], tuple[float, int]] = {}
        # today's business day and what it was told from (``_today``): the minute, the changes seen
        self._moved = 0
        self._today_for: tuple[int, int] | None = None
        self._today_was = ""
        # closed days past keep_days are dropped (``register/retention.py``), between closings
        self.retention = Retention(engine, venue, config, monotonic=monotonic, now_ms=now_ms)
        engine.subscribe(self._on_event, DocumentChanged, DayOpened, DayClosed)
        # a kept part is true only of the day as the engine closed it (model/kept_parts.py)
        venue.kept_parts.closed_state = engine.sync.closed_state

    def _on_event(self, event: EngineEvent) -> None:
        """Every event it subscribed to (a change, a day opened or closed) may have moved the
        settings or a day's end: today is told again. A change (nearly every event) is told by one
        test of its type (issue 18, cpu)."""
        self._moved += 1
        if type(event) is DocumentChanged:
            if is_ledger(event.doc) or is_kitchen(event.doc):
                self._touched[day_of(event.doc)] = self._monotonic()
        elif isinstance(event, DayOpened):
            self._touched[day_of(event.doc)] = self._monotonic()
        elif isinstance(event, DayClosed) and is_ledger(event.doc):
            self._venue.forget_day(day_of(event.doc))

    def hold(self, date: str) -> None:
        """A request uses business day ``date`` (it opened it, or reads it) until :meth:`release`: it
        does not close meanwhile (part flaky, the twenty-fourth session). A request that opened a
        closed day and read it after an await (a shift report loading its days one by one, a refund
        asking its approver) found it closed again once the request took longer than
        ``day_idle_seconds``: a 404 for a record the register holds, or a report short of a day."""
        self._held[date] += 1
        self._touched[date] = self._monotonic()  # (a close under way sees it and stops)

    def release(self, date: str) -> None:
        """The end of one :meth:`hold`: the day's idle time counts from now."""
        self._held[date] -= 1
        if self._held[date] <= 0:
            del self._held[date]
        self._touched[date] = self._monotonic()

    # --- the rule ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Look at the rule now and then; close what it allows in a task of its own (one at a time)."""
        now = self._monotonic()
        if self._task and not self._task.done():
            return
        self.retention.tick()
        if now - self._checked_at < self._every:
            return
        self._checked_at = now
        # told before the look: a node that turns strict meanwhile forgets the unsigned word the
        # look may have rested on, so only a node strict already closes on signed word (issue 18)
        signed = self._engine.sync.statements.strict
        try:
            near, days = self._closed_near(), self.closable()
            if not self._parts_looked:
                self._parts_looked = True
                stale = self._venue.kept_parts.stale() + self._venue.kept_shifts.stale()
                near += [ledger_name(d) for d in sorted(set(stale))]
        except MeshposError as exc:  # e.g. a corrupt record read: the day stays loaded
            log.warning("cannot tell which business days may close: %s", exc)
            return
        if near:
            self._task = asyncio.create_task(self._open(near))
        elif days:
            self._task = asyncio.create_task(self._close(days, signed))

    def _closed_near(self) -> list[str]:
        """Today's and tomorrow's documents that are closed (a day after tomorrow closed while the
        clock was corrected, now near): opened before a sale goes into them."""
        today = self._today()
        sync = self._engine.sync
        return [
            name
            for date in (today, ahead(today))
            for name in (ledger_name(date), kitchen_name(date))
            if sync.is_closed(name) and not sync.is_dropped(name)
        ]

    async def _open(self, names: list[str]) -> None:
        for name in names:
            try:
                await self._engine.open_day(name)
                self._failures.pop(("open", day_of(name)), None)
                log.info(
                    "business day %s loaded again (near, or parts older than its close)",
                    day_of(name),
                )
            except MeshposError as exc:  # the next look tries again
                self._failed("open", day_of(name), exc)

    def closable(self) -> list[str]:
        """The loaded business days the rule lets close now, oldest first."""
        today = self._today()
        names = self._engine.sync.docs
        loaded = sorted({day_of(n) for n in names if is_ledger(n) or is_kitchen(n)})
        now = self._monotonic()
        later = ahead(today)
        past = [
            d
            for d in loaded
            if (d < today or d > later)
            and now - self._touched.get(d, self._started) >= self._idle
            and d not in self._held
        ]
        if not past:
            return []
        found = []
        for date in past:
            if not self._status.day_synced(date):
                continue
            touched = self._touched.get(date, self._started)
            if self._kept.get(date) == touched:
                continue  # still open, and nothing changed since we looked
            if ledger_name(date) in names:
                reasons = what_keeps_open(  # (its open shifts are kept: model/kept_shifts.py)
                    self._venue.ledger(date),
                    (),
                    self._venue.user_name,
                    self._venue.zone(),
                    own_shifts=False,
                )
                if reasons:
                    self._kept[date] = touched
                    continue
            if self._being_made(date, touched):
                continue
            found.append(date)
        return found

    def _being_made(self, date: str, touched: float) -> bool:
        """A ticket of past day ``date`` is still being made; read again once a minute (the window
        ends on one) or when the day changes: a day's tickets cost a parse, and the look is each second."""
        now_ms = self._now_ms()
        key = (touched, now_ms // 60_000)
        if self._making.get(date) == key:
            return True
        if self._venue.tickets_being_made(date, now_ms):
            self._making[date] = key
            return True
        self._making.pop(date, None)
        return False

    def _today(self) -> str:
        """Today's business day, told again only when a minute began (a day starts on a minute in
        every time zone) or a document changed (the venue's settings, a day's end) since it was last
        told: telling it parses the venue's settings, an idle node's dearest look each second."""
        now_ms = self._now_ms()
        key = (now_ms // 60_000, self._moved)
        if key != self._today_for:
            self._today_was, self._today_for = self._venue.business_date(now_ms), key
        return self._today_was

    async def _close(self, days: list[str], signed: bool) -> None:
        for date in days:
            try:
                await self._close_day(date, signed)
                self._failures.pop(("close", date), None)
            except MeshposError as exc:  # the next look tries again
                self._failed("close", date, exc)
            except Exception:  # a bug must not kill the node's ticker: logged, tried again
                self._failed("close", date, None)

    def _failed(self, what: str, date: str, exc: MeshposError | None) -> None:
        """Say that ``what`` (open or close) of ``date`` failed (``exc``; None: a bug, with its
        traceback): the first time, then at most every :data:`FAILURE_LOG_EVERY_S` with the count."""
        now = self._monotonic()
        logged_at, since = self._failures.get((what, date), (-float("inf"), 0))
        if now - logged_at < FAILURE_LOG_EVERY_S:
            self._failures[(what, date)] = (logged_at, since + 1)
            return
        self._failures[(what, date)] = (now, 0)
        more = f" (and {since} times more in {now - logged_at:.0f} s)" if since else ""
        if exc is None:
            log.exception("could not %s business day %s%s", what, date, more)
        else:
            log.error("could not %s business day %s: %s%s", what, date, exc, more)

    async def _close_day(self, date: str, signed: bool) -> None:
        if date in self._held:  # a request took it since the look
            return
        engine = self._engine
        touched = self._touched.get(date, self._started)
        keys: list[str] = []
        receipts = 0
        name = ledger_name(date)
        doc = engine.sync.docs.get(name)
        if doc is not None:  # its receipts' ids and numbers find it again
            ledger = self._venue.ledger(date)
            receipts = ledger.receipt_count()
            keys = day_keys(ledger)
            await self._keep_parts(date, ledger, doc.get_state())
            del ledger, doc
        changed = False
        for name in (ledger_name(date), kitchen_name(date)):
            if self._touched.get(date, self._started) != touched or date in self._held:
                changed = True  # it changed or a request took it meanwhile: looked at again
                break
            if name in engine.sync.docs:
                await engine.close_day(name, keys if is_ledger(name) else (), signed=signed)
        # asked whether or not the kitchen's close followed: a change that came as the ledger closed
        # leaves its parts older than its close, and a reader of them gets DayClosed until it opens
        venue = self._venue
        if not (
            venue.kept_parts.fresh(date) and venue.kept_shifts.fresh(date)
        ):  # changed meanwhile
            log.warning(
                "business day %s changed as it closed: opened again for its shift parts", date
            )
            await engine.open_day(ledger_name(date))
            return
        if changed:
            return
        self._kept.pop(date, None)
        if self._touched.get(date, self._started) == touched:  # (a load or write since is kept:
            self._touched.pop(date, None)  # the shift's close loads the day right after: ownday)
        log.info("business day %s closed (%d receipts): unloaded", date, receipts)

    async def _keep_parts(self, date: str, ledger: Ledger, state_vector: bytes) -> None:
        """Write what ``date`` keeps as it closes durably before it closes (its parts of shifts, its
        shifts' records: ``model/day_keeping.py``); then let go of its kept open records of shifts
        closed since (the store first: a record it still holds says "open", never less)."""
        venue = self._venue
        keep = keeping(venue, ledger, state_vector)
        if keep.meta:
            await self._engine.store.append([], keep.meta)
            held(venue, keep, state_vector)
        store = self._engine.store
        for key in keep.gone:
            if isinstance(store, DayDropping):  # (every node's store; a bare engine's is not)
                await store.drop_meta_range(key, key + "~")
            venue.kept_shifts.forget([key[len(SHIFT_META) :]])

    async def stop(self) -> None:
        await self.retention.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
