"""What a database holds that a backup lacks: ``meshpos restore --replace`` must not drop sales.

``--replace`` puts the device's database aside and takes the backup's, which is what a damaged database
needs. But a register whose database still reads may have sold after the backup was taken (the wrong
file picked, yesterday's backup restored "to be safe"): those sales were acknowledged to a cashier, and
once aside nothing reads them again (the node syncs from the restored file; a peer or the console has
them only if they reached it before). So the restore first compares the two, per document: the writes
(items, by client and clock) and the deletions the device's database holds beyond the backup's. Any at
all, and the restore is refused, naming them, with nothing changed. A database that does not read as a
meshpos store is what a restore is for: it is put aside as before.

Read-only connections, as the backup's own copy (``backup._snapshot``): a refused restore leaves the
device's files as they were.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.errors import MeshposError
from meshpos.lib0 import Reader
from meshpos.model.replica import decode_state_vector
from meshpos.store.base import merge

_NAMES = "SELECT name FROM documents ORDER BY name"
_DATA = (  # one statement, as SqliteStore.load: the snapshots and the log of one committed state
    "SELECT s.data FROM snapshots s JOIN documents d ON s.doc = d.id WHERE d.name = ?1 "
    "UNION ALL SELECT u.data FROM updates u JOIN documents d ON u.doc = d.id WHERE d.name = ?1"
)


class Unreadable(MeshposError):
    """The device's database does not read as a meshpos store (a damaged one: what restore is for)."""


def newer_writes(device_db: Path, backup_db: Path) -> dict[str, int]:
    """Per document, how many writes and deletions ``device_db`` holds that ``backup_db`` lacks
    (documents with none left out). Raises :class:`Unreadable` when ``device_db`` cannot be read."""
    backup = _documents(backup_db)  # checked whole by the restore already (inspect)
    newer: dict[str, int] = {}
    try:
        for name, update in _documents(device_db).items():
            count = _beyond(update, backup.get(name))
            if count:
                newer[name] = count
    except (sqlite3.Error, ValueError, MeshposError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None
    except BaseException as exc:  # pycrdt panics (a BaseException) on some damaged updates
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise Unreadable(f"a damaged update ({exc})") from None
    return newer


def _documents(db: Path) -> dict[str, bytes]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [str(row[0]) for row in conn.execute(_NAMES)]
        return {
            name: merge([bytes(row[0]) for row in conn.execute(_DATA, (name,))]) for name in names
        }
    finally:
        conn.close()


def _beyond(device: bytes, backup: bytes | None) -> int:
    """Items and deleted items of ``device`` not in ``backup``: the backup's document with the
    device's applied on top, counted before and after."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    if backup is not None:
        doc.apply_update(backup)
    clocks, deleted = _counts(doc)
    doc.apply_update(device)
    clocks_after, deleted_after = _counts(doc)
    return (clocks_after - clocks) + (deleted_after - deleted)


def _counts(doc: pycrdt.Doc[Any]) -> tuple[int, int]:
    """(items, deleted items) of ``doc``: its state vector's clocks and its delete set's lengths."""
    state = doc.get_state()
    items = sum(decode_state_vector(state).values())
    return items, _deleted(doc.get_update(state))


def _deleted(update: bytes) -> int:
    """The number of items an update with no structs (``get_update(get_state())``) marks deleted:
    its delete set's ranges, overlaps counted once."""
    reader = Reader(update)
    if reader.read_var_uint("structs"):
        raise ValueError("expected an update without structs")
    total = 0
    for _ in range(reader.read_var_uint("delete set clients")):
        reader.read_var_uint("client")
        ranges = sorted(
            (reader.read_var_uint("clock"), reader.read_var_uint("length"))
            for _ in range(reader.read_var_uint("ranges"))
        )
        end = 0
        for clock, length in ranges:
            start = max(clock, end)
            if clock + length > start:
                total += clock + length - start
            end = max(end, clock + length)
    return total
