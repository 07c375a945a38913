"""A node's own stall is not its peers' death (issue 18, the twenty-first session, part ``stall``).

docs/architecture.md (Relay and console). A peer is gone once ``timeout`` (2.5 heartbeat periods) passes
without its heartbeat (``_presence.PresenceTable``), and a far record once it is not refreshed for
longer (``FarTable.expire``); a link closes after its idle timeout (``Session.tick``). Those times
were the node's own clock's: when the node's loop did not run (a GC pause, a slow disk, a laptop
suspended, two CPUs shared by fifty devices), it read none of the heartbeats waiting in its
sockets, and on its first tick after the stall it found every peer silent, marked live peers gone,
signed gone notices (``_notices``) and closed its links: the ring shifted and links were redialled
across the venue, a cascade under saturation (docs/benchmarks.md, twentieth session, part
``fifty``).

**Changed** (issue 18, stall): when the node runs again later than it was due (its next heartbeat,
or a peer's presence expiry, whichever came first: the ticker sleeps at most till then,
``_deadlines``) by more than :data:`STALL_PERIODS` of a heartbeat period, the time past that due
moment is a stall of its own: every presence deadline that was running then (direct peers' last
heartbeat, far records' freshness and their claimants' renewals, the links' hello and idle
timeouts) moves by the stall, before anything expires and before what came is read. So a peer is
dropped only after a full ``timeout`` of the node's own running time without its heartbeat (the
heartbeats waiting in the sockets are read first), and a real death is still found within
``timeout`` of running time: a node that runs on time moves nothing (silent failover as before).
What the node shows is no more optimistic for it: the peers it shows present are those it had no
running time to find silent, and the console's freshness (``_fresh``) is not moved at all.

A link the peer closed because *it* timed this node out (its goodbye says ``peer_timeout``: it was
alive to say so) is not the peer's death either: this node forgets the link (``_spread._link_lost``)
and signs no notice; the peer signs this node gone, truly (it was silent), and this node's next
records take that back.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from meshpos.errors import PeerTimeout
from meshpos.sync._config import SyncConfig
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._session import Session
from meshpos.sync._states import SessionClosed

log = logging.getLogger("meshpos.sync")

#: lateness, in heartbeat periods, that is a stall of the node's own (less: the loop's ordinary lag
#: under load, which counts as running time, so a node that runs finds a death as before)
STALL_PERIODS = 0.5
#: how a peer's goodbye begins when it timed this node out (``Session.abort``'s ``Bye``)
_TIMED_US_OUT = f"peer said bye: {PeerTimeout.code}:"


def timed_us_out(closed: SessionClosed) -> bool:
    """Whether the peer closed the link because this node was silent to it (alive, then)."""
    return closed.by_peer and closed.reason.startswith(_TIMED_US_OUT)


class Stalls:
    """The node's own stalls found and taken out of the presence deadlines (a mixin of
    ``Synchronizer``, which owns the state named below)."""

    config: SyncConfig
    _presence: PresenceTable
    _far: FarTable
    _sessions: dict[str, Session]
    _now: float | None
    _started_at: float | None
    _next_heartbeat: float
    #: stalls found (count, seconds): the status and the benches read them
    stalled: tuple[int, float] = (0, 0.0)

    def _resumed(self, now: float) -> float:
        """``now``, after moving the presence deadlines by the node's own stall before it, if any
        (module docstring): called first by ``tick`` and by ``receive_data`` (with a clock)."""
        last, least = self._now, STALL_PERIODS * self.config.heartbeat_interval
        if last is None or self._started_at is None or now - last <= least:
            return now  # (nearly always: one comparison)
        due = self._next_heartbeat
        expiry = self._presence.next_expiry()
        if expiry is not None and expiry < due:
            due = expiry
        since = max(last, due)
        stall = now - since
        if stall > least:
            self._shift(since, stall)
        return now

    def _shift(self, since: float, stall: float) -> None:
        count, seconds = self.stalled
        self.stalled = (count + 1, seconds + stall)
        log.warning("this device did not run for %.1f s: its peers' silence not counted", stall)
        shift_presence(self._presence, since, stall)
        shift_far(self._far, since, stall)
        for session in self._sessions.values():
            session.shift(since, stall)


def shift_presence(table: PresenceTable, since: float, stall: float) -> None:
    """Each peer last heard at or before ``since`` as if heard ``stall`` later."""
    peers = table._peers
    for node, presence in peers.items():
        if presence.last_seen <= since:
            peers[node] = replace(presence, last_seen=presence.last_seen + stall)


def shift_far(table: FarTable, since: float, stall: float) -> None:
    """Each far record refreshed, and each claimant's word renewed, at or before ``since`` as if
    ``stall`` later (what the election and ``expire`` read)."""
    for far in table._records.values():
        if far.fresh_at <= since:
            far.fresh_at += stall
    renewed = table._renewed
    for node, (at, renews) in renewed.items():
        if at <= since:
            renewed[node] = (at + stall, renews)
