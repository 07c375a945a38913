"""PostgreSQL adapter (psycopg 3, async): for a console that many venues share.

The SQL is the shared one from ``sqlbase`` (``?`` becomes ``%s``). One connection writes, one reads;
a connection the server dropped is replaced on next use, and the failed call raises StoreError (the
relay retries; a repeated upload changes nothing). Several console processes may share a database:
schema creation and each venue's materialisation take advisory locks, document appends lock the
document's row, and each append announces itself (``NOTIFY``, committed with the rows) so every other
process applies it to its hub and sends it on to its relays (:class:`~meshpos.console.db.SharedConsoleDB`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from meshpos.console.cursor import Cursor
from meshpos.console.dburl import redact
from meshpos.console.notices import StoredNotice
from meshpos.console.sqlbase import Job, SqlConsoleDB, T
from meshpos.console.tables import APPLICATION_ID, POSTGRES, SCHEMA_VERSION, ddl, migrations
from meshpos.digits import ascii_digits
from meshpos.errors import ConfigError, MeshposError, SchemaTooNew, StoreError

log = logging.getLogger("meshpos.console")

CONNECT_TIMEOUT_S = 10
CHANNEL = "meshpos_updates"  # NOTIFY channel: one JSON payload per appended document batch
RELISTEN_S = 1.0  # wait before listening again after the connection was lost


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
        self.origin = secrets.token_hex(8)  # tells this process's announcements from the others'
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, compact_rows: int) -> PostgresConsoleDB:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"console database URL {redact(url)!r} is not valid: {exc}") from None
        port = str(params.get("port", "5432"))
        if not all(ascii_digits(p) for p in port.split(",")):
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

    async def _run(self, job: Job[T], rank: int) -> T:
        async with self._lock.turn(rank):
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

    async def _log_end(self, cur: Cursor, venue_id: str, doc_name: str) -> int:
        rows = await cur.fetchall(
            "SELECT coalesce(max(seq), 0) FROM updates WHERE venue_id = ? AND doc_name = ?",
            (venue_id, doc_name),
        )
        return int(rows[0][0])

    async def _announce(
        self,
        cur: Cursor,
        venue_id: str,
        doc_name: str,
        after: int,
        count: int,
        compacted: bool,
        version: int,
    ) -> None:
        payload = {
            "version": version,
            "o": self.origin,
            "v": venue_id,
            "d": doc_name,
            "a": after,
            "n": count,
            "c": compacted,
        }
        # the log's end ("t") is read in the notifying statement: one round trip, not two
        await cur.fetchall(
            "SELECT pg_notify(?, (?::jsonb || jsonb_build_object('t', (SELECT coalesce(max(seq), 0) "
            "FROM updates WHERE venue_id = ? AND doc_name = ?)))::text)",
            (CHANNEL, json.dumps(payload), venue_id, doc_name),
        )

    # --- what the other processes commit (SharedConsoleDB) ------------------------------------
    async def listen(self, heard: Callable[[StoredNotice | None], None]) -> None:
        if self._listener is not None:
            raise StoreError(f"{self.url}: already listening")
        conn = await self._listening()  # listening on return: no later commit goes unheard
        self._listener = asyncio.create_task(self._listen_forever(conn, heard))

    async def _listening(self) -> AsyncConnection[Any]:
        conn = await _connect(self._dsn)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            await conn.close()
            raise StoreError(f"cannot listen on {self.url}: {_first_line(exc)}") from exc
        return conn

    async def _listen_forever(
        self, conn: AsyncConnection[Any] | None, heard: Callable[[StoredNotice | None], None]
    ) -> None:
        while not self._closed:
            try:
                if conn is None:
                    conn = await self._listening()
                    log.warning("listening to the other console processes again")
                    heard(None)  # what they committed meanwhile was not heard
                async for notify in conn.notifies():
                    notice = self._notice(notify.payload)
                    if notice is not None:
                        heard(notice)
            except (psycopg.Error, StoreError) as exc:
                log.error("not hearing the other console processes: %s", _first_line(exc))
            finally:
                if conn is not None:
                    await conn.close()
                conn = None
            if not self._closed:
                await asyncio.sleep(RELISTEN_S)

    def _notice(self, payload: str) -> StoredNotice | None:
        """The notice in ``payload``; None for our own (or one we cannot read, logged)."""
        try:
            found = json.loads(payload)
            if found["o"] == self.origin:
                return None
            return StoredNotice(
                str(found["v"]),
                str(found["d"]),
                int(found["a"]),
                int(found["t"]),
                int(found["n"]),
                bool(found["c"]),
                int(found["version"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable notice on %s (%s): %.200r", CHANNEL, exc, payload)
            return None

    async def stored_updates(self, notice: StoredNotice) -> list[bytes] | None:
        if notice.compacted:
            return None
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT data FROM updates WHERE venue_id = ? AND doc_name = ? "
                "AND seq > ? AND seq <= ? ORDER BY seq",
                (notice.venue_id, notice.doc_name, notice.after, notice.through),
            )
        )
        if len(rows) != notice.count:
            return None  # compacted meanwhile: the snapshot holds them
        return [bytes(r[0]) for r in rows]

    async def _close_connections(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
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
    """Create the schema on an empty database, or check an existing one's version and migrate an older one."""
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
                if version < 1:
                    raise StoreError(f"{where} has console schema version {version}: no migration")
                for statement in migrations(POSTGRES, version):  # under the advisory lock
                    await conn.execute(statement)
                await conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))
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
