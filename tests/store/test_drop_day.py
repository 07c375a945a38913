"""Dropping a closed business day (issue 18, keep): one transaction, whole or gone, on a real SQLite file.

* ``drop_day`` forgets a closed day's content, ``documents`` row and record keys and keeps its summary
  in ``dropped_days``; a day not closed is refused and nothing changes.
* Only a day closed on the console's signed word (``confirm_closed``) is dropped: a close, a reopening
  and a file of schema version 3 (which did not record it) leave a day unsigned, refused with nothing
  changed (schema version 4).
* ``kill -9`` of a real process in the middle of dropping days: every day is afterwards either closed
  and whole (its content, its record keys) or dropped (its summary only), never in between.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from meshpos.errors import StoreError
from meshpos.store import SqliteStore
from meshpos.store.base import summarize
from meshpos.store.memory import MemoryStore

DAYS = [f"ledger/2026-0{m}-{d:02d}" for m in (7, 8) for d in range(1, 21)]


def day_update(name: str, entries: int = 600) -> bytes:
    """A day's document: ``entries`` receipts of ~300 bytes (a few hundred kB per day)."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    receipts = doc.get("receipts", type=pycrdt.Map)
    with doc.transaction():
        for i in range(entries):
            receipts[f"{name}/r{i}"] = f"{name} receipt {i} " + "x" * 280
    return doc.get_update()


def keys_of(name: str) -> list[str]:
    return [f"{name}/r{i}" for i in range(0, 600, 100)]


async def fill(path: Path, names: list[str]) -> dict[str, bytes]:
    updates = {name: day_update(name) for name in names}
    async with await SqliteStore.open(path) as store:
        await store.append(list(updates.items()))
        for name, update in updates.items():
            await store.close_day(name, *summarize(update), keys_of(name))
            await store.confirm_closed(name)  # as a strict register closes a day
    return updates


async def test_a_dropped_day_keeps_its_summary_only_and_an_open_day_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    updates = await fill(path, DAYS[:2])
    async with await SqliteStore.open(path) as store:
        await store.append([("ledger/2026-09-01", day_update("ledger/2026-09-01", 3))])
        with pytest.raises(StoreError, match="not a closed"):
            await store.drop_day("ledger/2026-09-01")  # open: refused, nothing changes
        assert await store.load("ledger/2026-09-01") is not None
        await store.drop_day(DAYS[0])
        assert await store.load(DAYS[0]) is None
        assert await store.find_closed(keys_of(DAYS[0])[0]) is None
        assert await store.find_closed(keys_of(DAYS[1])[0]) == DAYS[1]
    async with await SqliteStore.open(path) as store:  # it stays so across a restart
        assert await store.dropped_days() == {DAYS[0]: summarize(updates[DAYS[0]])}
        assert set(await store.closed_days()) == {DAYS[1]}
        assert store.stats.documents_loaded == 0
        with pytest.raises(StoreError, match="not a closed"):
            await store.drop_day(DAYS[0])  # already dropped: nothing to drop
    memory = MemoryStore()  # the memory store keeps the same contract
    await memory.append([(DAYS[0], updates[DAYS[0]])])
    with pytest.raises(StoreError, match="not a closed"):
        await memory.drop_day(DAYS[0])
    await memory.close_day(DAYS[0], *summarize(updates[DAYS[0]]), keys_of(DAYS[0]))
    await memory.confirm_closed(DAYS[0])
    await memory.drop_day(DAYS[0])
    assert await memory.dropped_days() == {DAYS[0]: summarize(updates[DAYS[0]])}
    assert await memory.closed_days() == {}
    assert await memory.load(DAYS[0]) is None


async def test_only_a_day_closed_on_signed_word_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    updates = await fill(path, DAYS[:3])  # closed, then confirmed (signed)
    with sqlite3.connect(path) as conn:  # as schema version 3 left it: no close known signed
        conn.execute("ALTER TABLE documents DROP COLUMN closed_signed")
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    async with await SqliteStore.open(path) as store:  # migrated to 4: every closed day unsigned
        assert await store.signed_closed_days() == frozenset()
        for name in DAYS[:3]:
            with pytest.raises(StoreError, match="unsigned word"):
                await store.drop_day(name)
        assert set(await store.closed_days()) == set(DAYS[:3])  # nothing changed
        assert await store.find_closed(keys_of(DAYS[0])[0]) == DAYS[0]
        await store.confirm_closed(DAYS[0])
        await store.confirm_closed("ledger/2026-09-09")  # never stored: nothing happens
        await store.confirm_closed(DAYS[1])
        await store.set_closed(DAYS[1], False)  # reopened: its next close says anew
        await store.confirm_closed(DAYS[2])
        await store.close_day(DAYS[2], *summarize(updates[DAYS[2]]), ())  # closed again: unsigned
        assert await store.signed_closed_days() == {DAYS[0]}
    async with await SqliteStore.open(path) as store:  # the mark is durable
        assert await store.signed_closed_days() == {DAYS[0]}
        await store.drop_day(DAYS[0])
        with pytest.raises(StoreError, match="unsigned word"):
            await store.drop_day(DAYS[2])
        assert set(await store.dropped_days()) == {DAYS[0]}
        assert await store.signed_closed_days() == frozenset()
    memory = MemoryStore()  # the same contract
    await memory.append([(DAYS[0], updates[DAYS[0]])])
    await memory.close_day(DAYS[0], *summarize(updates[DAYS[0]]), ())
    with pytest.raises(StoreError, match="unsigned word"):
        await memory.drop_day(DAYS[0])
    await memory.confirm_closed(DAYS[0])
    assert await memory.signed_closed_days() == {DAYS[0]}
    await memory.drop_day(DAYS[0])


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from meshpos.store import SqliteStore

    async def main() -> None:
        async with await SqliteStore.open(Path(sys.argv[1])) as store:
            for name in sys.argv[2:]:
                await store.drop_day(name)
                print(name, flush=True)

    asyncio.run(main())
    """
)


async def check_whole_or_gone(path: Path, updates: dict[str, bytes], told: list[str]) -> set[str]:
    """Every day is closed and whole or dropped with its summary only; returns the dropped ones."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    async with await SqliteStore.open(path) as store:
        dropped, closed = await store.dropped_days(), await store.closed_days()
        assert set(told) <= set(dropped)  # what it said it dropped is dropped
        for name in DAYS:
            summary = summarize(updates[name])
            key = keys_of(name)[0]
            if name in dropped:
                assert name not in closed, name
                assert dropped[name] == summary
                assert await store.load(name) is None, name
                assert await store.find_closed(key) is None, name
            else:
                assert closed[name] == summary
                assert await store.find_closed(key) == name
                loaded: pycrdt.Doc[Any] = pycrdt.Doc()
                loaded.apply_update(await store.load(name) or b"")
                assert len(loaded.get("receipts", type=pycrdt.Map)) == 600, name
    return set(dropped)


async def test_kill_9_while_dropping_leaves_every_day_whole_or_gone(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    updates = await fill(path, DAYS)
    dropped: set[str] = set()
    told: list[str] = []

    while len(dropped) < len(DAYS) - 2:
        left = [name for name in DAYS if name not in dropped]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(path), *left, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        # killed as soon as it says a drop committed: it is then in the middle of the next one
        line = await child.stdout.readline()
        assert line, f"the dropping process ended early ({await child.wait()})"
        told.append(line.decode().strip())
        os.kill(child.pid, signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
        dropped = await check_whole_or_gone(path, updates, told)
