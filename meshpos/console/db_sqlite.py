"""SQLite adapter: WAL, ``synchronous=FULL``, one serialised writer, a separate read connection.

One console process per file (the store's OS lock, ``<file>.lock``): console processes that share a
database hear each other's commits only on PostgreSQL, so a second one on a SQLite file is refused.

**Changed** (issue 18, consolestart): the lock is taken before the file is read, and ``PRAGMA quick_check``
(which reads every page: the whole venue's or chain's history) runs only when the file can have been
damaged since this console last closed it cleanly. A close whose writes all committed leaves the node
store's clean-close stamp (``meshpos.store.clean_close``) in the lock file; the next open skips the check
only if the file still matches it with no WAL beside it. Taking the lock overwrites the stamp, so a crash
at any point leaves none and the next start checks as before.

aiosqlite runs each connection on its own thread, and a task cancelled inside a transaction left
the connection in it (docs/architecture.md (Library facts)). So every write runs in a task of its own that holds the write lock
for the whole ``BEGIN IMMEDIATE ... COMMIT``; a cancelled caller stops waiting, the write still
commits or rolls back as a whole.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from meshpos.console.sqlbase import Job, SqlConsoleDB, T
from meshpos.console.tables import APPLICATION_ID, SCHEMA_VERSION, SQLITE, ddl, migrations
from meshpos.errors import (
    ConfigError,
    CorruptDatabase,
    MeshposError,
    MissingDatabase,
    SchemaTooNew,
    StoreError,
)
from meshpos.store.clean_close import matches, stamp
from meshpos.store.disk import low_disk_words
from meshpos.store.lock import DatabaseLock, lock_path
from meshpos.store.schema import inspect_sqlite_file

_IN_CHUNK = 500  # values per IN (...) list: far below SQLite's parameter limit


class _Cursor:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._conn.execute(sql, params) as cur:
            return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._conn.executemany(sql, rows)

    async def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self._conn.execute_fetchall(sql, params)]

    async def fetch_in(
        self, sql: str, params: Sequence[Any], values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found += await self.fetchall(sql.replace("{in}", f"IN ({marks})"), (*params, *chunk))
        return found


class SqliteConsoleDB(SqlConsoleDB):
    dialect = SQLITE

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        compact_rows: int,
        lock: DatabaseLock,
    ) -> None:
        super().__init__(url=f"sqlite:///{path}", label=str(path), compact_rows=compact_rows)
        self.path = path
        self._writer = writer
        self._reader = reader
        self._file_lock = lock
        self._failed = False  # an SQLite error in a write: the close leaves no clean-close stamp

    @classmethod
    async def open(
        cls, path: Path, *, compact_rows: int, init_database: bool = False
    ) -> SqliteConsoleDB:
        await asyncio.to_thread(_check_path, path)  # first: a bad path is named as such
        was_here = lock_path(path).exists()  # (taking the lock makes the file)
        lock = DatabaseLock.take(path)  # before reading the file: a second console reads nothing
        try:
            _check_begun(path, was_here, init_database)
            intact = await asyncio.to_thread(matches, path, lock.stamp_found)
            version = await asyncio.to_thread(inspect, path, check_integrity=not intact)
            try:
                writer = await aiosqlite.connect(path, isolation_level=None)
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open console database {path}: {exc}") from exc
            try:
                await _prepare(writer, path, version)
                reader = await aiosqlite.connect(path, isolation_level=None)
                await reader.execute("PRAGMA query_only = ON")
            except BaseException:
                await writer.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(path, writer, reader, compact_rows, lock)

    async def _run(self, job: Job[T], rank: int) -> T:
        async with self._lock.turn(rank):
            db = self._writer
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    result = await job(_Cursor(db))
                    await db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
            except MeshposError:
                raise
            except sqlite3.Error as exc:
                self._failed = True
                raise StoreError(f"console database {self.path}: {exc}") from exc
            return result

    async def _read(self, job: Job[T]) -> T:
        self._check_open()
        try:
            return await job(_Cursor(self._reader))
        except sqlite3.Error as exc:
            self._failed = True  # e.g. a damaged page met by a read: the next open checks
            raise StoreError(f"console database {self.path}: {exc}") from exc

    async def _close_connections(self) -> None:
        """Close both connections (the writer last: it checkpoints and removes the WAL), then, if every
        write committed or rolled back without an SQLite error, stamp the file for the next open."""
        clean = None
        try:
            await self._reader.close()
            await self._writer.close()
            if not self._failed:
                clean = await asyncio.to_thread(stamp, self.path)
        finally:
            self._file_lock.release(clean)  # last: nothing of ours touches the file after this


def _check_begun(path: Path, was_here: bool, init_database: bool) -> None:
    """Refuse a missing or empty file where a console database was, unless ``--init-database``
    (and that only where there is none), as a register refuses a lost ``node.db``
    (``node_adapters.open_node_store``): a console started on it was a new, empty console, its
    reports, audit and alarms gone with nothing said. Every open leaves the lock file (with its
    clean-close stamp, or none after a crash) beside the database, so it tells one was here."""
    empty = not path.exists() or path.stat().st_size == 0
    if init_database and not empty:
        raise ConfigError(
            f"--init-database: {path} already holds a database (left as it was); "
            "start without --init-database"
        )
    if empty and was_here and not init_database:
        state = "missing" if not path.exists() else "empty (0 bytes)"
        raise MissingDatabase(
            f"console database {path} is {state}, but {lock_path(path).name} beside it shows a console "
            "database was here: refusing to start an empty console in its place (its reports, "
            "audit and alarms would be gone). Put it back from a backup, or start once with "
            "meshpos console --init-database to begin an empty database deliberately"
        )


def _check_path(path: Path) -> None:
    if not path.exists() and not path.parent.is_dir():
        raise StoreError(f"cannot create console database {path}: {path.parent} is not a directory")
    if path.exists() and not path.is_file():
        raise StoreError(f"console database {path} is not a regular file")


def inspect(path: Path, *, check_integrity: bool = True) -> int:
    """Schema version of the file (0 if new); raise before anything opens it for writing. The whole
    file is read (``quick_check``) only with ``check_integrity``.

    A file we do not understand is reported and left byte for byte as it was. Blocking.
    """
    _check_path(path)
    return inspect_sqlite_file(path, lambda conn: _check(conn, path, check_integrity))


def _check(conn: sqlite3.Connection, path: Path, check_integrity: bool) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if (version or tables) and app != APPLICATION_ID:
        raise StoreError(
            f"{path} is an SQLite database but not a meshpos console database "
            f"(application_id {app:#x}, tables {sorted(tables)[:5]}); refusing to touch it"
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has console schema version {version} but this meshpos understands only up "
            f"to version {SCHEMA_VERSION}; refusing to open it (upgrade meshpos)"
        )
    problems = [r[0] for r in conn.execute("PRAGMA quick_check")] if check_integrity else ["ok"]
    if problems != ["ok"]:
        raise CorruptDatabase(
            f"{path} is corrupt ({'; '.join(problems[:3])}); it was left untouched"
        )
    return version


async def _journal_wal(db: aiosqlite.Connection) -> list[Any]:
    """Switch to WAL. Another process creating the same new file makes SQLite answer "locked"
    at once (the busy handler is skipped when waiting could deadlock), so retry for a while."""
    for attempt in range(100):
        try:
            return list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def _prepare(db: aiosqlite.Connection, path: Path, version: int) -> None:
    try:
        await db.execute("PRAGMA busy_timeout = 5000")
        mode = await _journal_wal(db)
        if str(mode[0][0]).lower() != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (got {mode[0][0]!r})")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA foreign_keys = ON")
        if version == SCHEMA_VERSION:
            return
        await db.execute("BEGIN IMMEDIATE")
        try:
            rows = list(await db.execute_fetchall("PRAGMA user_version"))
            found = int(rows[0][0])
            if found == 0:  # nobody created it since we looked
                for statement in ddl(SQLITE):
                    await db.execute(statement)
                await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            else:  # an older schema (nobody migrated it since we looked, if found == version)
                for statement in migrations(SQLITE, found):
                    await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    except MeshposError:
        raise
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot prepare console database {path}: {exc}{low_disk_words(path)}"
        ) from exc
