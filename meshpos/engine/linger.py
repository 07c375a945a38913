"""The engine's side of taps that may wait (issue 18, coalesce; docs/architecture.md (Links)).

:meth:`~meshpos.engine.engine.Engine.write` with ``wait_ms`` runs its change with the synchronizer's
``linger_until`` set, so the update is committed as always but held (``sync/_lingering.py``); here the
earliest deadline of what is held is timed with ``loop.call_at`` (no sleep loop), and when it passes
what is held is sent. A mixin of :class:`~meshpos.engine.engine.Engine`.

**Changed** (issue 18, durable): a commit of nothing but such held updates is not fsync'd
(``DocumentStore.append(fsync=False)``: SQLite's ``synchronous=NORMAL``; it survives a crash of the
process, not a power cut). Whatever else commits is fsync'd, which covers every commit before it: the
payment, kitchen send, shift or cash that takes the held updates along makes them durable with it.
When they leave by their deadline instead, what was committed unsynced is fsync'd then
(:meth:`DocumentStore.sync`, a task of its own: no tap waits for it). See
docs/architecture.md (Durability).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from meshpos.engine.stores import DocumentStore
from meshpos.errors import MeshposError
from meshpos.sync import Synchronizer

T = TypeVar("T")
log = logging.getLogger("meshpos.engine")


class Lingers:
    """A write's update that may wait, timed (a mixin of ``Engine``)."""

    sync: Synchronizer
    store: DocumentStore
    _lingers: asyncio.TimerHandle | None = None  # when what is held must leave
    _unsynced = False  # an append without an fsync since the last one with (or ``_sync``)
    _syncing: asyncio.Task[None] | None = None

    if TYPE_CHECKING:

        def _flush(self) -> None: ...

    def _change(self, change: Callable[[], T], wait_ms: float) -> T:
        """Run ``change``; its update may wait ``wait_ms``, and what waits is timed."""
        loop = asyncio.get_running_loop()
        if wait_ms > 0:
            self.sync.linger_until = loop.time() + wait_ms / 1000
        try:
            return change()
        finally:
            self.sync.linger_until = None
            self._linger_timer(loop)

    async def _append(
        self, batch: list[tuple[str, bytes, bool]], meta: Mapping[str, str] | None
    ) -> None:
        """Commit ``batch`` (document, update, local): without an fsync only when every update in it
        is a local write's that waits now (a received one, one already sent: fsync'd as before)."""
        rows = [(doc, update) for doc, update, _ in batch]
        held = self.sync.holds
        if batch and all(local and held(doc, update) for doc, update, local in batch):
            self._unsynced = True  # (first: a deadline passing during the commit syncs it)
            await self.store.append(rows, meta, fsync=False)
        else:
            await self.store.append(rows, meta)
            self._unsynced = False  # (appends are one at a time: this fsync covered them)

    def _linger_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        """The earliest deadline of what waits is timed (``_linger_ended`` sends it then)."""
        due = self.sync.linger_due
        if due is not None and (self._lingers is None or self._lingers.when() > due):
            if self._lingers is not None:
                self._lingers.cancel()
            self._lingers = loop.call_at(due, self._linger_ended)

    def _linger_ended(self) -> None:
        self._lingers = None
        loop = asyncio.get_running_loop()
        due = self.sync.linger_due
        if due is not None and due <= loop.time() + 0.001:  # (a timer may fire a little early)
            self.sync.release_lingering()
            self._flush()  # (what waits for a commit leaves with it)
        elif due is not None:
            self._linger_timer(loop)
            return
        if self._unsynced:  # left by its deadline (or its urgent write's commit failed)
            self._unsynced = False
            self._syncing = asyncio.create_task(self._sync(), name="engine sync")

    async def _sync(self) -> None:
        """Fsync what was committed without one (off every tap's path)."""
        with contextlib.suppress(MeshposError):  # (the store is closing: its close syncs)
            await self.store.sync()
