"""When the synchronizer next needs ``tick(now)``, and a nudge when something moved between ticks.

**Changed** (issue 18): the engine's ticker called ``tick`` ten times a second whatever happened, and an
idle node spent most of its CPU on those ticks (and the status hooks and the pump after each). Now it
sleeps until :meth:`Deadlines.next_deadline` (the next heartbeat or anti-entropy round, a peer's presence
expiring, the end of the settle period, a triggered beat, a held initial sync to release, a coalesced
step 1 reply), or until :attr:`on_moved` is called: when something a tick or the status hooks act on moved
between ticks (a peer said something new, a link came or went, events wait for the pump, news waits to be
passed on, a step 1 reply waits, the relay layer told something). A heartbeat that only repeats itself
moves nothing, so in a quiet venue a node ticks about once a heartbeat period (**Changed** (issue 18,
beats): the election's periodic look is on the heartbeat's tick; it was its own deadline, a period after
the last election, and once a change between beats had moved it an idle node ticked twice a period for
good). The deadlines are exact, so
a silent peer is found gone no later than before (silent failover, docs/architecture.md (Relay and
console)); a session's hello and idle timeouts are looked at on the next tick, at most a heartbeat
period late (they are seconds long and only ever close a link later, never sooner).

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from meshpos.sync._config import SyncConfig
from meshpos.sync._events import SyncEvent
from meshpos.sync._presence import PresenceTable
from meshpos.sync._session import Session
from meshpos.sync._spread import TRIGGER_SPACING
from meshpos.sync._states import EXCHANGING

#: a presence deadline is "older than the timeout" (strictly): look just after it
_AFTER = 0.001


class Deadlines:
    """The next time ``tick`` has something to do (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    _presence: PresenceTable
    _sessions: dict[str, Session]
    _held: dict[str, float]
    _events: list[SyncEvent]
    _started_at: float | None
    _next_heartbeat: float
    _next_anti_entropy: float
    _trigger: bool
    _triggered_at: float
    _elected_at: float
    _linger_due: float | None
    #: called (without arguments) when something moved that the next tick or the status hooks act
    #: on; the engine's ticker sets it to wake itself (None: nobody sleeps on it, as in tests)
    on_moved: Callable[[], None] | None
    #: called (without arguments) when events were drained: only the status hooks, which run after
    #: the pump in the engine's round, have something to look at (None: ``on_moved`` is called).
    #: **Changed** (issue 18, rounds): the ticker's own pump drains most received receipts, and its
    #: wake then asked for a second whole round (tick, pump, hooks) a period later, for nothing
    on_drained: Callable[[], None] | None = None
    #: the clock ``tick`` is given, to stamp what arrives between ticks (None: the last tick's time)
    clock: Callable[[], float] | None
    #: (issue 18, idle) the wall clock's seconds less ``tick``'s clock's, now: heartbeats and
    #: anti-entropy rounds fall on the wall clock's whole periods (``_on_grid``). None: a period after
    #: the last, as with simulated time
    wall_offset: Callable[[], float] | None = None
    _moved_for: tuple[int, int, int]

    if TYPE_CHECKING:

        @property
        def status_version(self) -> tuple[int, int, int]: ...

    def next_deadline(self) -> float:
        """The earliest time (on ``tick``'s clock) at which ``tick`` has something due; -inf before
        the first tick or when something is due now. Never later than the next heartbeat."""
        if self._started_at is None:
            return float("-inf")
        config = self.config
        due = min(self._next_heartbeat, self._next_anti_entropy)  # (the election looks at beats)
        settle = self._started_at + config.settle_heartbeats * config.heartbeat_interval
        if self._elected_at < settle:
            due = min(due, settle)
        if self._trigger:
            due = min(due, self._triggered_at + TRIGGER_SPACING)
        if self._linger_due is not None:  # (``_lingering``) a local update held may wait no longer
            due = min(due, self._linger_due)
        expiry = self._presence.next_expiry()
        if expiry is not None:
            due = min(due, expiry + _AFTER)
        if self._held:
            due = min(due, min(self._held.values()) + 2 * config.heartbeat_interval + _AFTER)
        interval = config.session.reply_interval
        for session in self._sessions.values():
            if session.state not in EXCHANGING:
                continue
            for reply in session.replies.values():
                if reply.waiting is not None:
                    due = min(due, reply.at + interval)
        return due

    def _beat_after(self, now: float) -> float:
        """When the heartbeat after the one due now is due: a period after it, or on the grid."""
        interval = self.config.heartbeat_interval
        return self._on_grid(max(self._next_heartbeat + interval, now), interval, now)

    def _first_round(self, now: float) -> float:
        """When the first anti-entropy round is due, at the start (``tick``'s first call)."""
        interval = self.config.anti_entropy_interval
        return self._on_grid(now + interval, interval, now)

    def _round_after(self, now: float) -> float:
        """When the anti-entropy round after the one due now is due (as ``_beat_after``)."""
        interval = self.config.anti_entropy_interval
        return self._on_grid(max(self._next_anti_entropy + interval, now), interval, now)

    def _on_grid(self, due: float, interval: float, now: float) -> float:
        """``due``, or the last whole ``interval`` of the wall clock before it if that is still
        after ``now``: never later than ``due``, so a peer hears from this node no less often.

        **Changed** (issue 18, idle): every node beat a period after its own start, so the beats
        of a node's four links came in at four moments of each second and its own tick at a fifth:
        five wake-ups of a process that has nothing else to do, each paying for cold caches and a
        round of the event loop. On the wall clock's grid a node's beats go out, and its peers'
        come in, at about one moment of the second (devices that keep time by NTP: within a few
        ms); a device whose clock is off beats at another phase, as every node did before.
        """
        offset = self.wall_offset
        if offset is None:
            return due
        shift = offset()
        aligned = math.floor((due + shift) / interval) * interval - shift
        return aligned if now < aligned <= due else due

    def _nudge(self) -> None:
        """Something the next tick or the status hooks act on moved: wake whoever sleeps on it."""
        self._moved_for = self.status_version
        if self.on_moved is not None:
            self.on_moved()

    def _nudge_drained(self) -> None:
        """Events were drained: the status hooks look at what the pump reports (``on_drained``; the
        whole round, ``on_moved``, if the status version moved unnudged since)."""
        version = self.status_version
        moved, self._moved_for = version != self._moved_for, version
        wake = self.on_moved if moved or self.on_drained is None else self.on_drained
        if wake is not None:
            wake()

    def _nudge_if_moved(self, session: Session) -> None:
        """After a session's messages were handled: nudge if they moved anything (a repeated
        heartbeat moves nothing)."""
        version = self.status_version
        moved, self._moved_for = version != self._moved_for, version
        if self.on_moved is not None and (
            moved
            or self._events
            or self._trigger
            or any(reply.waiting is not None for reply in session.replies.values())
        ):
            self.on_moved()
