"""Whether the console hears this venue now, as a strict node can tell from the console's signed word.

docs/architecture.md (Status), docs/architecture.md (Security). **Changed** (issue 18, fresh): a register was green
when the elected relay's heartbeat claimed the role with ``uplink`` and no ``problem``: any enrolled
device (a real certificate, a real TLS link) could claim that, and every register showed "data flows
to the console" while nothing reached it. A *strict* node (``_signed``: it takes the console's word
only as the console signed it) now needs evidence only the console can give:

* **heard**: a checked statement newer than the one before arrived within ``console_fresh_s`` (the
  console signs again at least every ``console_resign_s``, also when nothing moved: since issue 18,
  tick, by a tick naming its latest statement, ``_tick``, counted here alike). Judged on this
  node's monotonic clock, never by comparing the statement's time ``at`` (the console's wall clock)
  with ours: the two clocks may be minutes apart. ``at`` is used only for differences: the most the
  console's clock was ahead of ours on a statement's arrival (its *lead*, the best path seen) tells
  how late a statement came, so a relay that holds statements back and drip-feeds them is judged by
  their age, not by their arrival: the age of the latest is ``now - (at - lead)``, at least the time
  since it arrived. The lead is the best of the last two windows (``LEAD_WINDOW``), so a console
  whose clock steps back is forgiven within two windows (pessimistic meanwhile: yellow).
* **taken**: this node's own changes are covered by the console's signed state vector within
  ``upload_bound_s`` (honest upload latency is ~1 s; the bound is 30 s: a burst or a relay handing
  over must never flap an honest venue, and a relay that passes the console's word on but withholds
  this node's data is named within half a minute). Only this node's own writes (its client id) are
  judged: what it holds of others is theirs to judge, and a peer it cannot reach says nothing here.
  While the console's word of them rises (a catch-up on its way) the message says so instead of
  naming the relay as the cause: yellow either way.

What a relay can still fake (an enrolled device cannot sign): it can delay the console's statements
by what it held back since this node's lead window began, and only while this node has no change
older than ``upload_bound_s`` that the console's word does not cover, that is, an idle register stays
green up to that delay after the console stopped hearing the venue; a sale turns it yellow within
``upload_bound_s`` whatever the relay does. Non-strict nodes (a console without a key, N−1 venues)
are judged as before: by the relay's claim.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from pycrdt import Doc

from meshpos.sync._messages import Hello
from meshpos.sync._rules import may_write
from meshpos.sync._updates import held_clocks

#: seconds over which the console's lead (``at`` minus our clock on arrival) is kept as the best
LEAD_WINDOW = 300.0
#: seconds between two snapshots of this node's own clocks (``upload_bound_s`` / this are kept)
SNAPSHOT_EVERY = 1.0


class _Bounds(Protocol):
    @property
    def console_fresh_s(self) -> float: ...

    @property
    def upload_bound_s(self) -> float: ...


class ConsoleHeard:
    """The evidence a strict node has that the console hears the venue now, and what it shows when
    it has none (``problem``: "" while it has). Fed by ``_passing._take_signed`` (``statement``) and
    judged at every heartbeat (``judge``), which tells when ``problem`` moved (the status moves)."""

    def __init__(self) -> None:
        self.problem = ""
        self._at: float | None = None  # the latest statement's ``at``, seconds (console's clock)
        self._lead = float("-inf")  # this window's best lead, and the one before
        self._lead_before = float("-inf")
        self._window_ends: float | None = None
        self._own: deque[tuple[float, dict[str, int]]] = deque()  # (when, document -> own clock)
        self._taken = (
            0  # the console's clocks of this node's writes, summed, and when they last rose
        )
        self._taken_rose = float("-inf")

    def statement(self, at_ms: int, now: float) -> None:
        """A checked statement newer than every one before arrived at ``now`` (monotonic)."""
        at = at_ms / 1000
        if self._window_ends is None or now >= self._window_ends:
            self._lead_before, self._lead = self._lead, float("-inf")
            self._window_ends = now + LEAD_WINDOW
        self._lead = max(self._lead, at - now)
        self._at = at

    def age(self, now: float) -> float | None:
        """How old the latest statement is by the best path seen (None: none arrived)."""
        if self._at is None:
            return None
        return now - (self._at - max(self._lead, self._lead_before))

    def judge(
        self,
        bounds: _Bounds,
        now: float,
        relay: str | None,
        me: Hello,
        docs: Mapping[str, Doc[Any]],
        console: Mapping[str, Mapping[int, int]],
    ) -> bool:
        """Judge at ``now`` by ``bounds`` (``SyncConfig``): ``me`` is this node's hello (its
        client id, its role), ``docs`` its open documents, ``console`` the console's signed state
        vectors. True when ``problem`` moved."""
        client = me.client_id
        own = {n: held_clocks(d).get(client, 0) for n, d in docs.items() if may_write(me.role, n)}
        taken = sum(console.get(doc, {}).get(client, 0) for doc in own)
        if taken > self._taken:  # (a catch-up on its way is said so, not blamed on the relay)
            self._taken_rose = now
        self._taken = taken
        snapshots = self._own
        if not snapshots or now - snapshots[-1][0] >= SNAPSHOT_EVERY:
            snapshots.append((now, dict(own)))
        while len(snapshots) >= 2 and now - snapshots[1][0] >= bounds.upload_bound_s:
            snapshots.popleft()
        age = self.age(now)
        problem = ""
        if age is None or age > bounds.console_fresh_s:
            problem = (
                f"the console has not confirmed for over {bounds.console_fresh_s:.0f} s that it "
                f"hears this venue ({_relay_words(relay, me.node)})"
            )
        elif now - snapshots[0][0] >= bounds.upload_bound_s and any(
            clock > console.get(doc, {}).get(client, 0)
            for doc, clock in snapshots[0][1].items()
            if doc in own
        ):
            problem = f"this device's data of over {bounds.upload_bound_s:.0f} s ago is not at the console"
            if now - self._taken_rose < bounds.upload_bound_s / 3:
                problem += f" yet; it is on its way ({_relay_words(relay, me.node)})"
            elif relay == me.node:
                problem += " though this device is the relay: check its console link"
            elif relay is not None:
                problem += (
                    f": the relay {relay} passes the console's word on but not this device's "
                    f"data; check {relay} or restart it"
                )
        moved = problem != self.problem
        self.problem = problem
        return moved


def _relay_words(relay: str | None, me: str) -> str:
    if relay is None:
        return "no relay"
    return "this device is the relay" if relay == me else f"the relay is {relay}"
