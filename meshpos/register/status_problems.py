"""What the status says is wrong with this device apart from its data: its clock (against the console's,
its peers' or its own certificate's window) and a shift of its own left open past its business day.

Split out of register/status.py in the twenty-second session (part ``receiver``), behaviour unchanged:
that module was at the size limit, and these are the status's two readings of the device's own state
(docs/architecture.md (Status)), asked for on every ticker round by the indicator.

**Changed** (issue 18, receiver; the twenty-second session): the business day the shift check compares
with is kept for the minute while the venue's settings and days ended early stay (:meth:`_today_at`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from meshpos.model import Venue
from meshpos.model.shift_report import shift_overdue
from meshpos.ops.clock import certificate_problem, clock_problem, peers_problem
from meshpos.relay.service import RelayService


class StatusProblems:
    """The clock and shift problems a status shows (empty: none)."""

    def __init__(
        self,
        venue: Venue,
        relay: RelayService,
        role: str,
        peer_clocks: Callable[[], dict[str, float]],
        certified: tuple[float, float] | None,
    ) -> None:
        self._venue = venue
        self._relay = relay
        self._role = role
        self._peer_clocks = peer_clocks
        self._certified = certified
        self._shift_for: tuple[int, int] | None = None  # (minute, generation) of ``_shift_said``
        self._shift_said = ""
        self._calendar = 0  # (``_today_at``)

    def clock(self) -> str:
        """What is wrong with this device's clock: against the console's once compared (the
        reference: reports are the console's), else against most of its linked peers' (a venue
        without a console, or without internet); first against its own certificate's window, out
        of which it links with nothing to compare with."""
        outside = certificate_problem(time.time(), self._certified)
        if outside:
            return outside
        skew = self._relay.console_skew_s
        if skew is not None:
            return clock_problem(skew, "the console's")
        return peers_problem(self._peer_clocks())

    def shift(self, generation: int, calendar: int) -> str:
        """This register's shift open past its business day (``shift_overdue``), told again only
        when a minute began (a day starts on a minute) or an engine event moved ``generation``
        (the status's count of them) since it was last told: the indicator asks on every tick.

        **Changed** (issue 18, receiver; the twenty-second session): the business day it compares
        with is kept while the minute, the days ended early and ``calendar`` stay (the status's
        count of the engine's events but changes of the days' documents and the stop list: the
        venue's settings; :meth:`_today_at`). Every received sale moves ``generation``, and the
        business day was worked out again from the time zone ~10 times a second as sales arrived."""
        if self._role != "register":
            return ""
        now_ms = int(time.time() * 1000)
        key = (now_ms // 60_000, generation)
        if key != self._shift_for:
            self._calendar = calendar
            self._shift_said = shift_overdue(self._venue, now_ms, self._today_at)
            self._shift_for = key
        return self._shift_said

    def _today_at(self, now_ms: int) -> str:
        """``Venue.business_date``, kept while nothing it reads moved: the clock's minute (a cut-off
        hour in any time zone begins on one), the catalog's settings (``calendar``) and the days
        ended early (kept with them: ``DayEnds.kept``)."""
        key = (now_ms // 60_000, self._calendar)
        kept = self._venue.day_ends.kept()
        found = None if kept is None else kept.get("business day")
        if found is not None and found[0] == key:
            return str(found[1])
        today = self._venue.business_date(now_ms)
        if kept is not None:
            kept["business day"] = (key, today)
        return today
