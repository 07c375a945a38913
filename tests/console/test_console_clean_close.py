"""Issue 18 (consolestart): the console's SQLite file holds the whole venue's (or chain's) history, so
``quick_check`` runs only when the file can have been damaged since the console last closed it cleanly
(the node store's clean-close stamp); every other start still checks and refuses a bad file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.console import db_sqlite, hash_token, new_venue_token, open_console_db
from meshpos.console.cursor import Cursor
from meshpos.errors import CorruptDatabase, StoreError, StoreLocked
from meshpos.store.lock import lock_path

from ..file_damage import garbage_page, garbage_page_same_mtime, replaced_by_a_damaged_copy
from .conftest import VENUE
from .day import LEDGER


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each open in this test read the whole file (the real check still runs as asked)."""
    seen: list[bool] = []
    real = db_sqlite.inspect

    def spy(path: Path, *, check_integrity: bool = True) -> int:
        seen.append(check_integrity)
        return real(path, check_integrity=check_integrity)

    monkeypatch.setattr(db_sqlite, "inspect", spy)
    return seen


def _updates(n: int, start: int = 0) -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=7)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(bytes(event.update)))
    receipts = doc.get("receipts", type=Map)
    for i in range(start, start + n):
        receipts[f"r{i}"] = {"total": 100 + i, "number": f"R1-{i:06d}"}
    return updates


async def _write(path: Path, receipts: int = 50) -> None:
    """Open, write, close cleanly."""
    db = await open_console_db(f"sqlite:///{path}", compact_rows=10_000)
    try:
        if not await db.venues():
            await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
        await db.append_updates(VENUE, LEDGER, _updates(receipts))
    finally:
        await db.close()


async def test_a_file_closed_cleanly_is_not_read_whole_at_the_next_open(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "console.db"
    await _write(path)  # a new file: checked
    assert "clean " in lock_path(path).read_text()
    await _write(path)  # closed cleanly by the last open: not checked, and stamped again
    db = await open_console_db(f"sqlite:///{path}")
    try:
        assert await db.venues() == [VENUE]
    finally:
        await db.close()
    assert checks == [True, False, False]


# Opens the console's database, commits, and dies without closing it (a crash, a power cut, kill -9).
_CRASH = textwrap.dedent(
    """
    import asyncio, os, sys
    from meshpos.console import hash_token, new_venue_token, open_console_db
    async def main():
        db = await open_console_db("sqlite:///" + sys.argv[1])
        await db.add_venue("crashed-1", "Crashed", hash_token(new_venue_token()))
        os._exit(0)
    asyncio.run(main())
    """
)


async def test_a_start_after_a_crash_checks_the_file(tmp_path: Path, checks: list[bool]) -> None:
    path = tmp_path / "console.db"
    await _write(path)
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", _CRASH, str(path))
    assert await asyncio.wait_for(child.wait(), 60) == 0
    checks.clear()  # the child's open is not ours to see
    db = await open_console_db(f"sqlite:///{path}")
    try:
        assert sorted(await db.venues()) == sorted(["crashed-1", VENUE])
    finally:
        await db.close()
    assert checks == [True]


async def test_an_open_console_has_wiped_the_stamp_so_a_crash_at_any_point_leaves_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "console.db"
    await _write(path)
    assert "clean " in lock_path(path).read_text()
    db = await open_console_db(f"sqlite:///{path}")
    assert lock_path(path).read_text() == f"{os.getpid()}\n"
    await db.close()


async def test_a_second_console_is_refused_before_it_reads_the_file(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "console.db"
    await _write(path)
    db = await open_console_db(f"sqlite:///{path}")
    try:
        checks.clear()
        with pytest.raises(StoreLocked):
            await open_console_db(f"sqlite:///{path}")
        assert checks == []  # the live file was not read (let alone whole) by the refused one
    finally:
        await db.close()


def _scrambled_rewrite(path: Path) -> None:
    """Rewritten whole at the same size, page 1 kept (the storage tests' damage)."""
    raw = bytearray(path.read_bytes())
    for p in range(2, len(raw) // 4096):
        raw[p * 4096 + 8 : p * 4096 + 64] = b"\xa5" * 56
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    [garbage_page, garbage_page_same_mtime, replaced_by_a_damaged_copy, _scrambled_rewrite],
)
async def test_a_file_damaged_after_a_clean_close_is_still_refused(
    tmp_path: Path, damage: Any, checks: list[bool]
) -> None:
    path = tmp_path / "console.db"
    await _write(path, receipts=400)
    assert "clean " in lock_path(path).read_text()
    assert path.stat().st_size > 8 * 4096
    damage(path)  # at once: within the same tick of the kernel's file clock as our last write
    before = path.read_bytes()
    with pytest.raises(CorruptDatabase, match="corrupt"):
        await open_console_db(f"sqlite:///{path}")
    assert path.read_bytes() == before
    assert checks[-1] is True


async def test_a_wal_beside_a_stamped_file_makes_it_checked(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "console.db"
    await _write(path)
    (tmp_path / "console.db-wal").write_bytes(b"\0" * 32)  # no frames, but not the stamped state
    checks.clear()
    db = await open_console_db(f"sqlite:///{path}")
    await db.close()
    assert checks == [True]


async def test_an_sqlite_error_while_open_leaves_no_stamp(
    tmp_path: Path, checks: list[bool]
) -> None:
    path = tmp_path / "console.db"
    await _write(path)
    db = await open_console_db(f"sqlite:///{path}")
    assert isinstance(db, db_sqlite.SqliteConsoleDB)

    async def disk_error(cur: Cursor) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(StoreError, match="disk I/O error"):
        await db._read(disk_error)
    await db.close()
    assert "clean " not in lock_path(path).read_text()
    await _write(path)
    assert checks == [True, False, True]
