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

**Changed** (issue 18, received): on a node (forwarding before the commit), a round of received
updates (with or without taps that wait, nothing else) is committed without an fsync too: their
authors hold them durably, so a power cut here loses nothing of the venue (the restart's catch-up
brings them back). What tells a peer this device holds them waits for an fsync: the synchronizer's
``synced`` watermark (``sync/_commits.py``) stays behind such a commit until an fsync'd commit or a
:meth:`DocumentStore.sync`, run ``RECEIVED_SYNC_DELAY`` after it (one fsync for all the received
rounds of that window, in a task of its own).
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

# How long after a received round committed without an fsync the WAL is fsync'd (and this device
# says it holds that round): one fsync per window for every device's receipts instead of one per
# round, short beside a heartbeat's period and the failover's seconds.
RECEIVED_SYNC_DELAY = 0.05


class Lingers:
    """A write's update that may wait, timed (a mixin of ``Engine``)."""

    sync: Synchronizer
    store: DocumentStore
    _lingers: asyncio.TimerHandle | None = None  # when what is held must leave
    _unsynced = False  # an append without an fsync since the last one with (or ``_sync``)
    _syncing: asyncio.Task[None] | None = None
    _early: bool  # a node: forwards before the commit (the console commits every round fsync'd)
    closing: bool
    _done: int
    _received_unsynced = 0  # received rounds committed without an fsync (ever; compared)
    _received_synced = 0  # ... of which the last fsync covered
    _received_sync: asyncio.TimerHandle | asyncio.Task[None] | None = None

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
        elif (
            batch
            and self._early
            and not self.closing
            and all(not local or held(doc, update) for doc, update, local in batch)
        ):  # received updates (and waiting taps): synced soon (those too), said held only then
            await self.store.append(rows, meta, fsync=False)
            self._received_unsynced += 1
            if self._received_sync is None:
                self._received_sync = asyncio.get_running_loop().call_later(
                    RECEIVED_SYNC_DELAY, self._sync_received_soon
                )
        else:
            await self.store.append(rows, meta)
            self._unsynced = False  # (appends are one at a time: this fsync covered them)
            self._received_synced = self._received_unsynced

    @property
    def _synced(self) -> bool:
        """Whether every received round committed so far is fsync'd (``sync._commits``: ``synced``)."""
        return self._received_synced == self._received_unsynced

    def _sync_received_soon(self) -> None:
        self._received_sync = asyncio.create_task(self._sync_received(), name="engine sync")

    async def _sync_received(self) -> None:
        """Fsync the received rounds committed without one, then let out what waited for them."""
        upto, drain = self._received_unsynced, self._done
        try:
            if not self._synced:  # (else an fsync'd commit since covered them: the payment's)
                await self.store.sync()  # (queued after every append before it: covers them)
        except MeshposError as exc:  # (closing: its close syncs; else tried again)
            (log.debug if self.closing else log.warning)("cannot sync received changes (%s)", exc)
            upto = drain = 0
        self._received_synced = max(self._received_synced, upto)
        self._received_sync = None
        self.sync.mark_committed(drain)  # (committed already: now synced too)
        if self._synced:
            self.sync.mark_committed(self._done)
        elif not self.closing:  # a round committed during the fsync (or it failed): again
            self._received_sync = asyncio.get_running_loop().call_later(
                RECEIVED_SYNC_DELAY, self._sync_received_soon
            )
        self._flush()

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
