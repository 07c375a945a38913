"""Issue 18, tail: a probe times a transaction's stages through ``Transaction.watch`` (the tail probe
used to copy the class's body to stamp it, a copy that would drift from the real one)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.errors import StoreError
from meshpos.store import SqliteStore
from meshpos.store.connection import Stamp, Transaction

from .store_helpers import Recorder

DAY = "ledger/2026-12-06"


@pytest.fixture
def stages() -> Iterator[list[list[str]]]:
    seen: list[list[str]] = []

    def watch() -> Stamp:
        mine: list[str] = []
        seen.append(mine)
        return mine.append

    assert Transaction.watch is None
    Transaction.watch = watch
    try:
        yield seen
    finally:
        Transaction.watch = None


async def test_each_transaction_tells_its_stages_in_order(
    tmp_path: Path, stages: list[list[str]]
) -> None:
    async with await SqliteStore.open(tmp_path / "r.db") as store:
        stages.clear()  # (the open's own transactions)
        await store.append([(DAY, Recorder().set("open", 1))], {"receipt_seq": "1"}, fsync=False)
        assert stages == [["thread", "begun", "job_done", "committed", "told"]]


async def test_a_failed_transaction_is_told_without_a_commit(
    tmp_path: Path, stages: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await SqliteStore.open(tmp_path / "r.db") as store:
        stages.clear()

        def refuse(*args: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr("meshpos.store.log_counts.Counting.add", refuse)
        with pytest.raises(StoreError):
            await store.append([(DAY, Recorder().set("open", 1))], fsync=False)
        assert stages == [["thread", "begun", "told"]]
