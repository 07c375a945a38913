"""Turns on the console database's one write connection: a relay's batch before a materialisation.

docs/architecture.md (Relay and console): a relay's batch is committed before the console reads its
next message or sends it anything, so a relay hears nothing while its append waits for the write
connection. A materialisation (``write_records``) is what the relays do not wait for (reports follow
the documents), and it held an append up for seconds (4.6 s measured with 60 venues uploading).
Waiting transactions therefore take their turn by rank (:data:`FIRST` before :data:`LATER`), in
arrival order within a rank; a LATER one waiting more than :data:`LATER_WAITS_AT_MOST` seconds takes
the next turn, so the reports never starve while relays upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

FIRST = 0  # a relay's append, an edit, anything someone waits for
LATER = 1  # a materialisation: nobody's heartbeat waits for it
LATER_WAITS_AT_MOST = 1.0  # seconds a LATER transaction yields to FIRST ones before it goes anyway


class WriteTurns:
    """One write transaction at a time (a lock), handed to the waiting one by rank."""

    def __init__(self) -> None:
        self._busy = False
        self._seq = 0
        # (rank, arrival order, since, future): the waiting transactions
        self._waiting: list[tuple[int, int, float, asyncio.Future[None]]] = []

    @contextlib.asynccontextmanager
    async def turn(self, rank: int = FIRST) -> AsyncIterator[None]:
        await self._acquire(rank)
        try:
            yield
        finally:
            self._release()

    def locked(self) -> bool:
        return self._busy

    async def _acquire(self, rank: int) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        self._waiting.append((rank, self._seq, time.monotonic(), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # handed the turn, then cancelled
                self._release()
            raise

    def _release(self) -> None:
        self._waiting = [w for w in self._waiting if not w[3].done()]  # drop cancelled waiters
        if not self._waiting:
            self._busy = False
            return
        now = time.monotonic()
        overdue = [w for w in self._waiting if w[0] == LATER and now - w[2] > LATER_WAITS_AT_MOST]
        if overdue:
            chosen = min(overdue, key=lambda w: w[1])  # the oldest overdue materialisation
        else:
            chosen = min(self._waiting, key=lambda w: (w[0], w[1]))  # rank, then arrival
        self._waiting.remove(chosen)
        chosen[3].set_result(None)  # the turn passes on: still busy
