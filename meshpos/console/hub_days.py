"""Closing a venue's past business days at the console: which days may leave memory, and closing them.

A mixin of :class:`~meshpos.console.hub.VenueHub` (docs/architecture.md (Relay and console), closed
days), which owns the state named below; kept apart so the hub reads in one sitting.
"""

from __future__ import annotations

import time
from collections import Counter

from meshpos.engine import Engine
from meshpos.model import Venue, business_date
from meshpos.model.documents import KITCHEN, LEDGER, is_ledger

DAY_KINDS = (LEDGER, KITCHEN)  # the business days' documents


class DayClosing:
    """Which past days a hub may close, and closing them."""

    engine: Engine
    venue: Venue
    counters: Counter[str]
    loaded_at: float
    _dirty: set[str]
    _stale: set[str]
    _changed_at: dict[str, float]
    _materialised_at: dict[str, float]

    def closable_days(self, now_ms: int, idle_s: float) -> list[str]:
        """Business days to close: before the venue's business day today, materialised after their
        last change, and unchanged for ``idle_s``. A register still holding such a day open asks for it
        in its step 1s, and the console's beats to it then carry the day's state and reports from the
        closed day's summary (meshpos.sync closed days), so it still learns the console holds it."""
        quiet = time.monotonic() - idle_s
        today = ""  # read only for a quiet day: the catalog's settings cost a parse, every second
        out = []
        for name in self.engine.sync.docs:
            kind, _, day = name.partition("/")
            if kind not in DAY_KINDS or not day:
                continue
            if self._changed_at.get(name, self.loaded_at) > quiet:
                continue
            if not today:
                settings = self.venue.catalog.settings()
                today = business_date(now_ms, settings.timezone, settings.day_cutoff_hour)
            if day >= today:
                continue
            if is_ledger(name) and (
                name in self._dirty
                or name in self._stale
                or self._materialised_at.get(name, -1.0) < self._changed_at.get(name, 0.0)
            ):
                continue
            out.append(name)
        return sorted(out)

    async def close_past_days(self, now_ms: int, idle_s: float) -> int:
        """Close the days :meth:`closable_days` names: they stay in the database (folded into one
        segment, with their summary) and leave memory. Returns how many closed."""
        closed = 0
        for name in self.closable_days(now_ms, idle_s):
            await self.engine.close_day(name)  # a change that comes meanwhile reopens it
            self.counters["days_closed"] += 1
            closed += 1
        return closed
