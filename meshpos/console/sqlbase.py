"""Everything the two adapters share: one set of SQL statements written with ``?`` placeholders.

An adapter supplies connections, transactions and error translation (``_write`` / ``_read``); this
class supplies the statements. So SQLite and PostgreSQL cannot drift apart in what they store, and
one contract suite tests both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import pycrdt

from meshpos.console import reports, upsert
from meshpos.console.cursor import Cursor, now_ms
from meshpos.console.devices import Sighting
from meshpos.console.records import Alarm, AuditEntry, MaterialiseResult, RecordBatch, canonical
from meshpos.console.reports_history import HistoryFigures, registers_of, totals_of
from meshpos.console.sqldays import DayStatements, check_document, fold_log
from meshpos.console.sqlvenues import VenueStatements
from meshpos.console.stock_reports import StockEntry, add_stock_entry
from meshpos.console.tables import Dialect
from meshpos.console.turns import FIRST, LATER, WriteTurns
from meshpos.errors import StaleWrite, StoreClosed, StoreError
from meshpos.model.limits import SAFE_INTEGER

T = TypeVar("T")
EMPTY_UPDATE = b"\x00\x00"


Job = Callable[[Cursor], Awaitable[T]]


def merge(parts: Sequence[bytes]) -> bytes:
    if not parts:
        return EMPTY_UPDATE
    if len(parts) == 1:
        return bytes(parts[0])
    return bytes(pycrdt.merge_updates(*parts))


def check_updates(doc_name: str, updates: Sequence[bytes]) -> list[bytes]:
    """Refuse the whole call if one update does not parse: a bad row would make a day unloadable."""
    checked = []
    for update in updates:
        if not isinstance(update, bytes | bytearray | memoryview):
            raise StoreError(f"update for {doc_name!r} must be bytes, not {type(update).__name__}")
        data = bytes(update)
        try:
            pycrdt.merge_updates(data)
        except ValueError:
            raise StoreError(
                f"update for {doc_name!r} is not a valid Yjs update ({len(data)} bytes); "
                "nothing was written"
            ) from None
        if data != EMPTY_UPDATE:
            checked.append(data)
    return checked


def _trusted(updates: Sequence[bytes]) -> list[bytes]:
    """Updates pycrdt itself encoded (a document's own change events): not parsed a second time, which
    for a 15 MB backlog costs as much as storing it."""
    return [data for data in map(bytes, updates) if data != EMPTY_UPDATE]


class SqlConsoleDB(DayStatements, VenueStatements):
    """The ``ConsoleDB`` operations in portable SQL; subclasses own the connections."""

    dialect: Dialect

    def __init__(self, *, url: str, label: str, compact_rows: int) -> None:
        self.url = url
        self.compact_rows = compact_rows
        self._label = label  # how errors name the database
        self._lock = WriteTurns()  # one write transaction at a time, a relay's batch first
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.history = HistoryFigures()  # the closed days' all-time figures, kept

    async def _write(self, job: Job[T], *, rank: int = FIRST) -> T:
        """Run ``job`` in one transaction, serialised with other writes (in ``rank``'s turn:
        meshpos.console.turns), uncancellable: a caller that gives up leaves it to finish, and
        :meth:`close` waits for it."""
        self._check_open()
        task = asyncio.create_task(self._run(job, rank))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the console database {self._label} is closed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # refuses new calls; writes already accepted still commit
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_connections()

    # --- supplied by the adapter ------------------------------------------------------------
    async def _run(self, job: Job[T], rank: int) -> T:
        """Run ``job`` in one transaction (the caller holds no lock: take ``self._lock``'s turn
        for ``rank``)."""
        raise NotImplementedError

    async def _close_connections(self) -> None:
        raise NotImplementedError

    async def _read(self, job: Job[T]) -> T:
        """Run ``job`` on a connection that sees committed data only."""
        raise NotImplementedError

    async def _lock_venue(self, cur: Cursor, venue_id: str) -> None:
        """Serialise materialisations of one venue (PostgreSQL may have several console processes)."""

    async def _log_end(self, cur: Cursor, venue_id: str, doc_name: str) -> int:
        """The last log row of a document (0: none), for :meth:`_announce`; only a database several
        processes share needs it."""
        return 0

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
        """Tell the other console processes sharing the database what this transaction appended."""

    # --- venues (registration and tokens: console/sqlvenues.py) --------------------------------
    async def venues(self) -> list[str]:
        rows = await self._read(lambda cur: cur.fetchall("SELECT id FROM venues ORDER BY id"))
        return [str(r[0]) for r in rows]

    async def venue_names(self) -> dict[str, str]:
        rows = await self._read(lambda cur: cur.fetchall("SELECT id, name FROM venues ORDER BY id"))
        return {str(r[0]): str(r[1]) for r in rows}

    # --- the audit log (meshpos.console.audit) ------------------------------------------------
    async def add_audit(self, venue_id: str, entry: AuditEntry) -> None:
        async def job(cur: Cursor) -> None:
            await _require_venue(cur, venue_id)
            await _insert_audit(cur, venue_id, [entry])

        await self._write(job)

    async def audit_log(
        self, venue_id: str, *, limit: int, before_seq: int | None = None
    ) -> list[AuditEntry]:
        before = SAFE_INTEGER if before_seq is None else before_seq
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT at_ms, who, action, subject, detail, id FROM audit WHERE venue_id = ? "
                "AND id < ? ORDER BY id DESC LIMIT ?",
                (venue_id, before, limit),
            )
        )
        return [
            AuditEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(r[4]), int(r[5]))
            for r in rows
        ]

    # --- CRDT state -------------------------------------------------------------------------
    async def append_updates(
        self,
        venue_id: str,
        doc_name: str,
        updates: Sequence[bytes],
        *,
        validated: bool = False,
    ) -> int | None:
        versions = await self.append_documents(venue_id, {doc_name: updates}, validated=validated)
        return versions.get(doc_name)

    async def append_documents(
        self,
        venue_id: str,
        updates: Mapping[str, Sequence[bytes]],
        *,
        validated: bool = False,
        audit: Sequence[AuditEntry] = (),
    ) -> dict[str, int]:
        checked: dict[str, list[bytes]] = {}
        for doc_name in sorted(updates):  # one order of row locks in every process
            check_document(doc_name)
            batch = updates[doc_name]
            data = _trusted(batch) if validated else check_updates(doc_name, batch)
            if data:
                checked[doc_name] = data
        if not checked and not audit:
            return {}

        async def job(cur: Cursor) -> tuple[dict[str, int], int]:
            versions = {
                name: await self._append(cur, venue_id, name, data)
                for name, data in checked.items()
            }
            await _insert_audit(cur, venue_id, audit)  # the edits' entries: committed with them
            return versions, await self.mark_taken(cur, venue_id) if versions else 0

        versions, taken = await self._write(job)
        if taken and self.marks is not None:  # before the documents (the statements) hold it
            await self.marks.reach(venue_id, taken)
        return versions

    async def _append(self, cur: Cursor, venue_id: str, doc_name: str, data: list[bytes]) -> int:
        # The upsert locks the document row until commit (PostgreSQL), so appends and compactions
        # of one document never interleave, even across console processes. It checks the venue in
        # the same round trip (a relay's every batch comes here).
        rows = await cur.fetchall(
            "INSERT INTO documents (venue_id, name, log_rows, updated_at_ms, version) "
            "SELECT ?, ?, ?, ?, 1 WHERE EXISTS (SELECT 1 FROM venues WHERE id = ?) "
            "ON CONFLICT (venue_id, name) DO UPDATE SET "
            "log_rows = documents.log_rows + excluded.log_rows, "
            "updated_at_ms = excluded.updated_at_ms, version = documents.version + 1, "
            "closed = 0 "  # appended: open (the process that appends reopened it)
            "RETURNING log_rows, version",
            (venue_id, doc_name, len(data), now_ms(), venue_id),
        )
        if not rows:
            raise _unknown_venue(venue_id)
        after = await self._log_end(cur, venue_id, doc_name)  # under the row lock
        await cur.executemany(
            "INSERT INTO updates (venue_id, doc_name, data) VALUES (?, ?, ?)",
            [(venue_id, doc_name, d) for d in data],
        )
        compacted = rows[0][0] >= self.compact_rows
        version = int(rows[0][1])
        await self._announce(cur, venue_id, doc_name, after, len(data), compacted, version)
        if compacted:
            await fold_log(cur, venue_id, doc_name)
        return version

    async def document_version(self, venue_id: str, doc_name: str) -> int:
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT version FROM documents WHERE venue_id = ? AND name = ?",
                (venue_id, doc_name),
            )
        )
        return int(rows[0][0]) if rows else 0

    async def compact(self, venue_id: str, doc_name: str) -> None:
        """Fold the update log into the snapshot now (``append_updates`` does it every N rows)."""

        async def job(cur: Cursor) -> None:
            await cur.execute(  # take the document's row lock first, as append does
                "UPDATE documents SET log_rows = log_rows WHERE venue_id = ? AND name = ?",
                (venue_id, doc_name),
            )
            await fold_log(cur, venue_id, doc_name)

        await self._write(job)

    async def load_document(self, venue_id: str, doc_name: str) -> bytes | None:
        where = "venue_id = ? AND doc_name = ?"
        # One statement, so snapshot and log come from the same committed state; the first row
        # (NULL) says the document exists even when it holds nothing yet.
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT NULL FROM documents WHERE venue_id = ? AND name = ? "
                f"UNION ALL SELECT data FROM snapshots WHERE {where} "
                f"UNION ALL SELECT data FROM updates WHERE {where}",
                (venue_id, doc_name) * 3,
            )
        )
        if not rows:
            return None
        return merge([bytes(r[0]) for r in rows if r[0] is not None])

    async def documents(self, venue_id: str, *, open_only: bool = False) -> list[str]:
        where = " AND closed = 0" if open_only else ""
        rows = await self._read(
            lambda cur: cur.fetchall(
                f"SELECT name FROM documents WHERE venue_id = ?{where} ORDER BY name", (venue_id,)
            )
        )
        return [str(r[0]) for r in rows]

    async def log_rows(self, venue_id: str, doc_name: str) -> int:
        """Update rows not yet folded into the snapshot (for tests and status pages)."""
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT COUNT(*) FROM updates WHERE venue_id = ? AND doc_name = ?",
                (venue_id, doc_name),
            )
        )
        return int(rows[0][0])

    async def segments(self, venue_id: str, doc_name: str) -> list[int]:
        """The sizes of the document's snapshot segments, oldest first (tests, status pages)."""
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT length(data) FROM snapshots WHERE venue_id = ? AND doc_name = ? "
                "ORDER BY id",
                (venue_id, doc_name),
            )
        )
        return [int(r[0]) for r in rows]

    # --- materialised records ---------------------------------------------------------------
    async def write_records(
        self,
        venue_id: str,
        batch: RecordBatch,
        *,
        at_ms: int | None = None,
        version: int | None = None,
    ) -> MaterialiseResult:
        """Insert new records, update mutable ones, alarm on changed insert-only ones: one transaction.
        With ``version`` (of the document the rows come from), refused with StaleWrite when the
        database holds a later version of it."""
        seen = now_ms() if at_ms is None else at_ms

        async def job(cur: Cursor) -> MaterialiseResult:
            await self._lock_venue(cur, venue_id)
            # the venue and the stored version in one round trip, read under the lock
            [(known, stored)] = await cur.fetchall(
                "SELECT EXISTS (SELECT 1 FROM venues WHERE id = ?), "
                "(SELECT version FROM documents WHERE venue_id = ? AND name = ?)",
                (venue_id, venue_id, batch.document),
            )
            if not known:
                raise _unknown_venue(venue_id)
            if version is not None and stored is not None and int(stored) > version:
                raise StaleWrite(
                    f"venue {venue_id}: rows of {batch.document} version {version}, but "
                    f"version {stored} is stored (another console process wrote it): "
                    "nothing was written"
                )
            return await upsert.write_batch(cur, venue_id, batch, seen)

        return await self._write(job, rank=LATER)  # no relay waits for it: appends go first

    async def records(
        self, venue_id: str, table: str, days: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        return await self._read(lambda cur: reports.records(cur, venue_id, table, days))

    async def alarms(self, venue_id: str) -> list[Alarm]:
        return await self._read(lambda cur: reports.alarms(cur, venue_id))

    async def receipt_report(
        self, venue_id: str, date: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        return await self._read(lambda cur: reports.receipts(cur, venue_id, date, limit, offset))

    async def shift_report(self, venue_id: str, date: str | None = None) -> list[dict[str, Any]]:
        return await self._read(lambda cur: reports.shifts(cur, venue_id, date))

    async def totals(self, venue_id: str, date: str | None = None) -> dict[str, int]:
        if date is None:  # every day: the closed days' kept, the live ones read (reports_history)
            return totals_of(await self._read(lambda cur: self.history.all_time(cur, venue_id)))
        return await self._read(lambda cur: reports.totals(cur, venue_id, date))

    async def register_report(self, venue_id: str) -> list[dict[str, Any]]:
        return registers_of(await self._read(lambda cur: self.history.all_time(cur, venue_id)))

    async def report(self, query: Job[T]) -> T:
        return await self._read(query)

    async def add_stock_entry(
        self, venue_id: str, entry: StockEntry, audit: AuditEntry | None = None
    ) -> None:
        async def job(cur: Cursor) -> None:
            await _require_venue(cur, venue_id)
            await add_stock_entry(cur, venue_id, entry)
            await _insert_audit(cur, venue_id, [audit] if audit is not None else [])

        await self._write(job)

    # --- what the relays say of each device (every console process) ---------------------------
    async def record_sightings(self, seen: Mapping[str, Mapping[str, Sighting]]) -> None:
        rows = [
            (
                venue,
                node,
                s.role,
                int(s.heard * 1000),
                s.via,
                s.pending,
                int(s.relay),
                int(s.uplink),
            )
            for venue, nodes in seen.items()
            for node, s in nodes.items()
        ]
        if not rows:
            return

        async def job(cur: Cursor) -> None:
            # an older sighting (a process that heard less recently) never replaces a newer one
            await cur.executemany(
                "INSERT INTO sightings (venue_id, node, role, heard_ms, via, pending, relay, uplink) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (venue_id, node) DO UPDATE SET "
                "role = coalesce(excluded.role, sightings.role), heard_ms = excluded.heard_ms, "
                "via = excluded.via, pending = excluded.pending, relay = excluded.relay, "
                "uplink = excluded.uplink WHERE excluded.heard_ms > sightings.heard_ms",
                sorted(rows),  # one order for every process: no deadlock between two of them
            )

        await self._write(job)

    async def sightings(self, venue_id: str) -> dict[str, Sighting]:
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT node, role, heard_ms, via, pending, relay, uplink FROM sightings "
                "WHERE venue_id = ?",
                (venue_id,),
            )
        )
        return {
            str(node): Sighting(
                None if role is None else str(role),
                int(heard) / 1000,
                str(via),
                None if pending is None else int(pending),
                bool(relay),
                bool(uplink),
            )
            for node, role, heard, via, pending, relay, uplink in rows
        }


async def _insert_audit(cur: Cursor, venue_id: str, entries: Sequence[AuditEntry]) -> None:
    """Keep console writes in the venue's audit log, in the caller's transaction (with the write)."""
    if entries:
        await cur.executemany(
            "INSERT INTO audit (venue_id, at_ms, who, action, subject, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(venue_id, e.at_ms, e.who, e.action, e.subject, canonical(e.detail)) for e in entries],
        )


async def _require_venue(cur: Cursor, venue_id: str) -> None:
    if not await cur.fetchall("SELECT 1 FROM venues WHERE id = ?", (venue_id,)):
        raise _unknown_venue(venue_id)


def _unknown_venue(venue_id: str) -> StoreError:
    return StoreError(f"unknown venue {venue_id!r}: add_venue() it first")
