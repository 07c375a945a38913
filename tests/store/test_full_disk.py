"""A real full disk (a tiny tmpfs): refused writes are reported, acknowledged ones survive, space returns."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from meshpos.bench.workload import UpdateLog, add_receipt, receipt_ids
from meshpos.errors import StoreError
from meshpos.store import SqliteStore

DAY = "ledger/2026-11-25"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_loses_no_acknowledged_sale(small_disk: Path) -> None:
    path = small_disk / "node.db"
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    log = UpdateLog(doc)
    acknowledged: list[str] = []
    failure: StoreError | None = None
    async with await SqliteStore.open(path, check_integrity=False) as store:
        for i in range(5_000):
            sale = add_receipt(doc, i)
            try:
                await store.append([(DAY, u) for u in log.take()])
            except StoreError as exc:
                failure = exc
                break
            acknowledged.append(sale)
        assert failure is not None, "the 512 KiB disk never filled up"
        assert str(path) in str(failure)
        assert len(acknowledged) > 5
        loaded: pycrdt.Doc[Any] = pycrdt.Doc()
        loaded.apply_update(await store.load(DAY) or b"")
        assert set(acknowledged) <= receipt_ids(loaded)

        # space returns: the refused sale is written again (the register retries) and later ones work
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)  # noqa: ASYNC221
        await store.append([(DAY, doc.get_update())])
        for i in range(5_000, 5_020):
            acknowledged.append(add_receipt(doc, i))
            await store.append([(DAY, u) for u in log.take()])
    async with await SqliteStore.open(path) as store:
        reopened: pycrdt.Doc[Any] = pycrdt.Doc()
        reopened.apply_update(await store.load(DAY) or b"")
        assert set(acknowledged) <= receipt_ids(reopened)
        assert receipt_ids(reopened) == receipt_ids(doc)
