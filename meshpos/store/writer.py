"""The one task that writes: group commit, uncancellable transactions, compaction between bursts.

Why one writer: aiosqlite runs each connection on its own thread, and a task cancelled in the middle
of a transaction leaves the connection inside it (the row then vanished on reopen). So callers never
touch the write connection; they queue work and await a future. The writer takes everything queued
while the previous transaction ran and commits it as one ``BEGIN IMMEDIATE ... COMMIT`` (group
commit): one fsync for many receipts, and no artificial delay when only one caller is waiting.
**Changed** (issue 18, durable): appends that all said ``fsync=False`` commit at
``synchronous=NORMAL`` (no fsync; a crash of the process loses nothing, a power cut may lose them
until the next fsync'd commit or ``sync``); any other transaction at ``synchronous=FULL``. ``sync``
waits only for the writes queued before it to commit (a mark in the queue, passed at once), then
fdatasyncs the WAL on a thread of its own: the writes after it do not wait for that fsync.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from meshpos.errors import StoreError
from meshpos.store.base import StoreStats
from meshpos.store.compacting import Compacting
from meshpos.store.connection import (
    Job,
    Transaction,
    fdatasync_wal,
    let_go,
    new_waiter,
)
from meshpos.store.log_counts import LogCounts
from meshpos.store.merger import Merger
from meshpos.store.queued import Append, Exclusive, Mark

log = logging.getLogger(__name__)

__all__ = ["Job", "Writer", "let_go"]


class Writer(Compacting):
    """Owns the write connection; everything that changes the database goes through ``submit``."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        path: Path,
        stats: StoreStats,
        *,
        compact_rows: int,
        compact_bytes: int,
        max_batch: int,
        merger: Merger,
    ) -> None:
        self.path = path
        self.stats = stats
        self.compact_rows = compact_rows
        self.compact_bytes = compact_bytes
        self.max_batch = max_batch
        self._merger = merger
        self._db = db
        self._reader = reader  # compaction reads here: appends never queue behind a read
        self._queue: collections.deque[Append | Exclusive | Mark] = collections.deque()
        self._wake = asyncio.Event()
        self._due: dict[str, tuple[int, int]] = {}  # over a compaction threshold: (log rows, bytes)
        self._counts = LogCounts()  # each document's id and log counters (store.log_counts)
        # one compaction at a time: none merges what another moved
        self._compacting = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()  # nothing queued, nothing being compacted
        self._quiet.set()
        self.closing = False
        self._parked = False  # the task waits for work, nothing in flight: ``append`` may begin it
        self._started: Transaction | None = None  # begun by ``append``, not yet awaited
        self._synchronous: int | None = 2  # the connection's level (None: unknown, set it again)
        # unsynced commits (``stats.unsynced_transactions``) an fsync has covered: a FULL commit
        # covers every one before it, a ``sync`` those before its mark
        self._covered = 0
        self._task = asyncio.create_task(self._run_writer(), name=f"store-writer {path}")

    def append(
        self, rows: list[tuple[str, bytes]], meta: dict[str, str], fsync: bool = True
    ) -> asyncio.Future[None]:
        """Queue validated rows; the future resolves once they are committed (or failed).
        **Changed** (issue 18, sale): when the writer waits for work with nothing in flight, the
        transaction goes to the connection's thread before this returns, not a loop round later
        when the writer's task has woken (the writer's task then waits for its outcome)."""
        done = new_waiter()
        self._queue.append(Append(rows, meta, done, fsync))
        self._quiet.clear()
        if self._parked and len(self._queue) == 1 and not self.closing:
            self._parked = False
            self._started = self._begin_appends(self._take_appends())
        self._wake.set()
        return done

    def submit(
        self, what: str, job: Job, committed: Callable[[], None] | None = None
    ) -> asyncio.Future[None]:
        """Queue ``job`` to run in a transaction of its own (``committed``: run once it is)."""
        done = new_waiter()
        self._queue.append(Exclusive(what, job, done, committed))
        self._quiet.clear()
        self._wake.set()
        return done

    @property
    def unsynced(self) -> bool:
        """A commit since the last fsync had none."""
        return self.stats.unsynced_transactions > self._covered

    def sync(self) -> asyncio.Future[None]:
        """Fsync the WAL after every write queued before, if a commit since the last fsync had none.
        In WAL mode an fsync of the WAL makes every frame in it durable: what a FULL commit does.
        **Changed** (issue 18, received): the fsync no longer runs as a job in the queue, holding
        the writes queued after it (a seller's taps waited behind it); only a mark waits there."""
        return asyncio.ensure_future(self._sync())

    async def _sync(self) -> None:
        if not self.unsynced and not self._queue and self._parked:
            return
        mark = Mark(asyncio.get_running_loop().create_future())
        self._queue.append(mark)
        self._quiet.clear()
        self._wake.set()
        target = await mark.done
        if target > self._covered:  # (else a FULL commit before the mark covered them)
            await asyncio.to_thread(fdatasync_wal, self.path)
            if target > self._covered:
                self._covered = target
                self.stats.syncs += 1

    async def idle(self) -> None:
        """Wait until everything queued is committed and no compaction is under way."""
        quiet = asyncio.ensure_future(self._quiet.wait())
        try:
            await asyncio.wait([quiet, self._task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            quiet.cancel()

    async def close(self) -> None:
        """Commit everything queued so far, then stop (a compaction under way is dropped: nothing
        of it is written before its last step)."""
        self.closing = True
        self._wake.set()
        background = self._background
        if background is not None and not background.done():
            background.cancel()
            await asyncio.wait([background])
        if not self._task.done():
            await asyncio.wait([self._task])  # a writer that died already told its waiters

    def forget(self, name: str) -> None:
        """``name``'s log changed beside the appends (merged, dropped): its next append counts it."""
        self._counts.forget(name)

    async def _run_writer(self) -> None:
        try:
            await self._write_loop()
        except (
            BaseException
        ) as exc:  # cancelled, or a bug: fail every waiter, never leave it hanging
            if not isinstance(exc, asyncio.CancelledError):
                log.exception("store %s: writer task died", self.path)
            self.closing = True
            self._parked = False
            started, self._started = self._started, None
            if started is not None:  # begun by ``append`` while this task waited: told first
                await started.told.wait()
            error = StoreError(f"the writer of {self.path} stopped ({exc!r}); reopen the store")
            while self._queue:
                waiter = self._queue.popleft().done
                if not waiter.done():
                    waiter.set_exception(error)
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def _write_loop(self) -> None:
        while True:
            self._parked = not self._queue and not self._wake.is_set()  # (nothing in flight)
            await self._wake.wait()
            self._parked = False
            self._wake.clear()
            started, self._started = self._started, None
            if started is not None:  # ``append`` began it while this task waited
                await started.wait()
                self._start_compaction()
            while self._queue:
                await self._commit_next()
                self._start_compaction()  # a burst that never ends still compacts (far over)
            self._start_compaction()
            if not self._queue and (self._background is None or self._background.done()):
                self._quiet.set()
            if self.closing and not self._queue:
                return

    async def _commit_next(self) -> None:
        """Commit the head of the queue (an exclusive job, or the appends queued behind each other).

        A method of its own so that no local of the loop keeps the last job while the writer waits for
        the next: a closed day's job holds its record keys, a whole day of strings."""
        head = self._queue[0]
        if isinstance(head, Mark):  # every write before it is committed: tell ``sync``
            self._queue.popleft()
            if not head.done.done():
                head.done.set_result(self.stats.unsynced_transactions)
        elif isinstance(head, Exclusive):
            self._queue.popleft()
            await self._transaction(head.what, head.job, [head.done], head.committed)
        else:
            started = self._begin_appends(self._take_appends())
            if started is not None:
                await started.wait()

    def _start_compaction(self) -> None:
        """Start merging a document over its threshold, between bursts or when a burst never ends."""
        running = self._background is not None and not self._background.done()
        if running or self.closing or not self._due:
            return
        name = min(self._due)
        if self._queue and not self._far_over(name):
            return
        del self._due[name]
        self._quiet.clear()
        self._background = asyncio.create_task(
            self._compact_in_background(name), name=f"store-compaction {self.path} {name}"
        )

    async def _compact_in_background(self, name: str) -> None:
        try:
            await self.compact(name, full=False)
        except StoreError:
            pass  # logged by the transaction; the log stays, and grows until the next threshold
        except Exception:
            log.exception("store %s: compacting %s failed", self.path, name)
        finally:
            self._wake.set()  # another document may be due

    def _take_appends(self) -> list[Append]:
        batch: list[Append] = []
        while self._queue and len(batch) < self.max_batch:
            head = self._queue[0]
            if not isinstance(head, Append):
                break
            batch.append(head)
            self._queue.popleft()
        return batch

    def _begin_appends(self, batch: list[Append]) -> Transaction | None:
        """One transaction for ``batch``, handed to the connection's thread now. An update as big as the byte threshold on its own (a day
        caught up from a peer, a backlog) goes in as a snapshot segment, not into the log: it is
        already one merged update, and compacting it as log would only rewrite its megabytes (with
        the sales' appends waiting behind that write). Loading reads segments and log alike."""
        by_doc: dict[str, list[bytes]] = {}
        meta: dict[str, str] = {}
        for item in batch:
            for name, data in item.rows:
                by_doc.setdefault(name, []).append(data)
            meta.update(item.meta)  # later callers win, as if committed one after another
        fsync = any(item.fsync for item in batch)  # one that must be fsync'd: all are
        counting = self._counts.counting()

        def job(db: sqlite3.Connection) -> None:
            rows: list[tuple[int, bytes]] = []
            segments: list[tuple[int, bytes]] = []
            for name, datas in by_doc.items():
                small = [data for data in datas if len(data) < self.compact_bytes]
                doc_id = counting.add(db, name, len(small), sum(map(len, small)))
                rows.extend((doc_id, data) for data in small)
                segments.extend((doc_id, data) for data in datas if len(data) >= self.compact_bytes)
            if rows:
                db.executemany("INSERT INTO updates (doc, data) VALUES (?, ?)", rows)
            if segments:  # see _begin_appends
                db.executemany("INSERT INTO snapshots (doc, data) VALUES (?, ?)", segments)
            if meta:
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    list(meta.items()),
                )

        updates = sum(len(datas) for datas in by_doc.values())

        def committed() -> None:  # before the waiters are told
            self.stats.appends += len(batch)
            self.stats.updates += updates
            self.stats.unsynced_transactions += not fsync
            if fsync:  # (it wrote: its fsync covers every commit before it)
                self._covered = self.stats.unsynced_transactions
            for name, (log_rows, log_bytes) in counting.committed().items():
                if log_rows >= self.compact_rows or log_bytes >= self.compact_bytes:
                    self._due[name] = (log_rows, log_bytes)

        return self._begin(
            f"append {updates} update(s) from {len(batch)} caller(s)",
            job,
            [item.done for item in batch],
            committed,
            fsync=fsync,
        )

    def _far_over(self, name: str) -> bool:
        """A log that kept growing through a burst that never paused: compact it now anyway."""
        log_rows, log_bytes = self._due[name]
        return log_rows >= 4 * self.compact_rows or log_bytes >= 4 * self.compact_bytes

    async def let_go(self) -> None:
        """The connection's thread lets go of the last job (a closed day's record keys: a whole day)."""
        await let_go(self._db)

    async def _transaction(
        self,
        what: str,
        job: Job,
        waiters: list[asyncio.Future[None]],
        committed: Callable[[], None] | None = None,
    ) -> None:
        """Run ``job`` in a transaction nobody can cancel halfway; tell each waiter the outcome
        (``committed`` runs first when it is committed). Cancelled, this task still waits until
        the transaction is told, and only then gives up."""
        started = self._begin(what, job, waiters, committed)
        if started is not None:
            await started.wait()

    def _begin(
        self,
        what: str,
        job: Job,
        waiters: list[asyncio.Future[None]],
        committed: Callable[[], None] | None,
        *,
        fsync: bool = True,
    ) -> Transaction | None:
        """Hand the transaction to the connection's thread now (``connection.Transaction``: its
        outcome is told one loop round after it ends); None when the connection is closed (the
        waiters were told: nothing was written). ``fsync``: at ``synchronous=FULL`` (else NORMAL),
        the level set only when it changes."""
        level = 2 if fsync else 1
        change = None if level == self._synchronous else level
        self._synchronous = level
        try:
            return Transaction(
                self._db,
                job,
                lambda exc: self._transaction_done(what, exc, waiters, committed),
                change,
            )
        except Exception as exc:
            self._transaction_done(what, exc, waiters, committed)
            return None

    def _transaction_done(
        self,
        what: str,
        exc: BaseException | None,
        waiters: list[asyncio.Future[None]],
        committed: Callable[[], None] | None,
    ) -> None:
        if exc is not None:
            self._synchronous = None  # (perhaps never set: set it again)
            self.stats.failed_transactions += 1
            log.error("store %s: %s failed: %s", self.path, what, exc)
            error = StoreError(
                f"could not commit to {self.path} ({what}): {exc}; nothing of it was written"
            )
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        self.stats.transactions += 1
        if committed is not None:
            committed()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
