"""The durable store: SQLite in WAL mode with ``synchronous=FULL``, one writer task, group commit.
(**Changed** (issue 18, durable): ``append(fsync=False)`` commits at ``synchronous=NORMAL``.)

This module opens the file and serves reads; every write is queued for ``writer.Writer``. Reads use
a second connection, so they see only committed data and never wait behind an fsync. One process at a
time has a database open (``store.lock``): every way of opening it goes through ``SqliteStore.open``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from meshpos.errors import MissingDatabase, StoreClosed, StoreError
from meshpos.store.base import (
    DocumentInfo,
    StoreStats,
    check_closing,
    check_meta,
    check_name,
    check_updates,
    merge,
    summarize,
)
from meshpos.store.clean_close import matches, stamp
from meshpos.store.disk import low_disk_words
from meshpos.store.lock import DatabaseLock
from meshpos.store.merger import INLINE_BYTES, Merger
from meshpos.store.schema import DDL, MIGRATIONS, SCHEMA_VERSION, inspect
from meshpos.store.writer import Job, Writer, let_go

_LOAD = (  # the first row (NULL) says the document exists, even with no data yet
    "SELECT NULL FROM documents WHERE name = ?1 "
    "UNION ALL SELECT s.data FROM snapshots s JOIN documents d ON s.doc = d.id WHERE d.name = ?1 "
    "UNION ALL SELECT u.data FROM updates u JOIN documents d ON u.doc = d.id WHERE d.name = ?1"
)


class SqliteStore:
    """Open with ``await SqliteStore.open(path)``; use as ``async with`` to close it."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        lock: DatabaseLock,
        *,
        created: bool,
        compact_rows: int,
        compact_bytes: int,
        max_batch: int,
        merge_inline_bytes: int,
    ) -> None:
        self.path = path
        self.stats = StoreStats()
        self._merger = Merger(self.stats, inline_bytes=merge_inline_bytes)
        self._db = writer
        self._reader = reader
        self._lock = lock
        self.created = created  # this open made the database (the file was missing or empty)
        self._closed = False
        self._verified = (
            False  # the file was checked (or stamped intact) when opened: stamp it on close
        )
        self._writer = Writer(
            writer,
            reader,
            path,
            self.stats,
            compact_rows=compact_rows,
            compact_bytes=compact_bytes,
            max_batch=max_batch,
            merger=self._merger,
        )

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        compact_rows: int = 1000,
        compact_bytes: int = 4 << 20,
        max_batch: int = 1000,
        check_integrity: bool = True,
        merge_inline_bytes: int = INLINE_BYTES,
        start_merge_helper: bool = False,
        create: bool = True,
    ) -> SqliteStore:
        """Lock the file, check it read-only, then open it; raises StoreLocked while another process
        (or another store in this one) has it open, SchemaTooNew or CorruptDatabase.

        A missing or empty file becomes a new database only if ``create``; else MissingDatabase is
        raised and nothing is written (an owner who knows a database existed passes ``create=False``).
        Compaction merges of ``merge_inline_bytes`` or more run in a helper process (store.merger),
        started now if ``start_merge_helper``, else at the first such merge.
        """
        path = Path(path)
        lock = await DatabaseLock.acquire(path)
        try:
            # **Changed** (issue 18, startup): the file we closed cleanly last time is not read whole
            intact = await asyncio.to_thread(matches, path, lock.stamp_found)
            version = await asyncio.to_thread(
                inspect, path, check_integrity=check_integrity and not intact
            )
            if version == 0 and not create:
                raise MissingDatabase(f"{path} is {_describe_new(path)}")
            writer = await _connect(path)
            try:
                await _prepare(writer, path, version)
                reader = await _connect(path)
            except BaseException:
                await writer.close()
                raise
            try:
                await reader.execute("PRAGMA query_only = ON")
            except BaseException:
                await writer.close()
                await reader.close()
                raise
        except BaseException:
            lock.release()
            raise
        store = cls(
            path,
            writer,
            reader,
            lock,
            created=version == 0,
            compact_rows=compact_rows,
            compact_bytes=compact_bytes,
            max_batch=max_batch,
            merge_inline_bytes=merge_inline_bytes,
        )
        store._verified = check_integrity or intact
        if start_merge_helper:
            try:
                await asyncio.to_thread(store._merger.start)
            except BaseException:
                await store.close()
                raise
        return store

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- writes: queued for the writer task -------------------------------------------------

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None = None,
        *,
        validated: bool = False,
        fsync: bool = True,
    ) -> None:
        """Durable on return (``fsync=False``: to a crash of the process; see ``base.Store``). A cancelled caller's update still commits fully or not at all (it is
        queued: cancelling the wait for it takes nothing back). **Changed** (issue 18, sale): the
        wait is not shielded (a shield costs the caller one more loop round once it is committed)."""
        self._check_open()
        rows = check_updates(updates, validated=validated)
        values = check_meta(meta)
        if not rows and not values:
            return
        await self._writer.append(rows, values, fsync)

    async def sync(self) -> None:
        self._check_open()
        await asyncio.shield(self._writer.sync())

    async def set_closed(self, name: str, closed: bool) -> None:
        check_name(name)

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO documents (name, closed) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                "SET closed = excluded.closed, state_vector = NULL, deletions = NULL, "
                "closed_signed = 0",
                (name, int(closed)),
            )

        await self._exclusive(f"mark {name!r} closed={closed}", job)

    async def close_day(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str] = ()
    ) -> None:
        """Queued after every append before it, so the day is closed over all of its updates."""
        checked = check_closing(name, state_vector, deletions, keys)

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO documents (name, closed, state_vector, deletions) VALUES (?, 1, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET closed = 1, closed_signed = 0, "
                "state_vector = excluded.state_vector, deletions = excluded.deletions",
                (name, state_vector, deletions),
            )
            db.executemany(
                "INSERT INTO closed_records (key, doc) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
                [(key, name) for key in checked],
            )

        await self._exclusive(f"close {name!r} ({len(checked)} record keys)", job)
        await self._writer.let_go()

    async def confirm_closed(self, name: str) -> None:
        check_name(name)

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE documents SET closed_signed = 1 WHERE name = ? AND closed = 1", (name,)
            )

        await self._exclusive(f"confirm closed {name!r}", job)

    async def signed_closed_days(self) -> frozenset[str]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            "SELECT name FROM documents WHERE closed = 1 AND closed_signed = 1"
        )
        return frozenset(str(row[0]) for row in rows)

    async def drop(self, name: str) -> None:
        check_name(name)

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM updates WHERE doc = (SELECT id FROM documents WHERE name = ?)", (name,)
            )
            db.execute(
                "DELETE FROM snapshots WHERE doc = (SELECT id FROM documents WHERE name = ?)",
                (name,),
            )
            db.execute("DELETE FROM documents WHERE name = ?", (name,))
            db.execute("DELETE FROM closed_records WHERE doc = ?", (name,))

        await self._exclusive(f"drop {name!r}", job, lambda: self._writer.forget(name))

    async def drop_day(self, name: str) -> None:
        """Let go of the closed day ``name`` in one transaction (whole or not at all, even under
        ``kill -9``): its updates, snapshots, ``documents`` row and record keys go, its summary moves
        to ``dropped_days``. Refused (nothing changes) unless it is closed with a summary, on the
        console's signed word (``closed_signed``)."""
        check_name(name)

        def job(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT id, state_vector, deletions, closed_signed FROM documents "
                "WHERE name = ? AND closed = 1",
                (name,),
            ).fetchone()
            if row is None or row[1] is None or row[2] is None:
                raise StoreError(f"cannot drop {name!r}: it is not a closed, summarised day")
            if not row[3]:
                raise StoreError(
                    f"cannot drop {name!r}: it closed on the console's unsigned word (that the "
                    "console holds it is not proven)"
                )
            db.execute(
                "INSERT INTO dropped_days (name, state_vector, deletions) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state_vector = excluded.state_vector, "
                "deletions = excluded.deletions",
                (name, row[1], row[2]),
            )
            db.execute("DELETE FROM updates WHERE doc = ?", (row[0],))
            db.execute("DELETE FROM snapshots WHERE doc = ?", (row[0],))
            db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
            db.execute("DELETE FROM closed_records WHERE doc = ?", (name,))

        await self._exclusive(f"drop closed {name!r}", job, lambda: self._writer.forget(name))

    async def dropped_days(self) -> dict[str, tuple[bytes, bytes]]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            "SELECT name, state_vector, deletions FROM dropped_days ORDER BY name"
        )
        return {name: (bytes(sv), bytes(deletions)) for name, sv, deletions in rows}

    async def compact(self, name: str) -> None:
        check_name(name)
        self._check_open()
        await asyncio.shield(self._writer.compact(name, full=True))

    async def idle(self) -> None:
        self._check_open()
        await self._writer.idle()

    async def _exclusive(
        self, what: str, job: Job, committed: Callable[[], None] | None = None
    ) -> None:
        self._check_open()
        await asyncio.shield(self._writer.submit(what, job, committed))

    # --- reads: a separate connection that sees only committed data ------------------------

    async def load(self, name: str) -> bytes | None:
        """One statement, so snapshot and log come from the same committed state."""
        self._check_open()
        rows = await self._reader.execute_fetchall(_LOAD, (name,))
        await let_go(self._reader)  # else its thread holds the day's rows until the next read
        if not rows:
            return None
        self.stats.documents_loaded += 1
        return merge([row[0] for row in rows if row[0] is not None])

    async def documents(self, *, include_closed: bool = False) -> list[DocumentInfo]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            "SELECT name, closed, (SELECT count(*) FROM updates WHERE doc = documents.id), "
            "(SELECT coalesce(sum(length(data)), 0) "
            "FROM snapshots WHERE doc = documents.id) FROM documents "
            "WHERE closed = 0 OR ? ORDER BY name",
            (int(include_closed),),
        )
        return [DocumentInfo(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    async def closed_days(self) -> dict[str, tuple[bytes, bytes]]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            "SELECT name, state_vector, deletions FROM documents WHERE closed = 1 ORDER BY name"
        )
        closed: dict[str, tuple[bytes, bytes]] = {}
        for name, state_vector, deletions in rows:
            if state_vector is None or deletions is None:
                closed[name] = await self._summarize(name)
            else:
                closed[name] = (bytes(state_vector), bytes(deletions))
        return closed

    async def _summarize(self, name: str) -> tuple[bytes, bytes]:
        """A day closed by the flag alone (or before version 2): summarise it once and keep that."""
        state_vector, deletions = await asyncio.to_thread(summarize, await self.load(name) or b"")

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE documents SET state_vector = ?, deletions = ? "
                "WHERE name = ? AND closed = 1 AND state_vector IS NULL",
                (state_vector, deletions, name),
            )

        await self._exclusive(f"summarise closed {name!r}", job)
        return state_vector, deletions

    async def find_closed(self, key: str) -> str | None:
        self._check_open()
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT doc FROM closed_records WHERE key = ?", (key,)
            )
        )
        return str(rows[0][0]) if rows else None

    async def get_meta(self, key: str) -> str | None:
        self._check_open()
        rows = list(
            await self._reader.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        )
        return str(rows[0][0]) if rows else None

    async def meta_range(self, low: str, high: str) -> dict[str, str]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (low, high)
        )
        return {str(key): str(value) for key, value in rows}

    async def drop_meta_range(self, low: str, high: str) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM meta WHERE key >= ? AND key < ?", (low, high))

        await self._exclusive(f"drop meta {low!r}..{high!r}", job)

    async def close(self) -> None:
        """Commit what is queued, then close both connections. Safe to call twice.

        A close with nothing failed, of a file checked when opened, leaves the clean-close stamp for
        the next open (``store.clean_close``): that open then skips ``quick_check``."""
        if self._closed:
            return
        self._closed = True
        clean = None
        written = False
        try:
            await self._writer.close()
            written = True
        finally:
            try:
                await self._db.close()
                await self._reader.close()
                await asyncio.to_thread(self._merger.close)
                if written and self._verified and self.stats.failed_transactions == 0:
                    clean = await asyncio.to_thread(stamp, self.path)
            finally:
                self._lock.release(clean)  # last: nothing of ours touches the file after this

    def _check_open(self) -> None:
        if self._writer.closing:
            raise StoreClosed(f"the store {self.path} is closed")


async def _connect(path: Path) -> aiosqlite.Connection:
    try:
        return await aiosqlite.connect(path, isolation_level=None)
    except Exception as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc


async def _bring_up(db: aiosqlite.Connection) -> None:
    """Create the schema on a new file or bring an older one to ``SCHEMA_VERSION``, in one
    transaction (all steps or none); the version is read again inside it, so a process that did it
    since we looked is not done twice."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        found = int(rows[0][0])
        steps = (
            list(DDL)
            if found == 0
            else [step for v in range(found, SCHEMA_VERSION) for step in MIGRATIONS[v]]
        )
        for statement in steps:
            await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


def _describe_new(path: Path) -> str:
    """What a file that would become a new database is: missing, empty, or SQLite without our schema."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    return (
        "empty (0 bytes)"
        if size == 0
        else f"an SQLite file without a meshpos schema ({size} bytes)"
    )


async def _prepare(db: aiosqlite.Connection, path: Path, version: int) -> None:
    """Set the pragmas that make a commit durable, create the schema on a new file and migrate an
    older one."""
    try:
        mode = list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
        if str(mode[0][0]).lower() != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (got {mode[0][0]!r})")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA busy_timeout = 5000")
        if version < SCHEMA_VERSION:
            await _bring_up(db)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot prepare {path}: {exc}{low_disk_words(path)}") from exc
