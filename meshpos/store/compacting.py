"""Compaction, the one writer's merge of a document's log into a snapshot segment (a mixin of
``store.writer.Writer``; kept apart so that module holds the queue and its transactions, and each
reads in one sitting).

Read, merge, write: the log and the segments are read on the reader connection (WAL: it never holds
up the writer), merged off the loop (``store.merger``: a helper process when large), and only the
last step is a transaction in the writer's queue, which checks that what was merged is still there.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from meshpos.store.base import StoreStats
from meshpos.store.connection import Job, let_go, on_connection_thread
from meshpos.store.merger import Merger

log = logging.getLogger("meshpos.store.writer")


class Compacting:
    """``compact`` and its read (the writer's state it uses is declared here)."""

    path: Path
    stats: StoreStats
    closing: bool
    compact_rows: int
    compact_bytes: int
    _merger: Merger
    _reader: aiosqlite.Connection
    _compacting: asyncio.Lock

    if TYPE_CHECKING:  # (the writer's)

        def submit(
            self, what: str, job: Job, committed: Callable[[], None] | None = None
        ) -> asyncio.Future[None]: ...

        def forget(self, name: str) -> None: ...

    async def compact(self, name: str, *, full: bool) -> None:
        """Merge the log (and small segments) into a snapshot segment, deleting what was merged.

        Read, merge, write: only the last step is a transaction in the queue. The merge (store.merger,
        a helper process when large) runs while appends keep committing, so a sale never waits for a
        compaction; the write step checks that what was merged is still there (a drop may have come
        between) and leaves rows appended meanwhile in the log.
        """
        async with self._compacting:
            if self.closing:
                return

            def read(db: sqlite3.Connection) -> tuple[int, list[Any], list[Any]] | None:
                db.execute("BEGIN")  # one read transaction: one committed state
                try:
                    return self._read_for_merge(db, name, full)
                finally:
                    db.execute("COMMIT")

            found = await on_connection_thread(self._reader, read)
            await let_go(self._reader)
            if found is None:
                return
            doc_id, log_rows, segments = found
            if not log_rows and (not full or len(segments) <= 1):
                return  # nothing to merge
            # merge_updates keeps updates whose predecessors are still missing
            absorbed, merged = await asyncio.to_thread(
                self._merger.fold, [s[1] for s in segments], [u[1] for u in log_rows], full=full
            )
            gone = [s[0] for s in segments[len(segments) - absorbed :]]
            last_seq = log_rows[-1][0] if log_rows else 0

            def write(db: sqlite3.Connection) -> None:
                still = db.execute("SELECT id FROM documents WHERE name = ?", (name,)).fetchall()
                held = db.execute(
                    "SELECT count(*) FROM updates WHERE doc = ? AND seq <= ?", (doc_id, last_seq)
                ).fetchone()[0]
                kept = db.execute(
                    "SELECT count(*) FROM snapshots WHERE doc = ? AND id IN "
                    f"({','.join('?' * len(gone))})",
                    (doc_id, *gone),
                ).fetchone()[0]
                if still != [(doc_id,)] or held != len(log_rows) or kept != len(gone):
                    log.info(
                        "store %s: %s changed while it was merged; merge dropped", self.path, name
                    )
                    return
                db.executemany("DELETE FROM snapshots WHERE id = ?", [(g,) for g in gone])
                db.execute("INSERT INTO snapshots (doc, data) VALUES (?, ?)", (doc_id, merged))
                db.execute("DELETE FROM updates WHERE doc = ? AND seq <= ?", (doc_id, last_seq))
                self.stats.compactions += 1

            if self.closing:
                return  # the writer is draining its queue to stop: the merge is simply dropped
            await self.submit(f"compact {name!r}", write, lambda: self.forget(name))

    def _read_for_merge(
        self, db: sqlite3.Connection, name: str, full: bool
    ) -> tuple[int, list[Any], list[Any]] | None:
        """The log and the segments a merge may absorb, read on the reader connection (WAL: it sees
        the last commit and never holds up the writer, where reading a day's big segment kept the
        sales' appends waiting tens of ms).

        Nothing when the document is no longer over a threshold (an append made during the last
        compaction counted rows that compaction then merged). The segments ``fold`` cannot absorb are
        not read: a segment is absorbed only when at most twice what is built, and what is built is at
        most the log plus the segments absorbed before it, so their sizes decide.
        """
        found = db.execute("SELECT id FROM documents WHERE name = ?", (name,)).fetchall()
        if not found:
            return None
        doc_id = found[0][0]
        rows, size = db.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE doc = ?", (doc_id,)
        ).fetchone()
        if not full and rows < self.compact_rows and size < self.compact_bytes:
            return None
        log_rows = db.execute(
            "SELECT seq, data FROM updates WHERE doc = ? ORDER BY seq", (doc_id,)
        ).fetchall()
        sizes = db.execute(
            "SELECT id, length(data) FROM snapshots WHERE doc = ? ORDER BY id", (doc_id,)
        ).fetchall()
        built = sum(len(row[1]) for row in log_rows)
        wanted = 0
        for _, length in reversed(sizes):
            if not full and length > 2 * built:
                break
            wanted += 1
            built += length
        ids = [row[0] for row in sizes[len(sizes) - wanted :]]
        segments = [
            db.execute("SELECT id, data FROM snapshots WHERE id = ?", (i,)).fetchone() for i in ids
        ]
        return doc_id, log_rows, segments
