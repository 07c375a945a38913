"""What only the SQLite store can promise: durability settings, refusing bad files, group commit,
cancellation safety, a full disk, atomic compaction, and what survives a reopen."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from meshpos.bench.workload import UpdateLog, add_receipt, receipt_ids
from meshpos.engine import StoreDocuments
from meshpos.errors import CorruptDatabase, MissingDatabase, SchemaTooNew, StoreError, StoreLocked
from meshpos.store import SCHEMA_VERSION, SqliteStore
from meshpos.store.merger import Merger

from .store_helpers import Recorder, content, replace_merger, snapshot

DAY = "ledger/2026-11-25"


async def _fill(path: Path, receipts: int = 200) -> pycrdt.Doc[Any]:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    log = UpdateLog(doc)
    async with await SqliteStore.open(path, compact_rows=50) as store:
        for i in range(receipts):
            add_receipt(doc, i)
            await store.append([(DAY, u) for u in log.take()], {"seq/R1": str(i)})
    return doc


async def test_durability_pragmas_and_schema_version(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        [(mode,)] = await store._db.execute_fetchall("PRAGMA journal_mode")
        [(sync,)] = await store._db.execute_fetchall("PRAGMA synchronous")
        assert (mode, sync) == ("wal", 2)  # 2 = FULL
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE documents (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew) as caught:
        await SqliteStore.open(path)
    message = caught.value.message
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"version {SCHEMA_VERSION}" in message
    assert path.read_bytes() == before


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"this is no db!!!")


def _garbage_page(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(2 * 4096)
        f.write(os.urandom(4096))


@pytest.mark.parametrize("damage", [_random_bytes, _truncated, _garbage_header, _garbage_page])
async def test_corrupt_file_is_reported_and_untouched(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "s.db"
    await _fill(path)
    damage(path)
    before = path.read_bytes()
    with pytest.raises(CorruptDatabase, match=str(path)):
        await SqliteStore.open(path)
    assert path.read_bytes() == before
    # not even -wal/-shm files appeared (the lock file is _fill's: every open takes the lock)
    assert sorted(os.listdir(tmp_path)) == ["s.db", "s.db.lock"]


async def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="something else"):
        await SqliteStore.open(path)
    assert path.read_bytes() == before


async def test_concurrent_appends_share_transactions(tmp_path: Path) -> None:
    rec = Recorder()
    updates = [rec.set(f"r{i}", i) for i in range(50)]
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        await asyncio.gather(
            *(store.append([(DAY, u)], {f"seq/{i}": "1"}) for i, u in enumerate(updates))
        )
        assert store.stats.appends == 50
        assert store.stats.transactions <= 5
        assert content(await store.load(DAY)) == snapshot(rec.doc)
        assert await store.get_meta("seq/49") == "1"


async def test_cancelled_callers_commit_all_or_nothing(tmp_path: Path) -> None:
    """Each caller writes to two documents plus meta; cancelled at random points, none is half there."""
    path = tmp_path / "s.db"
    day, kitchen = Recorder(), Recorder()
    calls = [
        ([(DAY, day.set(f"r{i}", i)), ("kitchen/2026-11-25", kitchen.set(f"t{i}", i))], i)
        for i in range(60)
    ]
    async with await SqliteStore.open(path) as store:
        tasks, late = [], []
        for ups, i in calls:
            task = asyncio.create_task(store.append(ups, {f"seq/{i}": "x"}))
            tasks.append(task)
            if i % 4 == 0:
                task.cancel()  # before it ever ran: nothing of it may be written
            elif i % 4 == 1:
                late.append(task)  # cancelled once queued, maybe while its batch commits
            if i % 5 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        for task in late:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(results[i], asyncio.CancelledError) for i in range(0, 60, 4))
        assert any(isinstance(results[i], asyncio.CancelledError) for i in range(1, 60, 4))
        await store.append([(DAY, day.set("after", True))])  # the store still works
    async with await SqliteStore.open(path) as store:
        days = content(await store.load(DAY))["m"]
        kitchens = content(await store.load("kitchen/2026-11-25"))["m"]
        for (_, i), result in zip(calls, results, strict=True):
            present = (
                f"r{i}" in days,
                f"t{i}" in kitchens,
                await store.get_meta(f"seq/{i}") == "x",
            )
            assert present in ((True, True, True), (False, False, False)), (i, present)
            if result is None or i % 4 == 1:  # acknowledged, or queued before the cancel
                assert present == (True, True, True), i
            if i % 4 == 0:
                assert present == (False, False, False), i
        assert "after" in days
        [(ok,)] = await store._db.execute_fetchall("PRAGMA integrity_check")
        assert ok == "ok"


async def test_full_disk_fails_every_waiter_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    rec = Recorder()
    async with await SqliteStore.open(path) as store:
        await store.append([(DAY, rec.set("before", 1))])
        [(pages,)] = await store._db.execute_fetchall("PRAGMA page_count")
        await store._db.execute(f"PRAGMA max_page_count = {pages}")
        big = [rec.set(f"big{i}", os.urandom(3000).hex()) for i in range(20)]
        results = await asyncio.gather(
            *(store.append([(DAY, u)], {"seq/R1": str(i)}) for i, u in enumerate(big)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreError) for r in results), results
        assert "could not commit" in str(results[0])
        assert str(path) in str(results[0])
        assert store.stats.failed_transactions >= 1
        assert list(content(await store.load(DAY))["m"]) == ["before"]
        assert await store.get_meta("seq/R1") is None

        await store._db.execute("PRAGMA max_page_count = 1073741823")  # space returns
        await store.append([(DAY, u) for u in big], {"seq/R1": "19"})
        assert content(await store.load(DAY)) == snapshot(rec.doc)
    async with await SqliteStore.open(path) as store:
        assert content(await store.load(DAY)) == snapshot(rec.doc)
        assert await store.get_meta("seq/R1") == "19"


async def test_compaction_is_one_transaction(tmp_path: Path) -> None:
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "s.db", compact_rows=10_000) as store:
        for i in range(30):
            await store.append([(DAY, rec.set(f"k{i}", "x" * 200))])
        statements: list[str] = []
        await store._db.set_trace_callback(statements.append)
        before = store.stats.transactions
        await store.compact(DAY)
        await store._db.set_trace_callback(None)  # type: ignore[arg-type]  # (sqlite3 takes None: no callback; aiosqlite's hint omits it)
        assert store.stats.transactions == before + 1
        reads = ("SELECT", "PRAGMA shrink_memory")  # the read, and its memory let go of
        writes = [s.split()[0].upper() for s in statements if not s.startswith(reads)]
        assert (writes[0], writes[-1]) == ("BEGIN", "COMMIT"), statements
        assert writes.count("COMMIT") == 1
        assert {"INSERT", "DELETE"} <= set(writes)  # (no counters in the documents row: log_counts)
        assert content(await store.load(DAY)) == snapshot(rec.doc)


async def test_failed_compaction_changes_nothing(tmp_path: Path) -> None:
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "s.db", compact_rows=10_000) as store:
        for i in range(30):
            await store.append([(DAY, rec.set(f"k{i}", os.urandom(500).hex()))])
        [(pages,)] = await store._db.execute_fetchall("PRAGMA page_count")
        await store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError):
            await store.compact(DAY)
        [info] = await store.documents()
        assert (info.log_rows, info.snapshot_bytes) == (30, 0)
        assert content(await store.load(DAY)) == snapshot(rec.doc)


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    doc = await _fill(path, receipts=120)
    rec = Recorder()
    async with await SqliteStore.open(path) as store:
        await store.append([("catalog", rec.set("espresso", {"price": 250}))])
        await store.set_closed(DAY, True)
        before = await store.documents(include_closed=True)
    async with await SqliteStore.open(path) as store:
        assert await store.documents(include_closed=True) == before
        loaded: pycrdt.Doc[Any] = pycrdt.Doc()
        loaded.apply_update(await store.load(DAY) or b"")
        assert receipt_ids(loaded) == receipt_ids(doc)
        assert loaded.get("receipts", type=pycrdt.Map).to_py() == (
            doc.get("receipts", type=pycrdt.Map).to_py()
        )
        assert content(await store.load("catalog")) == snapshot(rec.doc)
        assert await store.get_meta("seq/R1") == "119"


async def test_start_up_loads_open_days_only(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    rec = Recorder()
    async with await SqliteStore.open(path) as store:
        for name in ("ledger/2026-11-23", "ledger/2026-11-24", "ledger/2026-11-25", "catalog"):
            await store.append([(name, rec.set(name, 1))])
        await store.set_closed("ledger/2026-11-23", True)
        await store.set_closed("ledger/2026-11-24", True)
    async with await SqliteStore.open(path) as store:
        assert store.stats.documents_loaded == 0  # opening reads no document
        loaded = await StoreDocuments(store).load()
        assert set(loaded) == {"catalog", "ledger/2026-11-25"}
        assert store.stats.documents_loaded == 2
        assert await store.load("ledger/2026-11-23") is not None  # on demand
        assert store.stats.documents_loaded == 3


async def test_appends_queued_before_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    rec = Recorder()
    store = await SqliteStore.open(path)
    tasks = [asyncio.create_task(store.append([(DAY, rec.set(f"k{i}", i))])) for i in range(10)]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*tasks)
    async with await SqliteStore.open(path) as store:
        assert content(await store.load(DAY)) == snapshot(rec.doc)


async def test_cancelling_the_writer_task_never_leaves_half_a_transaction(tmp_path: Path) -> None:
    """Event-loop shutdown cancels every task; the writer still finishes or undoes its batch."""
    path = tmp_path / "s.db"
    day, kitchen = Recorder(), Recorder()
    store = await SqliteStore.open(path)
    calls = [
        store.append(
            [(DAY, day.set(f"r{i}", i)), ("kitchen/2026-11-25", kitchen.set(f"t{i}", i))],
            {f"seq/{i}": "x"},
        )
        for i in range(40)
    ]
    began = asyncio.Event()
    loop = asyncio.get_running_loop()

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):
            loop.call_soon_threadsafe(began.set)

    await store._db.set_trace_callback(trace)
    tasks = [asyncio.create_task(c) for c in calls[:20]]
    await began.wait()  # the first batch is inside its transaction
    tasks += [asyncio.create_task(c) for c in calls[20:]]
    await asyncio.sleep(0)  # these are queued behind it
    store._writer._task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r is None or isinstance(r, StoreError) for r in results), results
    assert results[0] is None  # the batch in flight was finished, not torn
    assert isinstance(results[-1], StoreError)  # the queued ones were told
    await store.close()
    async with await SqliteStore.open(path) as store:
        days = content(await store.load(DAY))["m"] if await store.load(DAY) else {}
        kitchens = content(await store.load("kitchen/2026-11-25"))["m"] if days else {}
        for i, result in enumerate(results):
            present = (
                f"r{i}" in days,
                f"t{i}" in kitchens,
                await store.get_meta(f"seq/{i}") == "x",
            )
            assert present == ((True,) * 3 if result is None else (False,) * 3), (i, result)


async def _longest_gap_while(work: Any) -> float:
    """The longest the event loop went without running a 1 ms timer while ``work`` was awaited."""
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.005)
    try:
        await work
    finally:
        ticker.cancel()
    return max(gaps)


class _HeldMerger(Merger):
    """Holds each merge in its thread until ``release``: "while it merges" made sure. A sleep of
    10 ms was the test's guess that the merge had read the log by then; on a loaded machine the
    reads may not have begun, and the appends or the drop then came before the merge, not during
    it (the same flaw failed tests/store/test_compaction_io.py once in CI)."""

    def __init__(self, stats: Any) -> None:
        super().__init__(stats)
        self.started = threading.Event()
        self.release = threading.Event()

    def fold(
        self, segments: Sequence[bytes], log_rows: Sequence[bytes], *, full: bool
    ) -> tuple[int, bytes]:
        self.started.set()
        self.release.wait(30)
        return super().fold(segments, log_rows, full=full)

    async def merging(self) -> None:
        """Returns once a merge has read what it merges and is held."""
        assert await asyncio.to_thread(self.started.wait, 30), "no merge began"


def _hold_merges(store: SqliteStore) -> _HeldMerger:
    held = _HeldMerger(store.stats)
    replace_merger(store, held)
    return held


async def _day_in_the_log(path: Path, receipts: int, **options: Any) -> tuple[SqliteStore, Any]:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    log = UpdateLog(doc)
    for i in range(receipts):
        add_receipt(doc, i)
    store = await SqliteStore.open(path, compact_rows=10**9, compact_bytes=10**12, **options)
    await store.append([(DAY, u) for u in log.take()], validated=True)
    return store, doc


async def test_a_big_compaction_merges_in_a_helper_process_and_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    """pycrdt holds the GIL while it merges: inline, a big compaction stops the event loop (and the
    cashier's sale) for the whole merge; in the helper process the loop keeps its 1 ms timer."""
    inline, _ = await _day_in_the_log(tmp_path / "inline.db", 6000, merge_inline_bytes=10**12)
    helper, doc = await _day_in_the_log(tmp_path / "helper.db", 6000)
    try:
        await helper.compact("catalog")  # nothing to merge: no helper is started for it
        assert helper.stats.helper_merges == 0
        blocked = await _longest_gap_while(inline.compact(DAY))
        await helper.compact(DAY)  # the first big merge starts the helper process
        assert helper.stats.helper_merges == 1
        for i in range(6000, 12000):
            add_receipt(doc, i)
        await helper.append([(DAY, doc.get_update())], validated=True)
        running = await _longest_gap_while(helper.compact(DAY))
        assert helper.stats.helper_merges == 2
        assert inline.stats.helper_merges == 0
        assert blocked > 0.03, (
            f"the inline merge took only {blocked * 1000:.0f} ms: too small a test"
        )
        assert running < blocked / 2, (running, blocked)
        assert receipt_ids(_doc_of(await helper.load(DAY))) == receipt_ids(doc)
    finally:
        await inline.close()
        await helper.close()


def _doc_of(update: bytes | None) -> pycrdt.Doc[Any]:
    assert update is not None
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return doc


def _merge_helpers() -> set[int]:
    """Pids of this process's compaction helpers, as ``ps`` would find them."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"meshpos.store._merge_helper" in cmdline:
            found.add(int(entry.name))
    return found


async def test_compaction_survives_its_helper_process_dying(tmp_path: Path) -> None:
    store, doc = await _day_in_the_log(tmp_path / "s.db", 3000, merge_inline_bytes=1)
    try:
        await store.compact(DAY)
        assert store.stats.helper_merges == 1
        [helper] = _merge_helpers()
        gone = os.pidfd_open(helper)
        os.kill(helper, signal.SIGKILL)
        try:  # dead, not merely signalled: a helper still exiting fails the next ask (inline then)
            await asyncio.get_running_loop().run_in_executor(
                None, select.select, [gone], [], [], 30
            )
        finally:
            os.close(gone)
        log = UpdateLog(doc)
        for i in range(3000, 3100):
            add_receipt(doc, i)
        await store.append([(DAY, u) for u in log.take()], validated=True)
        await store.compact(DAY)  # the helper is gone: a new one merges, nothing is lost
        assert store.stats.helper_merges == 2
        assert receipt_ids(_doc_of(await store.load(DAY))) == receipt_ids(doc)
        [again] = _merge_helpers()
        assert again != helper
    finally:
        await store.close()
    assert not _merge_helpers()  # closing the store stopped the helper


async def test_appends_commit_while_a_compaction_merges_and_stay_in_the_log(tmp_path: Path) -> None:
    """Only the last step of a compaction is a transaction: a sale arriving meanwhile is not held up,
    and what it appended is neither lost nor counted as merged."""
    store, doc = await _day_in_the_log(tmp_path / "s.db", 500)
    held = _hold_merges(store)
    try:
        compaction = asyncio.create_task(store.compact(DAY))
        await held.merging()
        log = UpdateLog(doc)
        for i in range(500, 510):
            add_receipt(doc, i)
            # an append that waited for the compaction would wait here for good (it is held)
            await asyncio.wait_for(store.append([(DAY, u) for u in log.take()], validated=True), 10)
        held.release.set()
        await compaction
        [info] = [d for d in await store.documents() if d.name == DAY]
        assert info.log_rows == 10  # the appends made during the merge are still in the log
        assert receipt_ids(_doc_of(await store.load(DAY))) == receipt_ids(doc)
        await store.compact(DAY)
        [info] = [d for d in await store.documents() if d.name == DAY]
        assert info.log_rows == 0
    finally:
        await store.close()


async def test_a_document_dropped_while_it_is_merged_stays_dropped(tmp_path: Path) -> None:
    store, _ = await _day_in_the_log(tmp_path / "s.db", 500)
    held = _hold_merges(store)
    try:
        compaction = asyncio.create_task(store.compact(DAY))
        await held.merging()
        await store.drop(DAY)
        held.release.set()
        await compaction
        assert await store.load(DAY) is None
        assert [d.name for d in await store.documents()] == []
    finally:
        await store.close()


async def test_closing_during_a_compaction_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store, doc = await _day_in_the_log(path, 500)
    held = _hold_merges(store)
    compaction = asyncio.create_task(store.compact(DAY))
    await held.merging()
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # (the close under way while the merge is still held)
    held.release.set()
    await closing
    await asyncio.wait([compaction])
    async with await SqliteStore.open(path) as again:
        assert receipt_ids(_doc_of(await again.load(DAY))) == receipt_ids(doc)


# --- one process per database (issue 13, defect 4: two writers issued one receipt number twice) ---

_HOLDER = """
import asyncio, sys
from meshpos.store import SqliteStore

async def main():
    store = await SqliteStore.open(sys.argv[1])
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes stdin or kills us
    await store.close()

asyncio.run(main())
"""


async def test_a_second_open_in_this_process_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    await _fill(path, receipts=5)
    store = await SqliteStore.open(path)
    before = path.read_bytes()
    with pytest.raises(StoreLocked) as caught:
        await SqliteStore.open(path)
    assert str(tmp_path) in caught.value.message
    assert f"this process (pid {os.getpid()})" in caught.value.message
    assert path.read_bytes() == before
    assert await store.load(DAY) is not None  # the holder is unaffected
    await store.close()
    async with await SqliteStore.open(path) as again:
        assert await again.load(DAY) is not None


async def test_another_process_holding_the_database_is_named_and_a_kill_9_frees_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    await _fill(path, receipts=5)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"ready\n"
        with pytest.raises(StoreLocked, match=f"in use by process {holder.pid}:"):
            await SqliteStore.open(path)
        holder.kill()  # SIGKILL: no close ran, the lock file stays, the kernel dropped the lock
        await holder.wait()
        assert (tmp_path / "node.db.lock").exists()
        async with await SqliteStore.open(path) as store:
            assert await store.load(DAY) is not None
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


@pytest.mark.parametrize("existing", [None, b""], ids=["missing", "empty"])
async def test_create_false_refuses_a_missing_or_empty_file_and_writes_nothing(
    tmp_path: Path, existing: bytes | None
) -> None:
    path = tmp_path / "node.db"
    if existing is not None:
        path.write_bytes(existing)
    with pytest.raises(
        MissingDatabase, match="missing" if existing is None else r"empty \(0 bytes"
    ):
        await SqliteStore.open(path, create=False)
    assert sorted(os.listdir(tmp_path)) == ([] if existing is None else ["node.db"]) + [
        "node.db.lock"
    ]
    if existing is not None:
        assert path.read_bytes() == existing
    async with await SqliteStore.open(path) as store:  # the default creates it, as before
        assert store.created
    async with await SqliteStore.open(path, create=False) as store:
        assert not store.created


def downgrade_to_version_1(path: Path) -> None:
    """Make ``path`` a version-1 database: today's schema without what migrations 1 to 3 add."""
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE documents DROP COLUMN closed_signed")
        conn.execute("DROP TABLE dropped_days")
        conn.execute("DROP TABLE closed_records")
        conn.execute("ALTER TABLE documents DROP COLUMN state_vector")
        conn.execute("ALTER TABLE documents DROP COLUMN deletions")
        conn.execute("PRAGMA user_version = 1")
    conn.close()


async def test_a_version_1_database_is_migrated_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    doc = await _fill(path, receipts=60)
    async with await SqliteStore.open(path) as store:
        await store.append([("ledger/2026-11-24", Recorder().set("r", 1))])
        await store.set_closed("ledger/2026-11-24", True)  # what version 1 could do: the flag
    downgrade_to_version_1(path)
    async with await SqliteStore.open(path) as store:
        loaded: pycrdt.Doc[Any] = pycrdt.Doc()
        loaded.apply_update(await store.load(DAY) or b"")
        assert receipt_ids(loaded) == receipt_ids(doc)
        assert await store.get_meta("seq/R1") == "59"
        assert set(await store.closed_days()) == {"ledger/2026-11-24"}  # summarised from content
        await store.close_day(DAY, doc.get_state(), doc.get_update(doc.get_state()), ["r0"])
        assert await store.find_closed("r0") == DAY
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    async with await SqliteStore.open(path) as store:
        assert set(await store.closed_days()) == {DAY, "ledger/2026-11-24"}
        assert store.stats.documents_loaded == 0  # both summaries were kept


async def test_closed_days_survive_a_reopen_and_start_up_reads_none_of_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    days = {f"ledger/2026-11-{d}": Recorder() for d in (23, 24, 25)}
    async with await SqliteStore.open(path) as store:
        for name, rec in days.items():
            await store.append([(name, rec.set(name, 1)), ("catalog", rec.set("c", 1))])
        for name in ("ledger/2026-11-23", "ledger/2026-11-24"):
            state = days[name].doc.get_state()
            await store.close_day(name, state, days[name].doc.get_update(state), [name + "/r"])
    async with await SqliteStore.open(path) as store:
        closed = await store.closed_days()
        assert set(closed) == {"ledger/2026-11-23", "ledger/2026-11-24"}
        assert await store.find_closed("ledger/2026-11-23/r") == "ledger/2026-11-23"
        assert set(await StoreDocuments(store).load()) == {"catalog", "ledger/2026-11-25"}
        assert store.stats.documents_loaded == 2  # the open ones only


async def test_a_closed_days_record_keys_are_not_kept_by_the_store(tmp_path: Path) -> None:
    """The keys indexed when a day closes (two per receipt: a whole day of strings) leave memory once
    committed: the writer waiting for its next job kept the last one, and with it every key."""
    import tracemalloc

    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "node.db") as store:
        await store.append([(DAY, rec.set("r", 1))])
        state = rec.doc.get_state()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            keys = (f"{DAY}/receipt-{i:06d}" for i in range(50_000))  # made while traced
            await store.close_day(DAY, state, rec.doc.get_update(state), keys)
            del keys
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert await store.find_closed(f"{DAY}/receipt-049999") == DAY
    assert left < 256 << 10, f"{left:,} bytes of the closed day's keys are still held"


async def test_a_loaded_document_is_not_kept_by_the_store(tmp_path: Path) -> None:
    """Nothing of a load stays in memory once its caller drops it (aiosqlite's worker thread holds its
    last result until its next call: a closed day opened for one refund would stay for good)."""
    import tracemalloc

    big = os.urandom(4 << 20)
    async with await SqliteStore.open(tmp_path / "node.db") as store:
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        log = UpdateLog(doc)
        doc.get("blob", type=pycrdt.Map)["b"] = big.hex()
        await store.append([(DAY, u) for u in log.take()])
        await store.compact(DAY)  # reads the day's rows too: nothing of it may stay either
        await store.idle()
        del big, doc, log
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            loaded = await store.load(DAY)
            assert loaded is not None
            assert len(loaded) > 8 << 20
            del loaded
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert left < 1 << 20, f"{left:,} bytes of the load are still held"
