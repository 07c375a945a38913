"""The console database's statements for business days: compaction into segments, closed days (the
engine's ``DocumentStore`` port, per venue) and what a day could not materialise. A mixin of
:class:`~meshpos.console.sqlbase.SqlConsoleDB` (split out by concern: same SQL for both adapters)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from meshpos.console.cursor import Cursor
from meshpos.errors import StoreError
from meshpos.model import valid_document_name
from meshpos.model.documents import ledger_name
from meshpos.model.records import RECEIPTS
from meshpos.model.tally import Tally
from meshpos.store.base import fold

T = TypeVar("T")


def check_document(doc_name: str) -> str:
    if not isinstance(doc_name, str) or not valid_document_name(doc_name):
        raise StoreError(f"{doc_name!r} is not a meshpos document name")
    return doc_name


class DayStatements:
    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Cursor], Awaitable[T]]) -> T: ...

        async def _read(self, job: Callable[[Cursor], Awaitable[T]]) -> T: ...

        async def load_document(self, venue_id: str, doc_name: str) -> bytes | None: ...

    # --- closed business days (the engine's DocumentStore port, per venue) --------------------
    async def close_document(
        self,
        venue_id: str,
        doc_name: str,
        state_vector: bytes,
        deletions: bytes,
        keys: Iterable[str] = (),
        reports: Tally | None = None,
    ) -> None:
        """Mark the day closed with its summary (and what the reports hold of it), fold it into one
        segment, index ``keys``: one transaction, after every append before it."""
        check_document(doc_name)
        indexed = sorted(set(keys))
        counts = json.dumps(reports, sort_keys=True) if reports else None

        async def job(cur: Cursor) -> None:
            found = await cur.execute(
                "UPDATE documents SET closed = 1, state_vector = ?, deletions = ?, reports = ? "
                "WHERE venue_id = ? AND name = ?",
                (bytes(state_vector), bytes(deletions), counts, venue_id, doc_name),
            )
            if not found:
                raise StoreError(f"venue {venue_id}: no document {doc_name!r} to close")
            await fold_log(cur, venue_id, doc_name, full=True)
            await cur.executemany(
                "INSERT INTO closed_records (venue_id, record_key, doc_name) VALUES (?, ?, ?) "
                "ON CONFLICT (venue_id, record_key) DO UPDATE SET doc_name = excluded.doc_name",
                [(venue_id, key, doc_name) for key in indexed],
            )

        await self._write(job)

    async def closed_documents(self, venue_id: str) -> dict[str, tuple[bytes, bytes]]:
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT name, state_vector, deletions FROM documents "
                "WHERE venue_id = ? AND closed = 1 ORDER BY name",
                (venue_id,),
            )
        )
        return {
            str(name): (bytes(sv or b"\x00"), bytes(ds or b"\x00\x00")) for name, sv, ds in rows
        }

    async def closed_reports(self, venue_id: str) -> dict[str, Tally]:
        """Closed day -> what the reports held of it when it closed (register -> kind -> count)."""
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT name, reports FROM documents WHERE venue_id = ? AND closed = 1 "
                "AND reports IS NOT NULL ORDER BY name",
                (venue_id,),
            )
        )
        out: dict[str, Tally] = {}
        for name, text in rows:
            try:
                found = json.loads(text)
                out[str(name)] = {
                    str(reg): {str(kind): int(n) for kind, n in kinds.items()}
                    for reg, kinds in found.items()
                }
            except (ValueError, TypeError, AttributeError):
                continue  # unreadable: the day is simply not vouched for (it is still held)
        return out

    async def find_closed(self, venue_id: str, key: str) -> str | None:
        """The closed ledger day holding the receipt whose id or number is ``key``: from the keys
        indexed when it closed, else from the receipts table's own indexes (its primary key and its
        number), so the console stores no key twice and never scans a day for one."""
        table = RECEIPTS.table

        async def job(cur: Cursor) -> str | None:
            rows = await cur.fetchall(
                "SELECT doc_name FROM closed_records WHERE venue_id = ? AND record_key = ?",
                (venue_id, key),
            )
            if rows:
                return str(rows[0][0])
            for column in ("id", "number"):  # (two receipts with one number: an alarm; the latest)
                rows = await cur.fetchall(
                    f"SELECT business_date FROM {table} WHERE venue_id = ? AND {column} = ? "
                    "ORDER BY business_date DESC LIMIT 1",
                    (venue_id, key),
                )
                if rows:
                    name = ledger_name(str(rows[0][0]))
                    closed = await cur.fetchall(
                        "SELECT 1 FROM documents WHERE venue_id = ? AND name = ? AND closed = 1",
                        (venue_id, name),
                    )
                    return name if closed else None
            return None

        return await self._read(job)

    async def reopen_document(self, venue_id: str, doc_name: str) -> bytes | None:
        """Mark the day open again and return what it holds (one update)."""
        check_document(doc_name)
        await self._write(
            lambda cur: cur.execute(
                "UPDATE documents SET closed = 0 WHERE venue_id = ? AND name = ?",
                (venue_id, doc_name),
            )
        )
        return await self.load_document(venue_id, doc_name)

    # --- what a day could not materialise (every console process) ----------------------------
    async def set_unreported(self, venue_id: str, doc_name: str, records: int, reason: str) -> None:
        check_document(doc_name)

        async def job(cur: Cursor) -> None:
            if records <= 0:
                await cur.execute(
                    "DELETE FROM unreported WHERE venue_id = ? AND doc_name = ?",
                    (venue_id, doc_name),
                )
                return
            await cur.execute(
                "INSERT INTO unreported (venue_id, doc_name, records, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (venue_id, doc_name) DO UPDATE SET records = excluded.records, "
                "reason = excluded.reason",
                (venue_id, doc_name, int(records), reason),
            )

        await self._write(job)

    async def unreported(self, venue_id: str) -> dict[str, tuple[int, str]]:
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT doc_name, records, reason FROM unreported WHERE venue_id = ? "
                "ORDER BY doc_name",
                (venue_id,),
            )
        )
        return {str(name): (int(n), str(why)) for name, n, why in rows}


async def fold_log(cur: Cursor, venue_id: str, doc_name: str, *, full: bool = False) -> None:
    """Fold the log into the snapshot segments, inside the caller's transaction.

    Re-merging the whole day at every compaction grew quadratically with the day (40,000 updates:
    11 s of appends). Segments grow geometrically instead (``meshpos.store.base.fold``, as on the
    node): a compaction merges the log with the trailing segments no more than twice its size, so
    each byte is merged about log2(n) times and a document keeps a handful of segments. ``full``
    folds everything into one segment (a closed day)."""
    where = "venue_id = ? AND doc_name = ?"
    key = (venue_id, doc_name)
    segments = await cur.fetchall(f"SELECT id, data FROM snapshots WHERE {where} ORDER BY id", key)
    log = await cur.fetchall(f"SELECT seq, data FROM updates WHERE {where} ORDER BY seq", key)
    if not log and (not full or len(segments) <= 1):
        return
    absorbed, merged = fold([bytes(r[1]) for r in segments], [bytes(r[1]) for r in log], full=full)
    gone = [r[0] for r in segments[len(segments) - absorbed :]]
    if gone:
        await cur.fetch_in(
            f"DELETE FROM snapshots WHERE {where} AND id {{in}} RETURNING id", key, gone
        )
    await cur.execute(
        "INSERT INTO snapshots (venue_id, doc_name, data) VALUES (?, ?, ?)", (*key, merged)
    )
    if log:
        await cur.execute(f"DELETE FROM updates WHERE {where} AND seq <= ?", (*key, log[-1][0]))
    await cur.execute(
        "UPDATE documents SET log_rows = 0 WHERE venue_id = ? AND name = ?", (venue_id, doc_name)
    )
