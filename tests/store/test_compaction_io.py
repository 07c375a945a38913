"""What a compaction reads and writes, so that the sales' appends never queue behind its megabytes
(issue 15: a sale's p99 moved by tens of ms whenever a register compacted its open day)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.bench.workload import UpdateLog, add_receipt, receipt_ids
from meshpos.store import SqliteStore
from meshpos.store.merger import Merger

from .store_helpers import replace_merger

DAY = "ledger/2026-11-25"


def _doc_of(update: bytes | None) -> pycrdt.Doc[Any]:
    assert update is not None
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return doc


def _sold(doc: pycrdt.Doc[Any], first: int, count: int) -> list[bytes]:
    log = UpdateLog(doc)
    for i in range(first, first + count):
        add_receipt(doc, i)
    return log.take()


async def test_an_update_as_big_as_the_byte_threshold_goes_in_as_a_segment(tmp_path: Path) -> None:
    """A day caught up in one update is already merged: as log it would make a compaction that only
    rewrites its bytes (with the sales' appends waiting behind that write)."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    _sold(doc, 0, 200)
    big = doc.get_update()
    small = _sold(doc, 200, 3)
    async with await SqliteStore.open(tmp_path / "s.db", compact_bytes=len(big)) as store:
        await store.append([(DAY, big), *((DAY, u) for u in small)])
        await store.idle()
        [info] = await store.documents()
        assert (info.log_rows, info.snapshot_bytes) == (len(small), len(big))
        assert store.stats.compactions == 0
        assert receipt_ids(_doc_of(await store.load(DAY))) == receipt_ids(doc)


async def test_a_compaction_is_given_only_the_segments_it_may_absorb(tmp_path: Path) -> None:
    """A segment more than twice what the log merges into is never absorbed (store.base.fold), so it
    is not read: a day's big segment stays on disk while its later sales compact."""
    handed: list[int] = []

    class Watched(Merger):
        def fold(
            self, segments: Sequence[bytes], log_rows: Sequence[bytes], *, full: bool
        ) -> tuple[int, bytes]:
            handed.append(len(segments))
            return super().fold(segments, log_rows, full=full)

    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    _sold(doc, 0, 300)
    big = doc.get_update()
    async with await SqliteStore.open(tmp_path / "s.db", compact_bytes=len(big)) as store:
        replace_merger(store, Watched(store.stats))
        await store.append([(DAY, big)])  # a segment (see above)
        await store.append([(DAY, u) for u in _sold(doc, 300, 5)])
        await store._writer.compact(DAY, full=False)  # under the thresholds: nothing to do
        assert handed == []
        await store.compact(DAY)  # full: everything is read and merged
        assert handed == [1]
        await store.append([(DAY, u) for u in _sold(doc, 305, 5)])
        store._writer.compact_rows = 5
        await store._writer.compact(DAY, full=False)
        assert handed == [1, 0]  # five receipts never absorb a day of 305
        [info] = await store.documents()
        assert info.log_rows == 0
        assert receipt_ids(_doc_of(await store.load(DAY))) == receipt_ids(doc)


async def test_appends_during_a_compaction_do_not_start_another_that_finds_nothing_due(
    tmp_path: Path,
) -> None:
    """Appends committed while a compaction merges count the rows it is merging: once it is written
    the log is small again, and a second compaction would read the day's segments for nothing."""
    merging, merged = threading.Event(), threading.Event()

    class Held(Merger):
        """Holds the merge (in its thread) until the test's appends are in: "while it merges" made
        sure, where a sleep(0) let a loaded machine's compaction read the log after the first of
        them (log_rows 4: failed once in CI)."""

        def fold(
            self, segments: Sequence[bytes], log_rows: Sequence[bytes], *, full: bool
        ) -> tuple[int, bytes]:
            merging.set()
            merged.wait(30)
            return super().fold(segments, log_rows, full=full)

    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    rows = _sold(doc, 0, 3000)
    async with await SqliteStore.open(tmp_path / "s.db", compact_rows=len(rows)) as store:
        replace_merger(store, Held(store.stats))
        await store.append([(DAY, u) for u in rows], validated=True)
        # the writer starts the compaction between bursts; it has read the log once it merges
        assert await asyncio.to_thread(merging.wait, 30)
        for i in range(3000, 3005):
            await store.append([(DAY, u) for u in _sold(doc, i, 1)], validated=True)
        merged.set()
        await store.idle()
        [info] = await store.documents()
        assert store.stats.compactions == 1
        assert info.log_rows == 5
        assert receipt_ids(_doc_of(await store.load(DAY))) == receipt_ids(doc)
