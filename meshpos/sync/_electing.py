"""The relay election as this node runs it: when to elect again, and what it does with the result.

docs/architecture.md (Relay and console). Split from ``_heartbeats`` (which keeps what the beats tell
and learn) when the twenty-second session's stall words (``_stalls``) would have put it over the
structure test's 500 lines; behaviour unchanged. A mixin of
:class:`~meshpos.sync._synchronizer.Synchronizer` through ``_heartbeats.Heartbeats``, which owns the
state named below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshpos.sync._config import SyncConfig
from meshpos.sync._election import Candidate, elect
from meshpos.sync._events import RelayChanged, SyncEvent


class Electing:
    """Elects the venue's relay again when the view may have changed (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    priority: int
    _events: list[SyncEvent]
    _started_at: float | None
    _uplink: bool
    _relay_claim: bool
    _relay: str | None
    _trigger: bool
    _heard_candidates: bool
    _elected_for: tuple[object, ...]  # what the election last ran on, and when (``_elect``)
    _elected_at: float

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        @property
        def status_version(self) -> tuple[int, int, int]: ...

        def candidates(self) -> list[Candidate]: ...

        def _say(self) -> None: ...

    def _elect(self, now: float, beating: bool) -> None:
        """Elect again when the view may have changed: a node came, went or said something new
        (``status_version``), this node's uplink or claim moved, the settle period ended; and on
        every heartbeat's tick (``beating``: a far candidate drops out when its record goes stale,
        which no version says). It ran on every tick (10 a second), building every candidate of the
        venue each time. **Changed** (issue 18, beats): the periodic look was a heartbeat period
        after the last election, which a change between beats set apart from the heartbeat's tick,
        and an idle node then ticked twice a period (the engine's whole round each time)."""
        assert self._started_at is not None
        settle = self.config.settle_heartbeats * self.config.heartbeat_interval
        settled = now - self._started_at >= settle
        inputs = (self.status_version, settled, self._heard_candidates)
        if inputs == self._elected_for and not beating:
            return
        self._elected_for, self._elected_at = inputs, now
        # a topology peer's first beat names the best candidates (``_spread``): the view is whole
        if not settled and not self._heard_candidates:
            return  # still learning who is out there: no opinion, no claim
        view = self.candidates()
        view.append(Candidate(self.node_id, self.priority, self._uplink, self._relay_claim))
        relay = elect(view)
        if (
            relay == self.node_id
            and not self._relay_claim
            and not settled
            and not self._orphaned(view)
        ):
            # adopt a claim heard at once, but make none: a peer's first beat (an N−1 one above all,
            # which names no candidates) may not have come yet, and a restarted register that claimed
            # here took the role from the venue's running relay on every restart (the mixed-version
            # test's relay moves failed 3 runs in 8 on it)
            return
        if (relay == self.node_id) != self._relay_claim:
            self._say()
        self._relay_claim = relay == self.node_id
        if relay != self._relay:
            self._say()
            self._trigger = True  # tell the mesh now, not at the next beat (``_spread``)
            self._relay = relay
            self._events.append(RelayChanged(relay, self._relay_claim))

    def _orphaned(self, view: list[Candidate]) -> bool:
        """Has the relay this node adopted stopped claiming (it died, went silent or lost its
        uplink)? Then a node still in its settle period may claim at once: it has heard the venue's
        relay, so its view is not a newcomer's, and the settled nodes elect in the same way (a
        survivor that had just started waited out the whole settle period: ``bench upload``'s
        ``failover_closed_s`` was 2.2 s)."""
        adopted = self._relay
        return (
            adopted is not None
            and adopted != self.node_id
            and not any(c.node == adopted and c.uplink and c.relay_claim for c in view)
        )
