"""Each document's id and log counters, kept in memory by the writer instead of in its ``documents`` row.

**Changed** (issue 18, wal): every append used to upsert its document's row (``log_rows`` /
``log_bytes``, the compaction's counters, and ``RETURNING id``): one more WAL page in every commit
(a tap wrote 3.2 pages, a received round 6), and so more of SQLite's checkpoints, which run inside
whichever commit crosses 1,000 pages and make the sales' tail. Now a document's row is written only
when the document is new; its id and counters live here, read on its first append after an open
(the counters counted from its ``updates`` rows, which compaction bounds: so a restart, even after
``kill -9``, starts from what is on disk). The columns stay in the schema, no longer kept up to date.

The entries change only once a transaction is committed (``Counting.committed``), and the writer runs
one transaction at a time, so a rolled-back append leaves no trace here. A compaction or a drop
forgets the document: its next append counts again from the rows.
"""

from __future__ import annotations

import sqlite3

_FIND = "SELECT id FROM documents WHERE name = ?"
_NEW = "INSERT INTO documents (name) VALUES (?) RETURNING id"
_COUNT = "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE doc = ?"


class LogCounts:
    """name -> (document id, log rows, log bytes) of the documents appended to since the open."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, int, int]] = {}

    def forget(self, name: str) -> None:
        self._known.pop(name, None)

    def counting(self) -> Counting:
        return Counting(self)


class Counting:
    """One transaction's view: ``add`` on the connection's thread, ``committed`` on the loop after."""

    def __init__(self, counts: LogCounts) -> None:
        self._counts = counts
        self.after: dict[str, tuple[int, int, int]] = {}

    def add(self, db: sqlite3.Connection, name: str, rows: int, size: int) -> int:
        """The document's id (its row inserted if it is new); ``rows`` and ``size`` added to its log."""
        known = self.after.get(name) or self._counts._known.get(name)
        if known is None:
            found = db.execute(_FIND, (name,)).fetchone()
            if found is None:
                known = (int(db.execute(_NEW, (name,)).fetchone()[0]), 0, 0)
            else:
                count, total = db.execute(_COUNT, (found[0],)).fetchone()
                known = (int(found[0]), int(count), int(total))
        doc_id, log_rows, log_bytes = known
        self.after[name] = (doc_id, log_rows + rows, log_bytes + size)
        return doc_id

    def committed(self) -> dict[str, tuple[int, int]]:
        """Keep what this transaction counted; each document's (log rows, log bytes) now."""
        self._counts._known.update(self.after)
        return {name: (rows, size) for name, (_, rows, size) in self.after.items()}
