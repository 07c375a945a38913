"""Contract: ``ConsoleDB.check_writes`` and ``console/health.write_problem``, what the console's
``/health`` answers (outside2, the twenty-first session; the processes: tests/outside/
test_console_disk_full.py). The check commits a write and leaves nothing behind, on SQLite and
PostgreSQL alike; a database that refuses it is named, and asked again only after ``CHECK_EVERY_S``.
"""

from __future__ import annotations

import pytest

from meshpos.console import ConsoleDB, health
from meshpos.errors import StoreError

from .test_console_relay_nonces import sql


async def test_the_write_check_commits_and_leaves_nothing(db: ConsoleDB, db_url: str) -> None:
    await db.check_writes()
    await db.check_writes()  # again: the row it added went
    assert sql(db_url, "SELECT count(*) FROM relay_nonces") == [(0,)]
    assert await health.write_problem(db) == ""


async def test_a_refused_write_is_named_and_checked_again_only_after_a_while(
    db: ConsoleDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = 0

    async def full() -> None:
        nonlocal asked
        asked += 1
        raise StoreError("console database x: database or disk is full")

    monkeypatch.setattr(db, "check_writes", full)
    for _ in range(3):  # anyone may ask /health: one write per CHECK_EVERY_S at most
        assert "database or disk is full" in await health.write_problem(db)
    assert asked == 1
    monkeypatch.setattr(health, "CHECK_EVERY_S", 0.0)
    assert "database or disk is full" in await health.write_problem(db)
    assert asked == 2
