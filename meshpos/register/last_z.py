"""A register ends the business day its Z was the last of, once the other registers' closes arrive.

Two Z reports pressed at once on the last two registers: each register's Z saw the other's shift open,
so neither ended the day, and nothing did later (only Close day would). The rule is "the day ends with
its last Z" (``meshpos.model.shift_report.last_z``): once every shift is closed, the register whose Z
closed last (by close time, the same answer on every device) ends the day, on behalf of the user who
pressed it, if that user may (a cashier's last Z leaves it to a manager, as it always did). One register
writes it, so the day is not ended twice; if it is off, the day ends when it is back, or by Close day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from meshpos.engine import Committed, Engine, EngineEvent
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.documents import is_ledger
from meshpos.model.shift_report import a_shift_is_open, end_day_by_last_z, my_last_z

log = logging.getLogger("meshpos.node")


class LastZ:
    """Runs on a register: after a commit touching a ledger day, looks whether its Z ends today."""

    def __init__(self, engine: Engine, venue: Venue, now_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._venue = venue
        self._now_ms = now_ms
        self._wanted = False
        self._task: asyncio.Task[None] | None = None
        self._failed: set[str] = set()  # days whose failure was logged (once per day)
        engine.subscribe(self._on_event, Committed)

    def start(self) -> None:
        """Look once at what the store brought (a register restarted between the Zs)."""
        self._wanted = True
        self._kick()

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, Committed):  # (a loop, not ``any`` of a generator: after every commit)
            for name in event.updates:
                if is_ledger(name):
                    self._wanted = True
                    self._kick()
                    return

    def _kick(self) -> None:
        if not self._wanted or (self._task is not None and not self._task.done()):
            return
        # **Changed** (issue 18, rounds): while a shift is open (nearly always) the look ends here,
        # without a task of its own (one per commit of a ledger day: several per receipt)
        try:  # (the task looks again, and logs what failed)
            if a_shift_is_open(self._venue):
                self._wanted = False
                return
        except Exception:  # (not ``contextlib.suppress``: three calls a commit)
            pass
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                # while a shift is open (nearly always) this reads keys only: no business date,
                # which parses the venue's settings (a look runs after every commit of a ledger
                # day, several per receipt on every register: issue 18)
                if my_last_z(self._venue, self._now_ms()) is None:
                    continue
                date = self._date()  # before the end: an ended day is no longer today's
                ended = await self._engine.write(self._end)
                if ended is not None:
                    log.info("business day %s ended by this register's Z, the last", date)
            except MeshposError as exc:  # e.g. an order of the day still open: a manager ends it
                date = self._date()
                if date not in self._failed:
                    self._failed.add(date)
                    log.warning("business day %s: the last Z cannot end it: %s", date, exc)
            except Exception:  # a bug must not stop the next look: logged once per day
                date = self._date()
                if date not in self._failed:
                    self._failed.add(date)
                    log.exception("business day %s: the last Z cannot end it", date)

    def _date(self) -> str:
        """Today's business day, for the log (what the day's settings say; never raises)."""
        try:
            return self._venue.business_date(self._now_ms())
        except Exception:  # corrupt settings must not hide the failure being logged
            return "today"

    def _end(self) -> object:
        return end_day_by_last_z(self._venue, self._now_ms())

    async def stop(self) -> None:
        self._wanted = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
