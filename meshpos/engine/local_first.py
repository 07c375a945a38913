"""A cashier's tap ahead of received work (issue 18, tap; docs/architecture.md (Engine)).

A register's event loop runs everything in the order it became ready. While a tap is in flight
(:meth:`~meshpos.engine.engine.Engine.write`: its change, the round that commits it, the outcome's
hand-back, the flush), every peer's batch that arrives is applied in the same loop, 1-4 ms of CPU
each at 6 registers (each receives the other five's sales), and the tap's next step waits behind
it: the fourteenth session's tap phases put most of a slow sale in ``round``, ``hand_back`` and
``after``, the loop's own waits. So a link's received batch waits until no local write is in flight
(at most :data:`LOCAL_FIRST_MAX`, so a register that is written without pause still hears its
peers), then is applied as always.

Nothing is reordered or dropped: a link's task awaits each batch before it reads the next, so a
link's messages are applied in the order they came, and what one batch waits for is only time.
Received updates are durable at their authors; nothing about them is claimed (held, durability
counts) before they are applied and committed, which is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator

#: the longest a received batch waits for the local writes in flight (a tap is 1-10 ms on a quiet
#: register): what a cashier's tap is worth against a peer's receipt arriving later
LOCAL_FIRST_MAX = 0.025


class LocalFirst:
    """The local writes in flight, and received batches waiting for them (a mixin of ``Engine``)."""

    counters: Counter[str]
    _writing = 0  # local writes in flight
    _writes_done: asyncio.Event | None = None  # set when the last of them ends (made on demand)

    @contextlib.contextmanager
    def _local_write(self) -> Iterator[None]:
        """One local write in flight for the ``with`` block; its end lets waiting batches in."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
            if not self._writing and self._writes_done is not None:
                self._writes_done.set()
                self._writes_done = None

    async def _after_local_writes(self) -> None:
        """Return once no local write is in flight, or after :data:`LOCAL_FIRST_MAX` (counted:
        ``received_behind_writes``, and ``received_behind_writes_timed_out``)."""
        if not self._writing:
            return
        self.counters["received_behind_writes"] += 1
        if self._writes_done is None:
            self._writes_done = asyncio.Event()
        try:
            await asyncio.wait_for(self._writes_done.wait(), LOCAL_FIRST_MAX)
        except TimeoutError:
            self.counters["received_behind_writes_timed_out"] += 1
