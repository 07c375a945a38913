"""How many event-loop rounds a durable write spends around its transaction (issue 18, sale).

A node's loop is busy with received updates; every round a tap's commit takes to come back is a turn
behind all of them (a sale is four taps). These count the rounds deterministically: the loop is held
while the transaction runs on the store's thread and until that thread has handed its outcome over,
then rounds are counted (``asyncio.sleep(0)``: one round each) until the caller has its answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from meshpos.engine import Engine, StoreDocuments
from meshpos.store import SqliteStore
from meshpos.sync import SyncConfig

from ..store.store_helpers import Recorder, content
from .test_engine import VENUE, Recording, deliver, engine, linked, settle, stop_here

DAY = "ledger/2026-11-25"


async def _rounds_after_commit(store: SqliteStore, call: Awaitable[Any]) -> tuple[int, Any]:
    """Start ``call``; once its transaction began, hold the loop until the store's thread is past
    it (a marker queued behind it ran), then count the loop's rounds until ``call`` returned."""
    began = asyncio.Event()
    past = threading.Event()
    loop = asyncio.get_running_loop()

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):
            loop.call_soon_threadsafe(began.set)

    db = store._writer._db
    await db.set_trace_callback(trace)
    task = asyncio.ensure_future(call)
    await began.wait()
    db._tx.put_nowait((None, past.set))  # runs once the transaction's function has returned
    assert past.wait(10.0)  # the loop is held meanwhile: nothing of the outcome ran yet
    rounds = 0
    while not task.done():
        await asyncio.sleep(0)
        rounds += 1
    await db.set_trace_callback(None)  # type: ignore[arg-type]  # (sqlite3 takes None: no callback; aiosqlite's hint omits it)
    return rounds, task.result()


async def test_an_append_is_answered_in_the_round_after_its_transaction(tmp_path: Path) -> None:
    """The thread hands the outcome to the loop itself: round 1 tells the waiter, round 2 the caller
    runs (through aiosqlite's future, the transaction's task and two shields it was round 6)."""
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        await store.append([(DAY, rec.set("first", 1))])
        rounds, _ = await _rounds_after_commit(
            store, store.append([(DAY, rec.set("tap", 2))], {"receipt_seq": "1"})
        )
        assert rounds <= 2
        assert store.stats.appends == 2  # counted before the caller was told
        assert content(await store.load(DAY))["m"] == {"first": 1, "tap": 2}
        assert await store.get_meta("receipt_seq") == "1"


async def test_a_waiting_writer_hands_an_append_to_its_thread_before_it_returns(
    tmp_path: Path,
) -> None:
    """A tap finds the writer waiting for work (taps come tens of ms apart): its transaction is on
    the connection's thread before ``append`` returns, not a round later when the writer's task
    has woken. The loop is held (no round runs) until the thread began it."""
    rec = Recorder()
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        await store.append([(DAY, rec.set("first", 1))])
        for _ in range(5):  # the writer's task is back waiting for work
            await asyncio.sleep(0)
        began = threading.Event()

        def trace(statement: str) -> None:
            if statement.startswith("BEGIN"):
                began.set()

        await store._writer._db.set_trace_callback(trace)
        for _ in range(5):
            await asyncio.sleep(0)
        done = store._writer.append([(DAY, rec.set("tap", 2))], {})
        assert began.wait(10.0)  # no loop round ran since the call
        await done
        assert content(await store.load(DAY))["m"] == {"first": 1, "tap": 2}


async def test_a_write_is_sent_and_returns_in_the_round_after_its_commit(tmp_path: Path) -> None:
    """The whole tap on a node's engine: its write, the commit in SQLite, the update handed to the
    link and the write returning, two rounds after the transaction ended."""
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        a = Engine(
            StoreDocuments(store),
            venue=VENUE,
            node_id="A",
            role="register",
            sync_config=SyncConfig(),
        )
        await a.open()
        b = await engine("B", Recording())
        wire = linked(a, b, [])
        await settle(a, b, wire)
        await a.write(lambda: stop_here(a).__setitem__("warm", "up"))
        await settle(a, b, wire)
        rounds, _ = await _rounds_after_commit(
            store, a.write(lambda: stop_here(a).__setitem__("tap", "paid"))
        )
        assert rounds <= 2
        assert wire[0]  # forwarded once committed, before the write returned
        await deliver(a, b, wire)
        assert stop_here(b).get("tap") == "paid"
        await a.stop()
