"""A kitchen screen acknowledges the tickets it holds (docs/architecture.md (Documents)).

A kds writes ``held/<ticket id>/<its id>`` into the kitchen document for every ticket it has, and only
after the engine committed the update that brought it (the ``Committed`` event): so a register that reads
"held by K1" is never told more than the truth. A register warns when a ticket it sent is held by no
screen ``KITCHEN_ACK_MS`` after it was sent (``meshpos.model.kitchen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from meshpos.engine import Committed, Engine, EngineEvent
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.documents import day_of, is_kitchen, kitchen_name

log = logging.getLogger("meshpos.node")


class KitchenAcks:
    """Runs on a kds only: after each commit touching a kitchen day, acknowledges its new tickets."""

    def __init__(self, engine: Engine, venue: Venue, now_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._venue = venue
        self._now_ms = now_ms
        self._pending: set[str] = set()  # kitchen days with tickets maybe not acknowledged yet
        self._task: asyncio.Task[None] | None = None
        self._failed: set[str] = set()  # days whose failure was logged (logged once per day)
        engine.subscribe(self._on_event, Committed)

    def start(self) -> None:
        """Acknowledge what the store brought (a kds restarted before it wrote its acknowledgements)."""
        self._pending.update(day_of(n) for n in self._engine.sync.docs if is_kitchen(n))
        self._kick()

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, Committed):
            days = {day_of(n) for n in event.updates if is_kitchen(n)}
            if days:
                self._pending |= days
                self._kick()

    def _kick(self) -> None:
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._pending:
            date = self._pending.pop()
            try:
                if kitchen_name(date) not in self._engine.sync.docs:
                    continue  # closed meanwhile: never load a day to acknowledge it
                if self._venue.kitchen(date).unheld(self._venue.device):
                    await self._engine.write(self._acknowledge(date))
            except MeshposError as exc:  # a day closed meanwhile, a corrupt ticket: retried later
                if date not in self._failed:
                    self._failed.add(date)
                    log.warning("kitchen day %s: cannot acknowledge tickets: %s", date, exc)
            except Exception:  # a bug must not end the acknowledgements: logged once, tried again
                if date not in self._failed:
                    self._failed.add(date)
                    log.exception("kitchen day %s: cannot acknowledge tickets", date)

    def _acknowledge(self, date: str) -> Callable[[], int]:
        return lambda: self._venue.acknowledge_tickets(date, self._now_ms())

    async def stop(self) -> None:
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
