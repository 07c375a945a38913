"""PostgreSQL adapter (psycopg 3, async): for a console that many venues share.

The SQL is the shared one from ``sqlbase`` (``?`` becomes ``%s``). One connection writes, one reads;
a connection the server dropped is replaced on next use, and the failed call raises StoreError (the
relay retries; a repeated upload changes nothing). Several console processes may share a database:
schema creation and each venue's materialisation take advisory locks, document appends lock the
document's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from meshpos.console.cursor import Cursor
from meshpos.console.db import redact
from meshpos.console.sqlbase import Job, SqlConsoleDB, T
from meshpos.console.tables import APPLICATION_ID, POSTGRES, SCHEMA_VERSION, ddl
from meshpos.errors import ConfigError, MeshposError, SchemaTooNew, StoreError

CONNECT_TIMEOUT_S = 10


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _Cursor:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._conn.cursor() as cur:
            await cur.execute(_pg(sql), params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            async with self._conn.cursor() as cur:
                await cur.executemany(_pg(sql), rows)

    async def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # COPY: one stream, not a statement per row (a 10,000-receipt day writes in half the time)
        if not rows:
            return
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        async with self._conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                await copy.write_row(row)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._conn.cursor() as cur:
            await cur.execute(_pg(sql), params)
            return [tuple(r) for r in await cur.fetchall()]

    async def fetch_in(
        self, sql: str, params: Sequence[Any], values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        if not values:
            return []
        return await self.fetchall(sql.replace("{in}", "= ANY(?)"), (*params, list(values)))


class PostgresConsoleDB(SqlConsoleDB):
    dialect = POSTGRES

    def __init__(
        self,
        dsn: str,
        writer: AsyncConnection[Any],
        reader: AsyncConnection[Any],
        compact_rows: int,
    ) -> None:
        super().__init__(url=redact(dsn), label=redact(dsn), compact_rows=compact_rows)
        self._dsn = dsn
        self._conns = {"writer": writer, "reader": reader}

    @classmethod
    async def open(cls, url: str, *, compact_rows: int) -> PostgresConsoleDB:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"console database URL {redact(url)!r} is not valid: {exc}") from None
        port = str(params.get("port", "5432"))
        if not all(p.isdigit() for p in port.split(",")):
            raise ConfigError(
                f"console database URL {redact(url)!r}: port {port!r} is not a number"
            )
        writer = await _connect(url)
        try:
            await _prepare(writer, redact(url))
            reader = await _connect(url)
        except BaseException:
            await writer.close()
            raise
        return cls(url, writer, reader, compact_rows)

    async def _live(self, role: str) -> AsyncConnection[Any]:
        conn = self._conns[role]
        if conn.closed or conn.broken:
            conn = self._conns[role] = await _connect(self._dsn)
        return conn

    async def _run(self, job: Job[T]) -> T:
        async with self._lock:
            conn = await self._live("writer")
            try:
                async with conn.transaction():
                    return await job(_Cursor(conn))
            except MeshposError:
                raise
            except psycopg.Error as exc:
                raise StoreError(f"console database {self.url}: {_first_line(exc)}") from exc

    async def _read(self, job: Job[T]) -> T:
        """Reads are retried once on a fresh connection when the server dropped the old one."""
        self._check_open()
        for attempt in (1, 2):
            conn = await self._live("reader")
            try:
                return await job(_Cursor(conn))
            except psycopg.Error as exc:
                if attempt == 1 and conn.broken:
                    continue
                raise StoreError(f"console database {self.url}: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    async def _lock_venue(self, cur: Cursor, venue_id: str) -> None:
        await cur.fetchall(
            "SELECT pg_advisory_xact_lock(?, hashtext(?))", (APPLICATION_ID, venue_id)
        )

    async def _close_connections(self) -> None:
        for conn in self._conns.values():
            await conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


async def _connect(url: str) -> AsyncConnection[Any]:
    options: dict[str, Any] = {}
    if "connect_timeout" not in conninfo_to_dict(url):
        options["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        # No server-side prepared statements: a plan cached while a table was empty kept scanning
        # it sequentially once it held 10,000 receipts (24 s instead of 0.3 s); they also break
        # behind transaction-pooling proxies such as PgBouncer.
        return await AsyncConnection.connect(
            url, autocommit=True, prepare_threshold=None, **options
        )
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the console database {redact(url)}: {_first_line(exc)}"
        ) from exc


async def _prepare(conn: AsyncConnection[Any], where: str) -> None:
    """Create schema version 1 on an empty database, or check the version of an existing one."""
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPLICATION_ID,))
            cur = await conn.execute(
                "SELECT pg_encoding_to_char(encoding) FROM pg_database "
                "WHERE datname = current_database()"
            )
            encoding = await cur.fetchone()
            if encoding is None or encoding[0] != "UTF8":
                raise StoreError(
                    f"{where} has encoding {encoding[0] if encoding else '?'}; the console needs a "
                    "UTF8 database (CREATE DATABASE ... ENCODING 'UTF8')"
                )
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            row = await cur.fetchone()
            if row is not None and row[0]:
                cur = await conn.execute("SELECT max(version) FROM schema_version")
                found = await cur.fetchone()
                version = int(found[0]) if found is not None and found[0] is not None else 0
                if version > SCHEMA_VERSION:
                    raise SchemaTooNew(
                        f"{where} has console schema version {version} but this meshpos "
                        f"understands only up to version {SCHEMA_VERSION}; refusing to use it "
                        "(upgrade meshpos)"
                    )
                if version < SCHEMA_VERSION:
                    raise StoreError(f"{where} has console schema version {version}: no migration")
                return
            for statement in ddl(POSTGRES):
                await conn.execute(statement)
            await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
    except psycopg.errors.DuplicateTable as exc:
        raise StoreError(
            f"{where} already holds tables of something else ({_first_line(exc)}) but no meshpos "
            "schema_version; use an empty database"
        ) from exc
    except MeshposError:
        raise
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot prepare the console database {where}: {_first_line(exc)}"
        ) from exc
