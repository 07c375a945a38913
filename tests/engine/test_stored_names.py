"""A stored document whose name this release refuses does not stop the node from opening.

An older release took ``ledger/2026-02-31`` from a peer (the day pattern let it through; the calendar does
not have it). Refusing that name at start would leave the register unable to sell; it stays in the file,
is not loaded, and the log names it (meshpos.engine.stores.known_documents)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.engine import Engine
from meshpos.ops.metrics import NodeMetrics, TimedDocuments
from meshpos.store.sqlite import SqliteStore
from meshpos.sync import SyncConfig

BAD = "ledger/2026-02-31"


def _update(key: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("receipts", type=Map)[key] = "{}"
    return doc.get_update()


async def test_a_stored_impossible_day_is_left_in_the_file_and_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "node.db"
    store = await SqliteStore.open(path)
    await store.append([(BAD, _update("forged")), ("ledger/2026-02-27", _update("real"))])
    await store.close()

    store = await SqliteStore.open(path)
    engine = Engine(
        TimedDocuments(store, NodeMetrics()),
        venue="v",
        node_id="R1",
        role="register",
        sync_config=SyncConfig(),
    )
    try:
        with caplog.at_level(logging.WARNING, logger="meshpos.engine"):
            await engine.open()
        assert "ledger/2026-02-27" in engine.sync.docs
        assert BAD not in engine.sync.docs
        assert any(BAD in r.getMessage() and "not loaded" in r.getMessage() for r in caplog.records)
    finally:
        await engine.stop()
        await store.close()
    store = await SqliteStore.open(path)
    try:  # left as it was: nothing of the file is lost by the refusal
        assert await store.load(BAD) is not None
    finally:
        await store.close()
