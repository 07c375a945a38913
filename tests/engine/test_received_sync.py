"""A node commits what peers sent without an fsync, and says it holds it only once synced (issue 18,
received; docs/architecture.md (Durability)).

A round of received updates on a node (``received_commit_interval``: it forwards before the commit)
is committed with ``fsync=False``: their authors hold them durably. What tells a peer what this
device holds (a hello and sync step 1, a heartbeat, a step 2 reply) waits until an fsync covers that
commit: the engine's ``Store.sync`` soon after it, or an fsync'd commit (a local urgent write). The
console commits every round fsync'd. Awaited on events, never slept on."""

from __future__ import annotations

import asyncio

import pytest

import meshpos.engine.linger as linger
from meshpos.engine import Committed, Engine, EngineEvent
from meshpos.sync import Hello, decode
from tests.engine.test_engine import Recording, deliver, engine, linked, settle, stop_here


def kinds(box: list[bytes]) -> list[str]:
    return [type(decode(data, 2**20)).__name__ for data in box if data]


class CountedSync(Recording):
    """A store that counts its syncs and tells when one ends."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0
        self.synced = asyncio.Event()

    async def sync(self) -> None:
        self.syncs += 1
        await super().sync()
        self.synced.set()


class HeldSync(Recording):
    """A store whose ``sync`` waits until ``release`` is set (a slow fsync), and tells when it ends."""

    def __init__(self, log: list[str] | None = None) -> None:
        super().__init__(log)
        self.release = asyncio.Event()
        self.asked = asyncio.Event()
        self.synced = asyncio.Event()

    async def sync(self) -> None:
        self.asked.set()
        await self.release.wait()
        await super().sync()
        self.synced.set()


async def received(
    store_b: Recording, *, interval: float | None = 0.0
) -> tuple[Engine, Engine, asyncio.Event]:
    """A and B linked and settled; A writes once and B receives it (committed when returned)."""
    a, b = await engine("A", Recording()), await engine("B", store_b, interval=interval)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    committed = asyncio.Event()
    b.subscribe(lambda event: committed.set(), Committed)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    await b.link_messages("A", list(wire[0]))
    wire[0].clear()
    await asyncio.wait_for(committed.wait(), 5)
    return a, b, committed


async def test_a_received_round_is_committed_unsynced_and_held_back_until_its_fsync() -> None:
    log: list[str] = []
    store_b = HeldSync(log)
    a, b, _ = await received(store_b)
    assert stop_here(b).get("k") == "v"
    assert store_b.fsyncs[-1] is False  # before: fsync'd like every received round
    c = await engine("C", Recording())
    wire = linked(b, c, log)  # B's step 1 says what it holds: not before the fsync
    await b.link_messages("C", list(wire[1]))  # C's hello (and step 1): B answers
    wire[1].clear()
    await asyncio.wait_for(store_b.asked.wait(), 5)  # the engine's sync, soon after
    assert kinds(wire[0]) == [Hello.__name__]  # (the hello says nothing of what it holds)
    store_b.release.set()
    await asyncio.wait_for(store_b.synced.wait(), 5)
    for _ in range(5):
        await asyncio.sleep(0)  # (the sync's task flushes once it is told)
    assert "SyncStep1" in kinds(wire[0])
    await settle(b, c, wire)
    held = c.sync.held_by("stoplist")  # C counts B as holding A's change once B fsync'd it
    assert held["B"].get(a.sync.client_id, 0) > 0


async def test_a_peer_does_not_count_a_device_before_its_received_commit_is_synced() -> None:
    store_b = HeldSync()
    _a, b, _ = await received(store_b)
    c = await engine("C", Recording())
    wire = linked(b, c, [])
    await deliver(b, c, wire)  # C's hello and step 1 go to B; B's answer waits for the fsync
    await asyncio.wait_for(store_b.asked.wait(), 5)
    assert "B" not in c.sync.held_by("stoplist")  # fails if the gate opens on "committed"
    store_b.release.set()
    await asyncio.wait_for(store_b.synced.wait(), 5)
    await settle(b, c, wire)
    assert "B" in c.sync.held_by("stoplist")


async def test_a_local_urgent_write_in_the_same_round_is_fsynced_and_opens_the_gate() -> None:
    store_b = HeldSync()
    _a, b, _ = await received(store_b)
    assert store_b.fsyncs[-1] is False
    await b.write(lambda: stop_here(b).__setitem__("mine", "x"))  # may not wait: fsync'd
    assert store_b.fsyncs[-1] is True
    commits = b.sync.commits
    assert commits is not None
    assert commits.synced == commits.committed  # the fsync covered the received round before it


async def test_the_console_commits_received_rounds_fsynced() -> None:
    store_b = Recording()
    _a, _b, _ = await received(store_b, interval=None)
    assert store_b.fsyncs
    assert all(store_b.fsyncs)
    assert "sync" not in store_b.log


async def test_the_received_rounds_of_one_window_make_one_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(linger, "RECEIVED_SYNC_DELAY", 0.5)  # (the three rounds fit in it)
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 0.5)  # (and nothing waits for them)
    store_b = CountedSync()
    a, b = await engine("A", Recording()), await engine("B", store_b, interval=0.0)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    before = len(store_b.fsyncs)
    for n in range(3):
        committed = asyncio.Event()

        def on_commit(event: EngineEvent, done: asyncio.Event = committed) -> None:
            done.set()

        b.subscribe(on_commit, Committed)
        await a.write(lambda: stop_here(a).__setitem__(f"k{n}", n))  # noqa: B023  (used before the loop moves on)
        await b.link_messages("A", list(wire[0]))
        wire[0].clear()
        await asyncio.wait_for(committed.wait(), 5)
    assert store_b.fsyncs[before:] == [False, False, False]  # before: one fsync each
    assert store_b.syncs == 0
    await asyncio.wait_for(store_b.synced.wait(), 5)
    assert store_b.syncs == 1  # one fsync for the three
    commits = b.sync.commits
    assert commits is not None
    assert commits.synced == commits.committed


async def test_a_taps_deadline_and_a_received_round_in_one_window_make_one_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(issue 18, review) One sync for what was committed without an fsync: the sync at the taps'
    release covers the received round before it and marks it synced. Fails before: that sync did
    not mark the round, which waited for a sync of its own ``RECEIVED_SYNC_DELAY`` later."""
    monkeypatch.setattr(linger, "RECEIVED_SYNC_DELAY", 3600.0)  # (only the release's sync comes)
    monkeypatch.setattr(linger, "RECEIVED_SYNC_LATEST", 3600.0)
    store_b = CountedSync()
    _a, b, _ = await received(store_b)
    await b.write(lambda: stop_here(b).__setitem__("tap", "t"), wait_ms=20)
    assert store_b.fsyncs[-2:] == [False, False]  # the received round, then the tap
    commits = b.sync.commits
    assert commits is not None
    assert commits.synced < commits.committed
    await asyncio.wait_for(store_b.synced.wait(), 5)  # the tap's deadline: sent, then synced
    assert store_b.syncs == 1
    assert commits.synced == commits.committed


async def test_the_windows_sync_does_not_fsync_taps_that_still_wait() -> None:
    """(issue 18, review) A sync is owed only by received rounds and released taps: when a payment's
    fsync covered the window's round, the window's sync fsyncs nothing, though taps committed since
    without an fsync still wait (their release or the next payment does). Fails with a sync that
    covers every commit without an fsync (an fdatasync per window on a selling register)."""
    store_b = CountedSync()
    _a, b, _ = await received(store_b)  # the window's sync is timed
    await b.write(lambda: stop_here(b).__setitem__("pay", "p"))  # fsync'd: covers the round
    await b.write(lambda: stop_here(b).__setitem__("tap", "t"), wait_ms=60_000)
    assert store_b.fsyncs[-2:] == [True, False]
    ran = asyncio.Event()
    sync = b._sync

    async def watched() -> None:
        await sync()
        ran.set()

    b._sync = watched  # type: ignore[method-assign]
    await asyncio.wait_for(ran.wait(), 5)
    assert store_b.syncs == 0
    commits = b.sync.commits
    assert commits is not None
    assert commits.synced == commits.committed
