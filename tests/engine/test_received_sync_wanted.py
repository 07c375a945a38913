"""A received round is fsync'd soon only when a message waits for it (issue 18, recv;
docs/architecture.md (Durability)).

At a venue's rate (a receipt every 200 ms) every device fsync'd every received round 50 ms after it,
though what that fsync lets out (the attestations of what it holds) leaves with its next heartbeat,
once a second. Now a round's own deadline is ``RECEIVED_SYNC_LATEST``; a message that says what this
device holds (a heartbeat, a step 1 or 2) and waits for the fsync brings it within
``RECEIVED_SYNC_DELAY``, as before. Awaited on events, never slept on."""

from __future__ import annotations

import asyncio

import pytest

import meshpos.engine.linger as linger
from meshpos.engine import Committed, Engine
from meshpos.sync import Heartbeat, decode
from tests.engine.test_engine import Recording, engine, linked, settle, stop_here
from tests.engine.test_received_sync import CountedSync, kinds, received


def _beats(box: list[bytes]) -> list[Heartbeat]:
    return [m for m in (decode(d, 2**20) for d in box if d) if isinstance(m, Heartbeat)]


async def _unsynced_round(store_b: CountedSync) -> tuple[Engine, list[bytes]]:
    """B linked to A, with A's write received and committed without an fsync; B's box to A."""
    a, b = await engine("A", Recording()), await engine("B", store_b, interval=0.0)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    committed = asyncio.Event()
    b.subscribe(lambda event: committed.set(), Committed)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    await b.link_messages("A", list(wire[0]))
    wire[0].clear()
    await asyncio.wait_for(committed.wait(), 5)
    assert store_b.syncs == 0
    wire[1].clear()
    return b, wire[1]


async def test_a_received_round_nobody_waits_for_is_not_fsynced_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails before: the round's sync was timed RECEIVED_SYNC_DELAY (50 ms) after it, waited for
    or not."""
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 3600.0, raising=False)
    store_b = CountedSync()
    _a, b, _ = await received(store_b)
    assert store_b.fsyncs[-1] is False  # committed without an fsync
    commits = b.sync.commits
    assert commits is not None
    assert commits.synced < commits.committed
    due = b._due
    assert due is not None  # a sync is owed ...
    assert due - asyncio.get_running_loop().time() > 60  # ... but not now: nobody waits for it
    assert commits.wanted <= commits.synced  # (no message waits for it)
    assert store_b.syncs == 0


async def test_a_heartbeat_that_waits_for_a_received_rounds_fsync_brings_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heartbeat built while a round is unsynced waits for its fsync (it attests what this
    device holds), and asks for it: synced within RECEIVED_SYNC_DELAY, then the beat leaves."""
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 3600.0, raising=False)
    store_b = CountedSync()
    b, to_a = await _unsynced_round(store_b)
    loop = asyncio.get_running_loop()
    b.sync.tick(loop.time() + 10 * b.sync.config.heartbeat_interval)  # a beat is due
    b._flush()
    assert _beats(to_a) == []  # held: it says what B holds, and B's round is not fsync'd
    due = b._due
    assert due is not None
    assert due - loop.time() <= linger.RECEIVED_SYNC_DELAY + 0.001
    await asyncio.wait_for(store_b.synced.wait(), 5)
    for _ in range(5):
        await asyncio.sleep(0)  # (the sync's task flushes once it is told)
    assert store_b.syncs == 1
    assert _beats(to_a)  # out once synced


async def test_a_new_peers_step_1_waits_for_the_fsync_and_brings_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 3600.0, raising=False)
    store_b = CountedSync()
    _a, b, _ = await received(store_b)
    c = await engine("C", Recording())
    wire = linked(b, c, [])
    await b.link_messages("C", list(wire[1]))  # C's hello and step 1: B's answer says what it holds
    wire[1].clear()
    assert "SyncStep1" not in kinds(wire[0])
    await asyncio.wait_for(store_b.synced.wait(), 5)  # (only this asked: the round's own is far)
    for _ in range(5):
        await asyncio.sleep(0)
    assert "SyncStep1" in kinds(wire[0])


async def test_the_goodbyes_of_a_stopping_node_bring_the_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node that stops says goodbye behind what waits for the fsync of its last received round:
    that sync comes at once, not at the round's own deadline (the links close once it is out)."""
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 3600.0, raising=False)
    store_b = CountedSync()
    b, to_a = await _unsynced_round(store_b)
    await b.begin_stop()
    assert "Bye" not in kinds(to_a)  # held: behind what waits for the fsync
    await asyncio.wait_for(store_b.synced.wait(), 5)
    for _ in range(5):
        await asyncio.sleep(0)
    assert "Bye" in kinds(to_a)
