"""Closing and opening business days on the engine, on real SQLite files: a closed day is unloaded,
refused until opened, restored whole, opened by a peer's late update, and its memory goes back.

docs/architecture.md (Documents) and docs/architecture.md (Engine).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.bench.history_node import rss_kb
from meshpos.bench.workload import add_receipt, receipt_ids
from meshpos.engine import DayClosed, DayOpened, Engine, EngineEvent, StoreDocuments
from meshpos.engine.closing import DEFERRED_LOG_EVERY
from meshpos.engine.memory import release_memory
from meshpos.errors import DayClosed as DayClosedError
from meshpos.errors import LocalProtocolError, StoreError
from meshpos.harness.wait import until
from meshpos.store import SqliteStore
from meshpos.sync import ClosedDayDeferred, SyncConfig
from tests.engine.test_engine import VENUE, deliver, linked

DAY = "ledger/2026-03-01"
Opener = Callable[[str], Awaitable[tuple[Engine, SqliteStore]]]


@pytest.fixture
async def open_engine(tmp_path: Path) -> AsyncIterator[Opener]:
    """``await open_engine(node)``: an engine on ``<node>.db`` (reopened where it was), stopped and
    closed at the end."""
    opened: list[tuple[Engine, SqliteStore]] = []

    async def factory(node: str) -> tuple[Engine, SqliteStore]:
        store = await SqliteStore.open(tmp_path / f"{node}.db")
        e = Engine(
            StoreDocuments(store),
            venue=VENUE,
            node_id=node,
            role="register",
            sync_config=SyncConfig(),
            received_commit_interval=None,
        )
        await e.open()
        opened.append((e, store))
        return e, store

    yield factory
    for e, store in opened:
        await e.stop()
        await store.close()


def receipts(e: Engine, name: str = DAY) -> Map[Any]:
    return e.replica.doc(name).get("receipts", type=Map)


async def sell(e: Engine, key: str, name: str = DAY) -> None:
    await e.write(lambda: receipts(e, name).__setitem__(key, f"receipt {key}"))


async def test_a_closed_day_is_unloaded_refused_and_restored_whole(open_engine: Opener) -> None:
    a, store = await open_engine("A")
    events: list[EngineEvent] = []
    a.subscribe(events.append)
    for i in range(3):
        await sell(a, f"r{i}")
    await a.close_day(DAY, keys=["r0", "R1-000001"])
    assert a.closed_days() == {DAY}
    assert DayClosed(DAY) in events
    assert not a.replica.has(DAY)
    assert DAY not in a.sync.docs
    with pytest.raises(DayClosedError, match="business day 2026-03-01 is closed; open it first"):
        a.replica.doc(DAY)
    with pytest.raises(DayClosedError):  # a write to it writes nothing, and opens nothing empty
        await sell(a, "late")
    assert not a.replica.has(DAY)
    assert DAY not in a.sync.docs
    assert await a.find_closed("R1-000001") == DAY
    assert await a.find_closed("nope") is None
    loaded = store.stats.documents_loaded
    assert await a.open_day(DAY) is True
    assert store.stats.documents_loaded == loaded + 1
    assert DayOpened(DAY) in events
    assert receipts(a).to_py() == {f"r{i}": f"receipt r{i}" for i in range(3)}
    assert await a.open_day(DAY) is False  # open already
    await sell(a, "r3")  # open again: it takes writes as before
    assert len(receipts(a)) == 4


async def test_closed_days_stay_closed_across_a_restart_and_are_not_loaded(
    open_engine: Opener, tmp_path: Path
) -> None:
    a, store = await open_engine("A")
    await sell(a, "r0")
    await sell(a, "k0", name="kitchen/2026-03-01")
    await sell(a, "r1", name="ledger/2026-03-02")
    await a.close_day(DAY)
    await a.close_day("kitchen/2026-03-01")
    await a.stop()
    await store.close()
    b, store = await open_engine("A")
    assert b.closed_days() == {DAY, "kitchen/2026-03-01"}
    assert DAY not in b.sync.docs
    assert "ledger/2026-03-02" in b.sync.docs
    # the open day and the standing documents that hold something: never a closed one
    assert store.stats.documents_loaded == len(await store.documents())
    with pytest.raises(DayClosedError):
        b.replica.doc(DAY)
    # two readers of one closed day share one load
    loaded = store.stats.documents_loaded
    assert list(await asyncio.gather(b.open_day(DAY), b.open_day(DAY))) == [True, True]
    assert store.stats.documents_loaded == loaded + 1
    assert receipts(b).to_py() == {"r0": "receipt r0"}


async def test_a_peers_late_update_reopens_the_day_and_is_kept(open_engine: Opener) -> None:
    (a, store_a), (b, _) = await open_engine("A"), await open_engine("B")
    wire = linked(a, b, [])
    await deliver(a, b, wire)
    await sell(a, "r0")
    await deliver(a, b, wire)
    await a.close_day(DAY)
    await deliver(a, b, wire)
    assert a.closed_days() == {DAY}  # B holds the same: its anti-entropy does not reopen it
    await sell(b, "late")  # a register back after days offline
    await deliver(a, b, wire)
    await until(lambda: DAY not in a.closed_days(), 5, "A to reopen the day", on=[a])
    await deliver(a, b, wire)  # what A answers once it is open
    assert set(receipts(a).to_py() or {}) == {"r0", "late"}
    assert set(receipts(b).to_py() or {}) == {"r0", "late"}
    await a.close_day(DAY)  # and it closes again over everything it now holds
    assert a.counters["days_opened"] == 1
    assert a.counters["days_closed"] == 2
    assert await a.open_day(DAY)
    assert set(receipts(a).to_py() or {}) == {"r0", "late"}
    assert store_a.stats.failed_transactions == 0


async def test_closing_a_big_day_gives_its_memory_back(open_engine: Opener) -> None:
    a, _ = await open_engine("A")
    release_memory()
    before = rss_kb(os.getpid())

    def fill() -> None:
        doc = a.replica.doc(DAY)
        for i in range(20_000):
            add_receipt(doc, i)

    await a.write(fill)
    ids = receipt_ids(a.replica.doc(DAY))
    release_memory()
    grown = rss_kb(os.getpid()) - before
    assert grown > 0
    await a.close_day(DAY, keys=ids)
    after = rss_kb(os.getpid()) - before
    # a generous safety bound: most of what the day took is back (the store's page cache and
    # allocator fragments stay)
    assert after < grown / 2, f"the day took {grown} KB; {after} KB were still held after closing"
    assert await a.find_closed(next(iter(ids))) == DAY


class FailingClose(StoreDocuments):
    """The node's store, whose close fails (a full disk at the wrong moment)."""

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        raise StoreError(f"could not commit the close of {name}")


async def test_a_close_the_store_refuses_leaves_the_day_open_and_whole(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "a.db") as store:
        a = Engine(
            FailingClose(store),
            venue=VENUE,
            node_id="A",
            role="register",
            sync_config=SyncConfig(),
            received_commit_interval=None,
        )
        await a.open()
        events: list[EngineEvent] = []
        a.subscribe(events.append)
        await sell(a, "r0")
        with pytest.raises(StoreError, match="close of ledger/2026-03-01"):
            await a.close_day(DAY)
        assert a.closed_days() == frozenset()
        assert not [e for e in events if isinstance(e, DayClosed)]
        assert receipts(a).to_py() == {"r0": "receipt r0"}
        await sell(a, "r1")  # observed again: committed like any change
        await a.stop()
        stored: Doc[Any] = Doc()
        stored.apply_update(await store.load(DAY) or b"")
        assert set(stored.get("receipts", type=Map).keys()) == {"r0", "r1"}
        assert await store.closed_days() == {}


async def test_closing_tells_listeners_at_once_and_the_change_feed_names_the_day(
    open_engine: Opener,
) -> None:
    a, _ = await open_engine("A")
    await sell(a, "r0")
    seen: list[bool] = []
    a.subscribe(lambda e: seen.append(a.replica.has(DAY)) if isinstance(e, DayClosed) else None)
    changes = a.changes()
    await a.close_day(DAY)
    assert seen == [False]  # told while the close runs, the day already unloaded
    change = changes.pending()
    assert change is not None
    assert DAY in change.docs
    await a.open_day(DAY)
    change = changes.pending()
    assert change is not None
    assert DAY in change.docs
    changes.close()


async def test_dropping_a_closed_day_names_it_on_the_change_feed_at_once(
    open_engine: Opener,
) -> None:
    a, _ = await open_engine("A")
    await sell(a, "r0")
    await a.close_day(DAY, signed=True)
    changes = a.changes()
    await a.drop_day(DAY)  # a page showing the day hears of it now, not with the next commit
    change = changes.pending()
    assert change is not None
    assert DAY in change.docs
    changes.close()


async def test_only_a_day_closed_on_signed_word_drops_and_a_reopening_forgets_it(
    open_engine: Opener,
) -> None:
    """Issue 18, keep: a close is unsigned unless the rule rested on signed word (``signed``) or a
    signed statement covered it since (``confirm_closed``); the engine and the store refuse to drop
    an unsigned one; a day opened again must close anew to be dropped."""
    a, store = await open_engine("A")
    await sell(a, "r0")
    await a.close_day(DAY)
    with pytest.raises(LocalProtocolError, match="unsigned word"):
        await a.drop_day(DAY)
    assert not a.sync.is_dropped(DAY)
    assert await a.confirm_closed(DAY)
    assert not await a.confirm_closed(DAY)  # (once)
    assert await store.signed_closed_days() == {DAY}
    assert await a.open_day(DAY)
    assert DAY not in a.signed_closed
    assert await store.signed_closed_days() == frozenset()
    assert not await a.confirm_closed(DAY)  # open: nothing to confirm
    await a.close_day(DAY, signed=True)
    assert await store.signed_closed_days() == {DAY}
    await a.drop_day(DAY)
    assert a.sync.is_dropped(DAY)
    assert DAY not in a.signed_closed


class SlowClose(StoreDocuments):
    """The node's store, whose close waits for ``go`` (a slow disk) and then commits."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.go = asyncio.Event()
        self.waiting = asyncio.Event()

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        self.waiting.set()
        await self.go.wait()
        await super().close(name, state_vector, deletions, keys)


async def test_a_cancelled_close_still_leaves_memory_as_the_store_has_it(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "a.db") as store:
        documents = SlowClose(store)
        a = Engine(
            documents,
            venue=VENUE,
            node_id="A",
            role="register",
            sync_config=SyncConfig(),
            received_commit_interval=None,
        )
        await a.open()
        await sell(a, "r0")
        closing = asyncio.create_task(a.close_day(DAY))
        await documents.waiting.wait()
        closing.cancel()  # close_day waits for the store's outcome all the same
        documents.go.set()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert set(await store.closed_days()) == {DAY}  # the store closed it...
        assert a.closed_days() == {DAY}  # ...and so did memory
        assert await a.open_day(DAY)
        assert receipts(a).to_py() == {"r0": "receipt r0"}
        await a.stop()


async def test_deferred_messages_for_closed_days_are_counted_and_logged_once_then_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    store = await SqliteStore.open(tmp_path / "R1.db")
    e = Engine(
        StoreDocuments(store),
        venue=VENUE,
        node_id="R1",
        role="register",
        sync_config=SyncConfig(),
        clock=lambda: now[0],
    )
    try:

        def deferred(node: str, cause: str, count: int = 1) -> None:
            reason = f"the {cause} bound"
            e._on_sync_event(ClosedDayDeferred("k", node, DAY, cause, reason, count))

        with caplog.at_level(logging.INFO, logger="meshpos.engine"):
            for _ in range(500):  # a flood from one device: one line
                deferred("E1", "days")
            deferred("E1", "device")  # another cause: its own line
            deferred("E2", "days", 3)  # another device: its own line
            now[0] += DEFERRED_LOG_EVERY
            deferred("E1", "days")  # a minute later: how many since, in one line
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 4
        assert lines[-1].startswith("500 more messages from E1")
        assert e.counters["closed_day_deferred_days"] == 504
        assert e.counters["closed_day_deferred_device"] == 1
    finally:
        await e.stop()
        await store.close()
