"""The engine on its own: commit before forward, all-or-nothing writes, events and meta, in memory.

Fakes only here (a recording store, send callables); the node and console tests run it on real SQLite
files and real links.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pytest
from pycrdt import Map

from meshpos.engine import (
    Committed,
    DocumentStore,
    Engine,
    EngineEvent,
    LinkClosed,
    LinkOpened,
)
from meshpos.errors import MeshposError, WriteFailed
from meshpos.net.port import LinkPeer
from meshpos.sync import DocumentChanged, SyncConfig, decode

VENUE = "cafe-1"


class Recording:
    """A document store that records every commit and can be held (a slow disk)."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.commits: list[tuple[list[tuple[str, bytes]], dict[str, str]]] = []
        self.fsyncs: list[bool] = []  # per commit: fsync'd (issue 18, durable)
        self.log = log if log is not None else []
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = asyncio.Event()  # an append is held at the closed gate

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        if not self.open.is_set():
            self.waiting.set()
        await self.open.wait()
        self.commits.append((list(updates), dict(meta or {})))
        self.fsyncs.append(fsync)
        self.log.append("commit")

    async def sync(self) -> None:
        self.log.append("sync")

    async def load(self) -> dict[str, bytes]:
        return {}

    async def drop(self, name: str) -> None:
        raise AssertionError("not dropped in these tests")

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        raise AssertionError("no day is closed in these tests")

    async def closed(self) -> dict[str, tuple[bytes, bytes]]:
        return {}

    async def find_closed(self, key: str) -> str | None:
        return None

    async def reopen(self, name: str) -> bytes | None:
        raise AssertionError("no day is reopened in these tests")


async def engine(
    node: str, store: DocumentStore, *, interval: float | None = None, role: str = "register"
) -> Engine:
    e = Engine(
        store,
        venue=VENUE,
        node_id=node,
        role=role,
        sync_config=SyncConfig(),
        received_commit_interval=interval,
    )
    await e.open()
    return e


def stop_here(e: Engine) -> Map[Any]:
    return e.replica.doc("stoplist").get("test", type=Map)


def committed_docs(store: Recording) -> set[str]:
    return {doc for updates, _ in store.commits for doc, _ in updates}


Wire = tuple[list[bytes], list[bytes]]


def linked(a: Engine, b: Engine, log: list[str]) -> Wire:
    """Link a and b through two lists (delivered by :func:`deliver`); every send is logged."""
    ab: list[bytes] = []
    ba: list[bytes] = []

    def sender(box: list[bytes], name: str) -> Callable[[list[bytes]], None]:
        def send(out: list[bytes]) -> None:
            box.extend(out)
            log.append(name)

        return send

    a.link_opened(b.sync.node_id, peer(b), sender(ab, f"{a.sync.node_id}->{b.sync.node_id}"))
    b.link_opened(a.sync.node_id, peer(a), sender(ba, f"{b.sync.node_id}->{a.sync.node_id}"))
    return ab, ba


def peer(e: Engine) -> LinkPeer:
    return LinkPeer(e.sync.node_id, e.sync.role, VENUE)


async def deliver(a: Engine, b: Engine, wire: Wire) -> None:
    """Hand over what each sent until neither sends more."""
    ab, ba = wire
    for _ in range(100):
        if not ab and not ba:
            return
        to_b, to_a = list(ab), list(ba)
        ab.clear()
        ba.clear()
        await b.link_messages(a.sync.node_id, to_b)
        await a.link_messages(b.sync.node_id, to_a)
    raise AssertionError("the link never went quiet")


async def test_a_write_returns_once_committed_and_is_sent_only_after() -> None:
    log: list[str] = []
    store_a = Recording(log)
    a, b = await engine("A", store_a), await engine("B", Recording())
    wire = linked(a, b, log)
    await deliver(a, b, wire)
    store_a.open.clear()  # the disk is slow: the write waits for it, and so does everything sent
    log.clear()
    write = asyncio.create_task(a.write(lambda: stop_here(a).__setitem__("k", "v")))
    await store_a.waiting.wait()
    assert not write.done()
    c = await engine("C", Recording())
    linked(a, c, log)  # a link that opens meanwhile sends nothing either, to anyone
    sent = [line for line in log if line.startswith("A->")]
    assert sent == []  # nothing went out while the change was not durable
    store_a.open.set()
    await write
    assert "A->B" in log
    assert log.index("commit") < log.index("A->B")
    assert "stoplist" in committed_docs(store_a)
    await deliver(a, b, wire)
    assert stop_here(b).get("k") == "v"


async def test_received_changes_are_committed_before_they_are_forwarded() -> None:
    """Without a received-commit interval (the console), received changes are committed first too."""
    log: list[str] = []
    store_b = Recording(log)
    a, b, c = (
        await engine("A", Recording()),
        await engine("B", store_b),
        await engine("C", Recording()),
    )
    ab, bc = linked(a, b, log), linked(b, c, log)
    await deliver(a, b, ab)
    await deliver(b, c, bc)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    store_b.open.clear()
    log.clear()
    receiving = asyncio.create_task(deliver(a, b, ab))
    await store_b.waiting.wait()
    assert "B->C" not in log  # B holds A's change, uncommitted: it does not pass it on
    store_b.open.set()
    await receiving
    assert log.index("commit") < log.index("B->C")
    await deliver(b, c, bc)
    assert stop_here(c).get("k") == "v"


async def test_a_change_that_raises_writes_nothing_and_says_why() -> None:
    store = Recording()
    a = await engine("A", store)
    await a.pump()
    before = len(store.commits)

    def broken() -> None:
        raise KeyError("boom")

    with pytest.raises(WriteFailed, match="KeyError"):
        await a.write(broken)

    class Panic(BaseException):  # what pycrdt raises on a lone surrogate
        pass

    def panics() -> None:
        raise Panic

    with pytest.raises(WriteFailed, match="Panic"):
        await a.write(panics)

    def refused() -> None:
        raise MeshposError("not allowed")

    with pytest.raises(MeshposError, match="not allowed"):
        await a.write(refused)
    assert len(store.commits) == before
    await a.stop()
    with pytest.raises(MeshposError, match="shutting down"):
        await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    assert len(store.commits) == before


async def test_events_come_in_order_and_the_feed_after_the_commit() -> None:
    store = Recording()
    a = await engine("A", store)
    b = await engine("B", Recording())
    events: list[EngineEvent] = []
    a.subscribe(events.append)
    feed = a.changes()
    wire = linked(a, b, [])
    await deliver(a, b, wire)
    assert isinstance(events[0], LinkOpened)
    assert events[0].peer.device_id == "B"
    assert feed.pending() is not None  # presence: B joined
    events.clear()
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    kinds = [type(e) for e in events]
    assert kinds.index(DocumentChanged) < kinds.index(Committed)
    committed = next(e for e in events if isinstance(e, Committed))
    assert committed.local
    assert committed.updates["stoplist"] >= 1
    change = feed.pending()
    assert change is not None
    assert "stoplist" in change.docs
    assert change.local
    await a.link_closed("B", "test over")
    assert isinstance(events[-1], LinkClosed)
    assert events[-1].reason == "test over"
    feed.close()


async def test_meta_from_a_hook_is_committed_with_the_changes() -> None:
    store = Recording()
    a = await engine("A", store)
    due = {"n": "1"}

    def meta(local: bool) -> dict[str, str]:
        return dict(due) if local else {}

    def committed(event: EngineEvent) -> None:
        if isinstance(event, Committed) and "n" in event.meta:
            due.clear()

    a.add_meta(meta)
    a.subscribe(committed)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    updates, values = store.commits[-1]
    assert values == {"n": "1"}
    assert updates
    await a.write(lambda: stop_here(a).__setitem__("k", "w"))
    assert store.commits[-1][1] == {}  # the hook said it was committed


async def test_received_changes_are_grouped_into_one_commit() -> None:
    a = await engine("A", Recording())
    b_store = Recording()
    b = await engine("B", b_store, interval=0.5)  # (long: a loaded machine's loop stays within it)
    committed = asyncio.Event()
    b.subscribe(lambda event: committed.set() if isinstance(event, Committed) else None)
    wire = linked(a, b, [])
    await deliver(a, b, wire)
    for i in range(3):
        await a.write(lambda i=i: stop_here(a).__setitem__(f"k{i}", i))  # type: ignore[misc]
    messages = list(wire[0])
    wire[0].clear()
    commits = len(b_store.commits)
    committed.clear()
    for data in messages:
        await b.link_messages("A", [data])  # one message at a time, as a link may hand them
        for _ in range(10):  # each in a later turn of the loop, as reads are: its tasks run between
            await asyncio.sleep(0)
    await asyncio.wait_for(committed.wait(), 5.0)
    await b.stop()
    assert len(messages) >= 3
    # all within the interval: one commit, the first one too (it used to commit at once, alone)
    assert len(b_store.commits) - commits == 1
    assert {f"k{i}" for i in range(3)} <= set(stop_here(b).keys())


class Stepped(Recording):
    """A store whose appends each wait until the test lets one through (:meth:`release`)."""

    def __init__(self) -> None:
        super().__init__()
        self.passes = asyncio.Semaphore(0)
        self.held = 0  # appends waiting now

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        self.held += 1
        self.waiting.set()
        try:
            await self.passes.acquire()
        finally:
            self.held -= 1
        await super().append(updates, meta, fsync=fsync)

    async def release(self) -> None:
        """Let the waiting append through, and wait until the engine is in its next one (or idle)."""
        self.waiting.clear()
        self.passes.release()
        for _ in range(100):
            await asyncio.sleep(0)


async def settle(a: Engine, b: Engine, wire: Wire) -> None:
    """:func:`deliver` with both engines' pumps in between (a node's replies wait for its commit)."""
    for _ in range(20):
        await a.pump()
        await b.pump()
        if not wire[0] and not wire[1]:
            return
        await deliver(a, b, wire)
    raise AssertionError("the link never went quiet")


async def test_a_node_forwards_a_peers_update_before_committing_it_and_nothing_else() -> None:
    log: list[str] = []
    store_b = Recording(log)
    a, b, c = (
        await engine("A", Recording()),
        await engine("B", store_b, interval=0.001),
        await engine("C", Recording()),
    )
    ab, bc = linked(a, b, log), linked(b, c, log)
    await settle(a, b, ab)
    await settle(b, c, bc)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    store_b.open.clear()  # B's disk is slow
    commits = len(store_b.commits)
    pending = asyncio.create_task(b.write(lambda: stop_here(b).__setitem__("mine", "x")))
    await b.link_messages("A", list(ab[0]))
    ab[0].clear()
    await store_b.waiting.wait()
    sent = [decode(data, 2**20) for data in bc[0] if data]
    assert [type(m).__name__ for m in sent] == ["SyncUpdate"]  # A's change, passed on at once
    await deliver(b, c, bc)
    assert stop_here(c).get("k") == "v"
    assert "mine" not in stop_here(c)  # B's own change waits for B's commit
    assert len(store_b.commits) == commits
    assert not pending.done()
    store_b.open.set()
    await pending
    await settle(b, c, bc)
    assert stop_here(c).get("mine") == "x"
    b.sync.tick(0.0)
    b.sync.tick(
        SyncConfig().anti_entropy_interval
    )  # an anti-entropy round: B's step 1 says what it holds, all committed
    await settle(b, c, bc)
    assert c.sync.held_by("stoplist")["B"].get(a.sync.client_id, 0) > 0  # committed: now claimed


async def test_a_write_returns_once_its_round_is_committed_while_received_commits_go_on() -> None:
    """A sale does not queue behind every round of a busy received-commit loop (issue 18): it waits
    for the round that drains it, in the store's order."""
    store_b = Stepped()
    a, b = await engine("A", Recording()), await engine("B", Recording(), interval=0.001)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    b.store = store_b

    async def receive(key: str) -> None:
        await a.write(lambda: stop_here(a).__setitem__(key, key))
        await b.link_messages("A", list(wire[0]))
        wire[0].clear()

    await receive("r1")
    await store_b.waiting.wait()  # round 1 (r1) is being committed
    write = asyncio.create_task(b.write(lambda: stop_here(b).__setitem__("sale", "paid")))
    await receive("r2")
    await store_b.release()  # round 1 done; round 2 (the sale and r2) under way
    await asyncio.wait_for(store_b.waiting.wait(), 5.0)
    assert not write.done()
    await receive("r3")  # arrives during round 2: round 3
    await store_b.release()  # round 2 done; round 3 (r3) under way
    await asyncio.wait_for(store_b.waiting.wait(), 5.0)  # received commits go on ...
    assert store_b.held == 1
    await asyncio.wait_for(write, 5.0)  # ... and the sale returned all the same
    committed = [doc for updates, _ in store_b.commits for doc, _ in updates]
    assert len(store_b.commits) == 2
    assert committed.count("stoplist") >= 3
    await store_b.release()
    await b.pump()
    assert {"r1", "r2", "r3", "sale"} <= set(stop_here(b).keys())
