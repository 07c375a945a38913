"""Taps that may wait, and the one sync of commits made without an fsync (a mixin of the Engine;
issue 18, coalesce, durable, received; docs/architecture.md (Durability)).

:meth:`~meshpos.engine.engine.Engine.write` with ``wait_ms`` runs its change with the synchronizer's
``linger_until`` set: committed as always, its update held (``sync/_lingering.py``) until the
earliest deadline of what is held, timed here with ``loop.call_at``, or an urgent write.

A pump round of nothing but taps that still wait, or on a node (it forwards before the commit; not
the console, nor while closing) of received updates with nothing but such taps besides, is committed
without an fsync (``fsync=False``: it survives a crash of the process, not a power cut; received ones
are durable at their authors). Every other commit is fsync'd, which covers every commit before it.

**Changed** (issue 18, review): **the one rule.** Commits without an fsync are counted
(``_unsynced``) and ``_covered`` says how many of them the last fsync covered. One
:meth:`DocumentStore.sync` (a task of its own: no tap waits for it) is timed for the earliest
deadline that needs one: taps that left by their deadline uncovered (at once), a received round
(``RECEIVED_SYNC_LATEST`` after it, or ``RECEIVED_SYNC_DELAY`` after a message began to wait for
it: one fsync for the window). What it covered is ``synced`` (``sync/_commits.py``): only then may
this device tell a peer it holds a received round. (Before: two syncs, the taps' one marking
nothing, so a received round waited for a second.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from meshpos.engine.stores import DocumentStore
from meshpos.errors import MeshposError
from meshpos.sync import Synchronizer

T = TypeVar("T")
log = logging.getLogger("meshpos.engine")

# How long a message that says what this device holds (a heartbeat, a step 1 or 2) waits for the
# fsync of a received round committed without one: one fsync per window for every device's receipts
# instead of one per round, short beside a heartbeat's period and the failover's seconds.
RECEIVED_SYNC_DELAY = 0.05
# How long a received round waits for its fsync when no message waits for it. **Changed** (issue 18,
# recv): was RECEIVED_SYNC_DELAY after every round, so at a venue's rate (a receipt every 200 ms)
# every device fsync'd every receipt, though what that fsync lets out (its attestations, on the next
# heartbeat) leaves once a second; now the heartbeat that waits for it asks (``_sync_if_wanted``).
# Nothing is owed to anyone meanwhile: the round is durable at its author, and survives a kill -9 here.
RECEIVED_SYNC_LATEST = 1.0


class Lingers:
    """A write's update that may wait, timed, and the one sync of what was committed without an
    fsync (a mixin of ``Engine``)."""

    sync: Synchronizer
    store: DocumentStore
    _early: bool  # a node: forwards before the commit (the console commits every round fsync'd)
    closing: bool
    _done: int
    _lingers: asyncio.TimerHandle | None = None  # when what is held must leave
    # Positions in one count, the commits appended without an fsync (counted as each is queued: a
    # sync asked for after that is queued after it, ``Store.sync``, so covers it):
    _unsynced = 0
    _covered = 0  # ... of them the last fsync covered
    _taps = 0  # ... the last of nothing but taps that wait
    _released = 0  # ... the last of those whose taps left by their deadline: synced at once
    _withheld = 0  # ... the last that held received updates: said held only once covered
    _syncing: asyncio.TimerHandle | asyncio.Task[None] | None = None  # the one sync: timed, running
    _due: float | None = None  # when the next sync is owed (a received round's, or released taps')

    if TYPE_CHECKING:

        def _flush(self) -> None: ...

    def _change(self, change: Callable[[], T], wait_ms: float) -> T:
        """Run ``change``; its update may wait ``wait_ms``, and what waits is timed."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_ms / 1000 if wait_ms > 0 else None
        try:  # (one that may not wait: its updates leave together as it ends, sync/_lingering.py)
            with self.sync.writing(until):
                return change()
        finally:
            self._linger_timer(loop)

    @contextmanager
    def lazily(self, seconds: float, at_most: int) -> Iterator[None]:
        """The updates made inside may wait ``seconds`` on their own, even through a write that may
        not wait (``sync/_lingering.py``: lazily; a receipt number's mark, register/numbering.py);
        committed as always."""
        loop = asyncio.get_running_loop()
        try:
            with self.sync.lazily(loop.time() + seconds, at_most):
                yield
        finally:
            self._linger_timer(loop)

    async def _append(
        self, batch: list[tuple[str, bytes, bool]], meta: Mapping[str, str] | None
    ) -> None:
        """Commit ``batch`` (document, update, local): without an fsync when every local update in
        it is a tap that waits now and, with received ones, on a node that is not closing."""
        rows = [(doc, update) for doc, update, _ in batch]
        held, received = self.sync.holds, not all(local for _, _, local in batch)
        waits = all(not local or held(doc, update) for doc, update, local in batch)
        if not batch or not waits or (received and (not self._early or self.closing)):
            await self.store.append(rows, meta)
            self._covered = self._unsynced  # (appends are one at a time: this fsync covered them)
            return
        self._unsynced = at = self._unsynced + 1
        if not received:
            self._taps = at
        await self.store.append(rows, meta, fsync=False)
        if received:  # (with its taps, if any: they leave with the window's sync at the latest)
            self._withheld = at
            self._sync_within(RECEIVED_SYNC_LATEST)  # (sooner once a message waits for it)

    @property
    def _synced(self) -> bool:
        """Whether every received round committed so far is fsync'd (``sync._commits``: ``synced``)."""
        return self._covered >= self._withheld

    @property
    def _owed(self) -> int:
        """The last commit without an fsync owed a sync: a received round, or released taps."""
        return max(self._withheld, self._released)

    def _sync_within(self, delay: float) -> None:
        """The one sync is owed within ``delay`` seconds: timed for the earliest such deadline (one
        under way times the next as it ends)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._due is not None and self._due <= due:
            return
        self._due = due
        if isinstance(self._syncing, asyncio.TimerHandle):
            self._syncing.cancel()
        if not isinstance(self._syncing, asyncio.Task):
            self._syncing = loop.call_at(due, self._sync_now)

    def _sync_if_wanted(self) -> None:
        """A message waits for what a sync owes (``sync._commits`` ``Commits.wanted``): that sync
        within RECEIVED_SYNC_DELAY (a received round's own deadline is RECEIVED_SYNC_LATEST). Closing
        too: the goodbyes wait for it, and the links close once they are out."""
        commits = self.sync.commits
        if commits is not None and commits.wanted > commits.synced and self._covered < self._owed:
            self._sync_within(RECEIVED_SYNC_DELAY)

    def _sync_now(self) -> None:
        self._due = None  # (what is owed by now, this sync covers)
        self._syncing = asyncio.create_task(self._sync(), name="engine sync")

    async def _sync(self) -> None:
        """Fsync what was committed without one, mark it synced and let out what waited for it."""
        upto, drain, failed = self._unsynced, self._done, False
        try:
            if self._covered < self._owed:  # (else an fsync'd commit covered it since: a payment)
                await self.store.sync()  # (queued after every append before it: covers them)
            else:
                upto = self._covered  # (taps that still wait are not synced for nothing)
        except MeshposError as exc:  # (closing: its close syncs; else tried again)
            (log.debug if self.closing else log.warning)("cannot sync the last commits (%s)", exc)
            upto = drain = 0
            failed = True
        self._syncing, due, self._due = None, self._due, None
        self._covered = max(self._covered, upto)
        self.sync.mark_committed(drain)  # (committed already: now synced too)
        if self._synced:
            self.sync.mark_committed(self._done)
        if not self.closing and self._covered < self._owed:  # owed meanwhile (or it failed)
            now = asyncio.get_running_loop().time()
            self._sync_within(RECEIVED_SYNC_DELAY if failed or due is None else due - now)
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
            self.sync.release_due(loop.time() + 0.001)
            self._flush()  # (what waits for a commit leaves with it)
            if self.sync.linger_due is not None:  # (the others: taps or lazy updates, later)
                self._linger_timer(loop)
        elif due is not None:
            self._linger_timer(loop)
            return
        if self._taps > self._covered:  # left by its deadline (or its urgent write's commit failed)
            self._released = self._taps
            self._sync_within(0)
