"""The store's SQLite connections seen from the event loop: work handed to a connection's own thread.

aiosqlite runs each connection on a thread of its own and answers through a future; the store's
writer needs more than that (docs/architecture.md (Durability)): a transaction that nobody can cancel
halfway and whose outcome comes back to the loop in one round (:class:`Transaction`), and a
connection that lets go of what it last read (:func:`let_go`). Kept apart from ``writer`` so each
reads in one sitting.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite

Job = Callable[[sqlite3.Connection], None]
"""Statements to run inside a transaction the writer opens and commits. A plain function run on the
connection's own thread: the whole transaction is one hop there and back, not one per statement."""

#: told on the loop with the transaction's error (None: committed)
Told = Callable[[BaseException | None], None]

#: told each stage of one transaction as it passes (:attr:`Transaction.watch`): ``thread`` (the
#: connection's thread runs it), ``begun``, ``job_done``, ``committed`` (on that thread), ``told``
#: (on the loop, before the outcome is handed on)
Stamp = Callable[[str], None]


class Transaction:
    """``job`` in ``BEGIN IMMEDIATE ... COMMIT`` (rolled back whole on any error) on ``db``'s thread,
    started at once; the thread hands the outcome to ``told`` on the loop itself, one round after it
    ends. **Changed** (issue 18, sale): through aiosqlite's future, a task of its own and the shields
    around them, the outcome took five rounds more to reach a waiting sale. **Changed** (issue 18,
    durable): ``synchronous`` (1: NORMAL, 2: FULL), when given, is set on the connection first."""

    #: a probe's hook (``bench/tail_probe.py``): called as each transaction is created, it returns
    #: the :data:`Stamp` that transaction tells its stages. **Changed** (issue 18, tail): the probe
    #: used to copy this class's body to stamp it, a copy that would have drifted from the real one.
    watch: ClassVar[Callable[[], Stamp] | None] = None

    def __init__(
        self, db: aiosqlite.Connection, job: Job, told: Told, synchronous: int | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = loop.create_future()  # the writer's own (no shield)
        self.told = asyncio.Event()  # whatever happened to ``ended``: told is done
        stamp = None if Transaction.watch is None else Transaction.watch()

        def tell(error: BaseException | None) -> None:
            try:
                if stamp is not None:
                    stamp("told")
                told(error)
            finally:
                if not self.ended.done():
                    self.ended.set_result(None)
                self.told.set()

        def transaction(conn: sqlite3.Connection) -> None:
            error: BaseException | None = None
            if stamp is not None:
                stamp("thread")
            try:
                if synchronous is not None:  # (outside a transaction, where it takes effect)
                    conn.execute(f"PRAGMA synchronous = {int(synchronous)}")
                conn.execute("BEGIN IMMEDIATE")
                if stamp is not None:
                    stamp("begun")
                try:
                    job(conn)
                    if stamp is not None:
                        stamp("job_done")
                    conn.execute("COMMIT")
                    if stamp is not None:
                        stamp("committed")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except BaseException as exc:  # told on the loop
                error = exc
            loop.call_soon_threadsafe(tell, error)

        start_on_connection_thread(db, transaction)

    async def wait(self) -> None:
        """Until the outcome is told; cancelled, still until then (nothing is left half done)."""
        try:
            await self.ended
        except asyncio.CancelledError:
            await self.told.wait()
            raise


def start_on_connection_thread(
    db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], None]
) -> None:
    """Queue ``fn(connection)`` on ``db``'s own thread without waiting: ``fn`` hands its outcome
    back itself (``loop.call_soon_threadsafe``). aiosqlite's queue of (future, function) pairs,
    private like ``_execute`` below (the 0.22 series pyproject.toml pins runs a pair with no future
    and tells nobody); a closed connection raises ValueError, as ``_execute`` does."""
    conn = db._conn  # (raises ValueError once closed)
    queue = getattr(db, "_tx")  # noqa: B009
    if not getattr(db, "_running", False):
        raise ValueError("Connection closed")
    queue.put_nowait((None, lambda: fn(conn)))


async def on_connection_thread(
    db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], Any]
) -> Any:
    """Run ``fn(connection)`` on ``db``'s own thread, in one hop (aiosqlite's ``_execute``: private but
    stable across the 0.22 series pyproject.toml pins; it is how aiosqlite runs its own statements)."""
    execute: Callable[..., Awaitable[Any]] = getattr(db, "_execute")  # noqa: B009
    return await execute(lambda: fn(db._conn))


async def let_go(db: aiosqlite.Connection) -> None:
    """Make ``db``'s thread let go of its last result: aiosqlite's worker holds it until its next call,
    and a compaction's or a load's rows are a whole day (a closed day would never leave memory).

    SQLite's page cache goes too (``PRAGMA shrink_memory``): a load or a close fills it with the day's
    pages (up to 2 MB per connection, allocated on the connection's thread, in a glibc arena of its
    own) that no later read of the live day needs; the OS page cache still has them."""

    def shrink(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA shrink_memory").close()

    await on_connection_thread(db, shrink)


def fdatasync_wal(path: Path) -> None:
    """Fsync the WAL beside ``path``: every frame written to it before the call is durable (what a
    FULL commit's fsync does), whatever writes go on meanwhile. Blocking: run it on a thread."""
    try:
        fd = os.open(f"{path}-wal", os.O_RDONLY)
    except FileNotFoundError:  # checkpointed into the database (synced then) and removed
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def new_waiter() -> asyncio.Future[None]:
    """A future whose error is never reported as "never retrieved" when its caller was cancelled."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.add_done_callback(lambda f: f.cancelled() or f.exception())
    return done
