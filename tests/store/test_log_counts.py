"""An append writes its log rows, not its document's ``documents`` row (store.log_counts): one WAL page
less in every commit, so fewer of SQLite's checkpoints inside the sales' commits (issue 18, wal); and
the compaction's counters, kept in memory now, still count what is on disk (a reopen, a copy of the
files as ``kill -9`` leaves them, a drop, a failed append)."""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from meshpos.errors import StoreError
from meshpos.store import SqliteStore

from .commit_tail import updates

DAY = "ledger/2026-12-06"
_WAL_HEADER, _FRAME_HEADER = 32, 24


def _updates(count: int) -> list[bytes]:
    return updates(count, 300)


async def _compacts_with(store: SqliteStore, last: bytes) -> None:
    """Nothing compacted yet, and ``last`` is the append that reaches the threshold: one compaction."""
    await store.idle()
    assert store.stats.compactions == 0
    await store.append([(DAY, last)], validated=True)
    await store.idle()
    assert store.stats.compactions == 1


async def _receipts_loaded(store: SqliteStore) -> int:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(await store.load(DAY) or b"")
    return len(doc.get("receipts", type=pycrdt.Map))


def _pages_written(wal: Path, since: int) -> list[int]:
    """The page numbers of the WAL's frames from byte ``since`` on (SQLite's WAL format)."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    frame = _FRAME_HEADER + page_size
    start = max(since, _WAL_HEADER)
    return [struct.unpack(">I", data[at : at + 4])[0] for at in range(start, len(data), frame)]


async def test_an_append_to_a_known_document_does_not_rewrite_its_documents_row(
    tmp_path: Path,
) -> None:
    """Fails before: every append upserted the row (``log_rows`` / ``log_bytes``), its leaf page
    in every commit's frames."""
    path = tmp_path / "s.db"
    wal = path.with_name("s.db-wal")
    rows = _updates(11)
    async with await SqliteStore.open(path) as store:
        await store.append([(DAY, rows[0])], validated=True)
        since = wal.stat().st_size
        for update in rows[1:]:
            await store.append([(DAY, update)], validated=True, fsync=False)
        written = _pages_written(wal, since)
        with sqlite3.connect(path) as conn:
            documents_pages = {
                page
                for (page,) in conn.execute(
                    "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'documents'"
                )
            }
        assert written, "the appends wrote no WAL frames"
        assert documents_pages.isdisjoint(written)
        assert len(written) <= 3 * 10  # the log's leaf, its index's leaf, the file's first page
        [info] = await store.documents()
        assert info.log_rows == 11


async def test_the_compaction_threshold_counts_the_rows_on_disk_after_a_reopen(
    tmp_path: Path,
) -> None:
    """The counters are read from the ``updates`` rows at the first append after an open."""
    rows = _updates(10)
    path = tmp_path / "s.db"
    async with await SqliteStore.open(path, compact_rows=10) as store:
        for update in rows[:6]:
            await store.append([(DAY, update)], validated=True)
    async with await SqliteStore.open(path, compact_rows=10) as store:
        for update in rows[6:9]:
            await store.append([(DAY, update)], validated=True)
        await _compacts_with(store, rows[9])
        [info] = await store.documents()
        assert info.log_rows == 0


async def test_a_copy_of_the_files_as_kill_9_leaves_them_compacts_at_the_same_threshold(
    tmp_path: Path,
) -> None:
    """The database and its WAL copied while the store is open (nothing written since the last
    commit): what a ``kill -9`` leaves. Opened, it counts the log from its rows."""
    rows = _updates(10)
    (tmp_path / "crashed").mkdir()
    async with await SqliteStore.open(tmp_path / "s.db", compact_rows=10) as store:
        for update in rows[:7]:
            await store.append([(DAY, update)], validated=True, fsync=False)
        await store.idle()
        for name in ("s.db", "s.db-wal"):
            shutil.copy(tmp_path / name, tmp_path / "crashed" / name)
    async with await SqliteStore.open(tmp_path / "crashed" / "s.db", compact_rows=10) as store:
        for update in rows[7:9]:
            await store.append([(DAY, update)], validated=True)
        await _compacts_with(store, rows[9])
        assert await _receipts_loaded(store) == 10


async def test_a_dropped_document_counts_its_log_again(tmp_path: Path) -> None:
    rows = _updates(18)
    async with await SqliteStore.open(tmp_path / "s.db", compact_rows=10) as store:
        for update in rows[:8]:
            await store.append([(DAY, update)], validated=True)
        await store.drop(DAY)
        for update in rows[8:17]:
            await store.append([(DAY, update)], validated=True)
        await _compacts_with(store, rows[17])


async def test_a_failed_append_leaves_no_id_and_no_count_behind(tmp_path: Path) -> None:
    """A new document's row inserted by an append that rolls back is gone: its id must not be
    used by the next append (its rows would belong to no document), nor its count kept."""
    path = tmp_path / "s.db"
    async with await SqliteStore.open(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON updates WHEN NEW.data = x'00' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    rows = _updates(10)
    async with await SqliteStore.open(path, compact_rows=10) as store:
        with pytest.raises(StoreError, match="refused"):
            await store.append([(DAY, rows[0]), (DAY, b"\x00")], validated=True)
        assert await store.load(DAY) is None
        for update in rows[:9]:
            await store.append([(DAY, update)], validated=True)
        with pytest.raises(StoreError, match="refused"):
            await store.append([(DAY, b"\x00")], validated=True)
        await _compacts_with(store, rows[9])
        assert await _receipts_loaded(store) == 10
