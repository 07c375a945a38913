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
  A venue whose console does not sign keeps every day, as before (logged once).

A day open at the moment (a read, a refund, a peer's late update) is not closed, so it is not dropped; it
closes again by the usual rule and is dropped at a later look. A dropped day keeps only its summary
(``dropped_days``): the synchronizer answers for it without ever creating it empty (``sync/_dropped.py``),
a refund, reprint or report of it is refused naming the console (:class:`~meshpos.errors.DayDropped`).
Only registers drop (a kds keeps its kitchen days, which are small; the console keeps everything).
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
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.documents import day_of

log = logging.getLogger("meshpos.node")

#: how often (seconds) at most the rule is looked at (lower with a short ``day_idle_seconds``)
CHECK_EVERY = 60.0
#: documents dropped per look at most: a drop holds the engine's pump lock for its transaction
#: (8-50 ms for a 1,000-receipt day on the bench machine), so a register upgraded with a year of
#: history drops it over hours instead of holding its sales up for seconds
DROPS_PER_LOOK = 4


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
        self._keep = config.keep_days if config.role == "register" else 0
        self._monotonic = monotonic
        self._now_ms = now_ms
        self._every = min(CHECK_EVERY, config.day_idle_seconds)
        self._checked_at = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self._said_unsigned = False  # "not strict: keeping every day" is logged once

    def tick(self) -> None:
        now = self._monotonic()
        if not self._keep or now - self._checked_at < self._every:
            return
        if self._task is not None and not self._task.done():
            return
        self._checked_at = now
        if not self._engine.sync.statements.strict:
            if not self._said_unsigned:
                self._said_unsigned = True
                log.info(
                    "keep_days %d: keeping every business day: the console's statements are not "
                    "signed (console_signed), so that it holds a day is not proven",
                    self._keep,
                )
            return
        try:
            names = self.droppable()[:DROPS_PER_LOOK]
        except MeshposError as exc:  # e.g. unreadable settings: nothing is dropped this time
            log.warning("cannot tell which business days to drop: %s", exc)
            return
        if names:
            self._task = asyncio.create_task(self._drop(names))

    def droppable(self) -> list[str]:
        """The closed, not yet dropped documents of days before the horizon, oldest first."""
        oldest = horizon(self._venue.business_date(self._now_ms()), self._keep)
        sync = self._engine.sync
        return sorted(
            name
            for name in self._engine.closed_days()
            if day_of(name) < oldest and not sync.is_dropped(name)
        )

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
