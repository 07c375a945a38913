"""What the console and the relay say of closed business days (a base of ``_closed.ClosedDays``).

docs/architecture.md (Documents). Heartbeats leave closed days out, with one exception: a peer that
still holds a day open (it asked for it in a step 1 lately: it was offline when the others closed
it) gets, in the beats addressed to it, what the console holds of that day and its reports, as the
console or the relay last knew them. Without that, the peer would never learn the console holds all
of it, show it pending for ever and never close it.
**Changed** (issue 18, closed): those beats are unsigned, so a strict node (``_signed``: signing on, or
"auto" after its first statement) ignores them. The console's signed statement therefore also says
what it holds and reports of the days it closed most recently (:meth:`ClosedSaid._closed_stated`: the
last ``STATED_CLOSED_DAYS`` business days, within ``STATED_CLOSED_CHARS``), and a node takes them for
a day it still holds open as it takes an open one (``_passing._learn_console``). A register away
longer than that (or past the byte bound) learns nothing signed of the day: it shows the day "not at
the console" and keeps it open (pessimistic) until it reopens the day at the console by syncing it.

Split from ``_closed`` (nineteenth session, robust; behaviour unchanged): the closed days' answers and
parking stay there, what is said of them here, each read in one sitting. A base of
:class:`~meshpos.sync._closed.ClosedDays` (a mixin of the ``Synchronizer``, which owns the state
named below).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from meshpos.model.documents import day_of, kitchen_name, ledger_name
from meshpos.model.tally import Tally
from meshpos.sync._bodies import MAX_JSON_DOCS
from meshpos.sync._config import SyncConfig
from meshpos.sync._messages import Heartbeat

#: the console's statement says what it holds of the business days it closed most recently: this
#: many days (their ledger and kitchen), within this many characters of state vectors and reports
STATED_CLOSED_DAYS = 7
STATED_CLOSED_CHARS = 100_000

#: what the console's statement says of the days it closed lately: state vectors, report counts
_Stated = tuple[dict[str, dict[int, int]], dict[str, Tally]]


class _Clocked(Protocol):
    """A closed document as said here: its state vector's clocks (``_closed._ClosedDoc``)."""

    @property
    def clocks(self) -> dict[int, int]: ...


class ClosedSaid:
    """What is said of closed days: in beats to a peer that asked, in the console's statement."""

    config: SyncConfig
    _closed: Mapping[str, _Clocked]  # (``_closed``'s ``_ClosedDoc``, by name)
    _now: float | None
    _relay_claim: bool
    _console_sv: dict[str, dict[int, int]]
    _reports: dict[str, Tally]
    _closed_asked: dict[str, dict[str, float]]  # node -> closed day it asked for -> when
    #: moves whenever ``_closed`` does (``_closed_stated``'s cache)
    _closed_moved: int = 0
    #: moves when the console's reports of a closed document rise (``_closed_stated``'s cache: the
    #: reports of the open days rise every beat while sales flow, and the closed part, ~21 kB with a
    #: week at 50 registers, was rebuilt and measured for each)
    _closed_reported: int = 0
    _stated: tuple[tuple[int, int], _Stated] | None = None
    #: the latest ``STATED_CLOSED_DAYS`` closed days, newest first, as of ``_closed_moved``: sorting
    #: every day it ever closed was a cost that grew with history
    _latest_closed: tuple[int, list[str]] | None = None
    #: the closed part's key in the console's latest statement (None: it has none), and when said
    _closed_said: tuple[tuple[int, int] | None, float] = (None, float("-inf"))

    if TYPE_CHECKING:

        @property
        def role(self) -> str: ...

    def _with_closed_days_asked(self, beat: Heartbeat, node: str) -> Heartbeat:
        """``beat`` plus what the console holds of the closed days ``node`` asked for lately (see
        the module docstring); only the console and the relay speak for the console."""
        asked = self._closed_asked.get(node)
        if not asked or not (self.role == "console" or self._relay_claim):
            return beat
        now = self._now if self._now is not None else 0.0
        lately = 2 * self.config.anti_entropy_interval
        for doc, at in list(asked.items()):
            if now - at > lately or doc not in self._closed:
                del asked[doc]  # it stopped asking: it has the day closed too (or it is open)
        if not asked:
            del self._closed_asked[node]
            return beat
        room = MAX_JSON_DOCS - max(len(beat.console), len(beat.reports))
        docs = sorted(asked)[-room:] if room > 0 else []  # the latest days, within the beat's bound
        if self.role == "console":
            console = {doc: dict(self._closed[doc].clocks) for doc in docs}
        else:
            console = {doc: dict(self._console_sv[doc]) for doc in docs if doc in self._console_sv}
        reports = {doc: self._reports[doc] for doc in docs if self._reports.get(doc)}
        if not console and not reports:
            return beat
        return replace(
            beat, console={**beat.console, **console}, reports={**beat.reports, **reports}
        )

    def _closed_reports_rose(self, doc: str) -> None:
        """The console's reports of ``doc`` rose (``_heartbeats.set_console_reports``)."""
        if doc in self._closed:
            self._closed_reported += 1

    def _closed_stated(self) -> _Stated:
        """The console only: what it holds and reports of the latest ``STATED_CLOSED_DAYS``
        business days it closed, newest first until ``STATED_CLOSED_CHARS`` (a day goes whole or
        not at all), for its signed statement (``_heartbeats._own_statement``): a register that was
        away when the day closed learns, signed, that the console holds it (module docstring).
        Kept until a day closes or opens or the console's reports of a closed day rise (the open
        days' reports rise every beat while sales flow: rebuilt for each, ~0.4 ms with a week at 50
        registers); the latest days themselves until a day closes or opens (``_latest_closed``)."""
        key = (self._closed_moved, self._closed_reported)
        if self._stated is not None and self._stated[0] == key:
            return self._stated[1]
        if self._latest_closed is None or self._latest_closed[0] != self._closed_moved:
            days = sorted({day_of(name) for name in self._closed}, reverse=True)
            self._latest_closed = self._closed_moved, days[:STATED_CLOSED_DAYS]
        console: dict[str, dict[int, int]] = {}
        reports: dict[str, Tally] = {}
        chars = 0
        for day in self._latest_closed[1]:
            names = [n for n in (ledger_name(day), kitchen_name(day)) if n in self._closed]
            held = {n: dict(self._closed[n].clocks) for n in names}
            counts = {
                n: {r: dict(c) for r, c in tally.items()}
                for n in names
                if (tally := self._reports.get(n))
            }
            chars += len(json.dumps([held, counts], separators=(",", ":")))
            if chars > STATED_CLOSED_CHARS:
                break
            console.update(held)
            reports.update(counts)
        self._stated = key, (console, reports)
        return self._stated[1]

    def _closed_due(self, moved: bool) -> _Stated | None:
        """The console only: the closed part (:meth:`_closed_stated`) its next statement carries, or
        None. At most once per ``2 * anti_entropy_interval``, and only when the latest statement
        lacks it as it is now: while sales flow the console signs a statement every beat and every
        node decodes each (a week of closed days at 50 registers is ~30 kB, ~1.3 ms to decode), so
        the others say only the open days; a node keeps the highest it was told, and a register
        coming back gets a statement with the closed days within that period. ``moved``: the
        statement is signed anew anyway (else it stays as it is when the closed part is not due)."""
        stated = self._closed_stated()
        assert self._stated is not None
        key, now = self._stated[0], self._now if self._now is not None else 0.0
        last, at = self._closed_said
        if not stated[0] and not stated[1]:
            due = False  # nothing closed lately: nothing to say
        else:
            due = last != key and now - at >= 2 * self.config.anti_entropy_interval
        if due:
            self._closed_said = key, now
            return stated
        if moved:
            self._closed_said = None, at  # the next statement lacks it
        return None
