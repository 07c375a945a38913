"""What wakes the engine's ticker, and for what (``Engine.start_ticking``, ``sync/_deadlines.py``).

**Changed** (issue 18, rounds): one ``asyncio.Event`` woke the ticker for anything, and the ticker's own
pump set it: draining a received receipt's events (``Synchronizer.events_received``) asked for the status
hooks to look, and they were about to, in the same round, right after that pump. So every receipt cost a
device two whole rounds (the synchronizer's tick, a pump check, the status hooks, the relay's and the
days' hooks), the second a period later with nothing new. Now a wake says what it is for: ``tick`` (the
synchronizer has something due or something moved that the tick acts on: ``on_moved``) or ``look``
(events were drained: only the hooks after the pump have something to look at: ``on_drained``). A round
forgets ``look`` just before its after hooks (they see every drain before them, the round's own pump's
included) and ``tick`` at its start, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Wake:
    """The ticker's reasons to run another round, and the event it sleeps on."""

    __slots__ = ("event", "look", "tick")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.tick = False  # the synchronizer's tick (and everything after it) is wanted
        self.look = False  # events were drained since the after hooks last looked

    def round(self) -> None:
        """Something the tick or the hooks act on moved (``Synchronizer.on_moved``), or time is up."""
        self.tick = True
        self.event.set()

    def hooks(self) -> None:
        """Events were drained (``Synchronizer.on_drained``): the after hooks have something new."""
        self.look = True
        self.event.set()

    async def rest(self, period: float, deadline: Callable[[], float], longest: float) -> None:
        """After a round: until the next is wanted (:meth:`round`, :meth:`hooks`) or due (the
        synchronizer's ``deadline``, at the latest ``longest`` on), and at least ``period`` (a burst
        of news is taken in one round).

        **Changed** (issue 18, idle): the ticker slept ``period`` after every round and only then
        looked at what was due: an idle node woke once more a second for that look alone."""
        loop = asyncio.get_running_loop()
        ended = loop.time()
        if not (self.tick or self.look):
            delay = max(period, min(deadline() - ended, longest))
            self.event.clear()
            # (not ``wait_for``: in 3.11 it can swallow the stop's cancellation)
            timer = loop.call_later(delay, self.round)
            try:
                await self.event.wait()
            finally:
                timer.cancel()
        rest = ended + period - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
