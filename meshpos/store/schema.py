"""The on-disk schema, and the checks that run before we dare open a file for writing.

A file we do not understand is never "repaired": a corrupt or newer database is reported and left
byte for byte as it was, because it may hold the only copy of a day's sales. All checks go through a
read-only connection; only a file that passes them is opened read-write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from meshpos.errors import CorruptDatabase, SchemaTooNew, StoreError

SCHEMA_VERSION = 4
_HEADER = b"SQLite format 3\x00"
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

CLOSED_RECORDS = (
    "CREATE TABLE closed_records (key TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID"
)

DROPPED_DAYS = (
    "CREATE TABLE dropped_days (name TEXT PRIMARY KEY, state_vector BLOB NOT NULL, "
    "deletions BLOB NOT NULL) WITHOUT ROWID"
)

SIGNED_COLUMN = "ALTER TABLE documents ADD COLUMN closed_signed INTEGER NOT NULL DEFAULT 0"

DDL = (
    """CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        closed INTEGER NOT NULL DEFAULT 0,
        closed_signed INTEGER NOT NULL DEFAULT 0,
        log_rows INTEGER NOT NULL DEFAULT 0,
        log_bytes INTEGER NOT NULL DEFAULT 0,
        state_vector BLOB,
        deletions BLOB
    )""",
    """CREATE TABLE updates (
        seq INTEGER PRIMARY KEY,
        doc INTEGER NOT NULL REFERENCES documents(id),
        data BLOB NOT NULL
    )""",
    "CREATE INDEX updates_by_doc ON updates(doc, seq)",
    # Snapshot segments, kept apart from `documents` so that bumping a counter never rewrites a blob.
    """CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        doc INTEGER NOT NULL REFERENCES documents(id),
        data BLOB NOT NULL
    )""",
    "CREATE INDEX snapshots_by_doc ON snapshots(doc, id)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    CLOSED_RECORDS,
    DROPPED_DAYS,
)
"""Version 2 (issue 15): a closed day keeps its ``state_vector`` and ``deletions`` (the synchronizer
answers for it from them while it is unloaded), and ``closed_records`` maps the receipt ids and numbers
of closed days to their document, so a refund of an old receipt finds the day without loading any.
Version 3 (issue 18, keep): ``dropped_days`` keeps only the summary of a closed day a register let go of
after its retention (``register/retention.py``): its content, ``documents`` row and record keys are gone,
and the summary lets the synchronizer keep answering for it without ever creating it empty again. An
older meshpos refuses the file (schema too new) instead of creating a dropped day empty over it.
Version 4 (issue 18, keep): ``documents.closed_signed`` says a closed day closed on the console's
*signed* word that it holds all of it (or a signed statement said so since: ``confirm_closed``); only
such a day may be dropped. A day closed before (version 3 did not record it) counts as unsigned. An
older meshpos refuses the file: it would close a day on unsigned word and leave the mark standing."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # from version 1: a day closed by the flag alone has no summary yet; ``closed_days`` makes one
    1: (
        "ALTER TABLE documents ADD COLUMN state_vector BLOB",
        "ALTER TABLE documents ADD COLUMN deletions BLOB",
        CLOSED_RECORDS,
    ),
    2: (DROPPED_DAYS,),
    # from version 3: no close is known to have rested on signed word
    3: (SIGNED_COLUMN,),
}
"""Statements that bring a database of version ``key`` to ``key + 1``, run in one transaction."""


def inspect(path: Path, *, check_integrity: bool = True) -> int:
    """Return the schema version (0 for a new or empty file) or raise; never writes to the file.

    Blocking: call it in a thread.
    """
    return inspect_sqlite_file(path, lambda conn: _check(conn, path, check_integrity))


def inspect_sqlite_file(path: Path, check: Callable[[sqlite3.Connection], int]) -> int:
    """``check(conn)`` on ``path`` opened read-only (0 for a missing or empty file), never writing to
    it; a file that is not SQLite, or that SQLite finds corrupt, raises CorruptDatabase. Blocking."""
    if not path.exists():
        return 0
    if not path.is_file():
        raise StoreError(f"{path} is not a regular file")
    with path.open("rb") as f:
        header = f.read(100)
    if not header:
        return 0  # SQLite treats an empty file as an empty database
    if len(header) < 100 or not header.startswith(_HEADER):
        raise CorruptDatabase(
            f"{path} is not an SQLite database (bad or truncated header); it was left untouched"
        )
    # Without a WAL file the main file is complete, and `immutable` reads it without even creating
    # -wal/-shm files; with one (after a crash) read-only mode is needed to see its committed frames.
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path} to check it: {exc}") from exc
    try:
        return check(conn)
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode in _CORRUPT_CODES:
            raise CorruptDatabase(f"{path} is corrupt ({exc}); it was left untouched") from exc
        raise StoreError(f"cannot check {path}: {exc}") from exc
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path, check_integrity: bool) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has schema version {version} but this meshpos understands only up to "
            f"version {SCHEMA_VERSION}; refusing to open it (upgrade meshpos)"
        )
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and tables:
        raise StoreError(
            f"{path} is an SQLite database of something else (tables {sorted(tables)}, "
            "no meshpos schema version); refusing to touch it"
        )
    if check_integrity:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise CorruptDatabase(
                f"{path} is corrupt ({'; '.join(problems[:3])}); it was left untouched"
            )
    return version
