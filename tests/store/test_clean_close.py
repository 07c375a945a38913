"""Issue 18 (startup): ``quick_check`` reads the whole file, so it runs only when the file can have been
damaged since this store last closed it cleanly; every other start still checks, and refuses a bad file."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from meshpos.errors import CorruptDatabase
from meshpos.store import SqliteStore, schema, sqlite
from meshpos.store.lock import lock_path

from ..file_damage import garbage_page, garbage_page_same_mtime, replaced_by_a_damaged_copy
from .store_helpers import Recorder

DAY = "ledger/2026-12-05"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each open in this test ran ``quick_check`` (the real check still runs as asked)."""
    seen: list[bool] = []
    real = schema.inspect

    def spy(path: Path, *, check_integrity: bool = True) -> int:
        seen.append(check_integrity)
        return real(path, check_integrity=check_integrity)

    monkeypatch.setattr(sqlite, "inspect", spy)
    return seen


async def _write(path: Path, rows: int = 50, **options: Any) -> None:
    rec = Recorder()
    async with await SqliteStore.open(path, **options) as store:
        for i in range(rows):
            await store.append([(DAY, rec.set(f"r{i}", i))])


async def test_a_file_closed_cleanly_is_not_read_whole_at_the_next_open(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "node.db"
    await _write(path)  # a new file: checked
    await _write(path)  # closed cleanly by the last open: not checked, and stamped again
    async with await SqliteStore.open(path) as store:
        assert await store.load(DAY) is not None
    assert checks == [True, False, False]


# Opens the store, commits, and dies without closing it (a crash, a power cut, kill -9).
_CRASH = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from meshpos.store import SqliteStore
    async def main():
        store = await SqliteStore.open(Path(sys.argv[1]))
        await store.append([("ledger/2026-12-05", bytes.fromhex(sys.argv[2]))])
        os._exit(0)
    asyncio.run(main())
    """
)


async def test_a_start_after_a_crash_checks_the_file(tmp_path: Path, checks: list[bool]) -> None:
    path = tmp_path / "node.db"
    await _write(path)
    update = Recorder().set("late", 1)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASH, str(path), update.hex()
    )
    assert await asyncio.wait_for(child.wait(), 60) == 0
    checks.clear()  # the child's open is not ours to see
    async with await SqliteStore.open(path) as store:
        assert await store.load(DAY) is not None
    assert checks == [True]


async def test_an_open_store_has_wiped_the_stamp_so_a_crash_at_any_point_leaves_none(
    tmp_path: Path,
) -> None:
    """Taking the lock overwrites the stamp: whatever the holder does next, no stale stamp is left."""
    path = tmp_path / "node.db"
    await _write(path)
    assert "clean " in lock_path(path).read_text()
    store = await SqliteStore.open(path)
    assert lock_path(path).read_text() == f"{os.getpid()}\n"
    await store.close()


def _header_damaged(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(28)  # the page count
        f.write(b"\x7f\xff\xff\xff")


@pytest.mark.parametrize(
    "damage",
    [garbage_page, garbage_page_same_mtime, replaced_by_a_damaged_copy, _header_damaged],
)
async def test_a_file_damaged_after_a_clean_close_is_still_refused(
    tmp_path: Path, damage: Any, checks: list[bool]
) -> None:
    path = tmp_path / "node.db"
    await _write(path, rows=200)
    assert "clean " in lock_path(path).read_text()
    damage(path)  # at once: within the same tick of the kernel's file clock as our last write
    before = path.read_bytes()
    with pytest.raises(CorruptDatabase, match=str(path)):
        await SqliteStore.open(path)
    assert path.read_bytes() == before
    assert checks[-1] is True


async def test_a_wal_beside_a_stamped_file_makes_it_checked(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "node.db"
    await _write(path)
    (tmp_path / "node.db-wal").write_bytes(
        b"\0" * 32
    )  # a WAL of no frames, but not the stamped state
    checks.clear()
    async with await SqliteStore.open(path) as store:
        assert await store.load(DAY) is not None
    assert checks == [True]


async def test_a_store_opened_unchecked_leaves_no_stamp(tmp_path: Path, checks: list[bool]) -> None:
    path = tmp_path / "node.db"
    await _write(path, check_integrity=False)
    assert "clean " not in lock_path(path).read_text()
    await _write(path)
    assert checks == [False, True]
