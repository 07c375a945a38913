"""Issue 18, durable: an append may commit without an fsync (``fsync=False``: SQLite's
``synchronous=NORMAL``), and then an fsync'd commit or ``sync`` makes it survive a power cut. The
counting tests run against both stores; the SQLite one counts the process's real fsyncs (strace) and
kills it -9 right after its unsynced commits."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from meshpos.store import SqliteStore, Store

from .store_helpers import Recorder, content, snapshot

DAY = "ledger/2026-12-05"
ROOT = Path(__file__).resolve().parents[2]


async def test_an_append_without_fsync_is_committed_and_sync_fsyncs_it_once(store: Store) -> None:
    rec = Recorder()
    await store.append([(DAY, rec.set("open", 1))], fsync=False)
    await store.append([(DAY, rec.set("line", 2))], {"seq/R1": "3"}, fsync=False)
    assert store.stats.transactions == 2
    assert store.stats.unsynced_transactions == 2
    assert content(await store.load(DAY)) == snapshot(rec.doc)  # committed: readable at once
    assert await store.get_meta("seq/R1") == "3"
    await store.sync()
    assert store.stats.syncs == 1
    await store.sync()  # nothing committed since: nothing to fsync
    assert store.stats.syncs == 1


async def test_an_fsynced_append_covers_every_unsynced_one_before_it(store: Store) -> None:
    rec = Recorder()
    await store.append([(DAY, rec.set("open", 1))], fsync=False)
    await store.append([(DAY, rec.set("pay", 2))])
    assert store.stats.unsynced_transactions == 1
    await store.sync()
    assert store.stats.syncs == 0  # the payment's fsync made the open order durable with it
    await store.append([(DAY, rec.set("open2", 3))], fsync=False)
    await store.sync()
    assert store.stats.syncs == 1


async def test_a_sync_holds_no_write_queued_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 18, received: the sync's fdatasync ran as a job in the writer's queue, so a seller's tap
    # queued after it waited for the fsync; now only a mark waits there and the fsync is on a thread
    started, release = threading.Event(), threading.Event()
    real = os.fdatasync

    def slow_fsync(fd: int) -> None:  # (SQLite's own fsyncs are in C: only ``sync``'s come here)
        started.set()
        release.wait(30)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fsync)
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "node.db") as store:
        await store.append([(DAY, rec.set("open", 1))], fsync=False)
        syncing = asyncio.ensure_future(store.sync())
        try:
            assert await asyncio.to_thread(started.wait, 30)
            # the next tap commits while the fsync is under way
            await asyncio.wait_for(store.append([(DAY, rec.set("line", 2))], fsync=False), 10)
            assert not syncing.done()
        finally:
            release.set()
        await syncing
        assert store.stats.syncs == 1
        assert content(await store.load(DAY)) == snapshot(rec.doc)
        await store.sync()  # the line came after the sync's mark: unsynced still, fsynced now
        assert store.stats.syncs == 2


async def test_a_group_commit_holding_one_fsynced_append_is_fsynced(tmp_path: Path) -> None:
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "node.db") as store:
        # the first begins its own transaction; the next two wait for it and commit together
        await asyncio.gather(
            store.append([(DAY, rec.set("a", 1))], fsync=False),
            store.append([(DAY, rec.set("b", 2))], fsync=False),
            store.append([(DAY, rec.set("c", 3))]),
        )
        assert store.stats.transactions == 2
        assert store.stats.unsynced_transactions == 1
        await store.sync()
        assert store.stats.syncs == 0
        await asyncio.gather(*(store.append([(DAY, rec.set(k, 0))], fsync=False) for k in "xyz"))
        assert store.stats.unsynced_transactions == 3  # (none fsync'd: all unsynced)
        assert content(await store.load(DAY)) == snapshot(rec.doc)


_WRITER = """
import asyncio, os, signal, sys
sys.path.insert(0, sys.argv[3])
from meshpos.store import SqliteStore
from tests.store.store_helpers import Recorder

async def main(path, mode):
    rec = Recorder()
    store = await SqliteStore.open(path)
    for i in range(10):
        await store.append([("ledger/2026-12-05", rec.set(f"k{i}", i))], fsync=mode == "full")
    if mode == "sync":
        await store.sync()
    os.kill(os.getpid(), signal.SIGKILL)  # no close: no checkpoint, nothing flushed on the way out

try:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
finally:
    os._exit(3)  # (failed: the store's threads must not keep the process alive)
"""


def _fsyncs(tmp_path: Path, mode: str) -> int:
    """The fsyncs of a process that opens a new store, appends ten updates and is killed -9."""
    trace = tmp_path / f"{mode}.trace"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            _WRITER,
            str(tmp_path / f"{mode}.db"),
            mode,
            str(ROOT),
        ],
        timeout=60,
        check=False,
    )
    lines = trace.read_text().splitlines()
    return sum(1 for line in lines if "fsync(" in line or "fdatasync(" in line)


async def test_unsynced_appends_make_no_fsync_survive_kill_9_and_sync_is_one(
    tmp_path: Path,
) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    counts = {mode: _fsyncs(tmp_path, mode) for mode in ("full", "normal", "sync")}
    if counts["full"] == 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    assert counts["full"] - counts["normal"] == 10  # one per fsync'd append, none otherwise
    assert counts["sync"] - counts["normal"] == 1  # sync: one fsync of the WAL
    for mode in ("normal", "sync"):  # killed -9 right after: every unsynced commit is there
        async with await SqliteStore.open(tmp_path / f"{mode}.db") as store:
            loaded = content(await store.load(DAY))["m"]
            assert loaded == {f"k{i}": i for i in range(10)}
