"""Taps that may wait, on the engine (issue 18, coalesce): ``Engine.write(change, wait_ms=...)`` is
committed as always, its update held (``sync/_lingering.py``) until the next urgent write takes it
along in one message, or until its deadline (the engine's timer: awaited here, never slept on); a
crash while it waits loses nothing (committed: it leaves after the restart's catch-up). Issue 18,
durable: a commit of nothing but waiting taps is not fsync'd; the urgent write's commit is (it covers
them); their deadline fsyncs what is still unsynced. (Issue 18, received: a node's received
rounds are not fsync'd either, tests/engine/test_received_sync.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import pytest

from meshpos.config import load_config
from meshpos.engine import Engine, StoreDocuments
from meshpos.errors import ConfigError
from meshpos.model import Venue
from meshpos.register.operations import RegisterOperations
from meshpos.store import SqliteStore
from meshpos.sync import DocumentChanged, SyncUpdate, decode
from tests.engine.test_engine import Recording, engine, linked, settle, stop_here

Wire = tuple[list[bytes], list[bytes]]
T = TypeVar("T")


def updates(box: list[bytes]) -> list[SyncUpdate]:
    return [m for m in (decode(d, 2**20) for d in box if d) if isinstance(m, SyncUpdate)]


def put(e: Engine, key: str) -> Callable[[], None]:
    return lambda: stop_here(e).__setitem__(key, key)


def applies(e: Engine) -> list[str]:
    seen: list[str] = []
    e.subscribe(
        lambda event: (
            seen.append(event.doc)
            if isinstance(event, DocumentChanged) and event.peer is not None
            else None
        ),
        DocumentChanged,
    )
    return seen


async def pair(store: Recording | None = None) -> tuple[Engine, Engine, Wire]:
    a = await engine("A", store or Recording(), interval=0.001)
    b = await engine("B", Recording(), interval=0.001)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    return a, b, wire


async def test_an_urgent_write_takes_the_waiting_ones_with_it_in_one_message() -> None:
    store = Recording()
    a, b, wire = await pair(store)
    seen = applies(b)
    commits = len(store.commits)
    for key in ("open", "line1", "line2"):
        await a.write(put(a, key), wait_ms=10_000)
    assert len(store.commits) == commits + 3  # each committed when its write returned
    assert updates(wire[0]) == []  # and held
    await a.write(put(a, "pay"))
    assert len(updates(wire[0])) == 1
    await settle(a, b, wire)
    assert seen == ["stoplist"]  # one apply
    assert dict(stop_here(b)) == {k: k for k in ("open", "line1", "line2", "pay")}
    assert a.sync.linger_due is None


async def test_a_waiting_write_leaves_by_its_deadline_with_no_further_write() -> None:
    a, b, wire = await pair()
    sent = asyncio.Event()
    send = a._links["B"][1]

    def watching(out: list[bytes]) -> None:
        send(out)
        if updates(out):
            sent.set()

    a._links["B"] = (a._links["B"][0], watching)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await a.write(put(a, "open"), wait_ms=30)
    await a.write(put(a, "line"), wait_ms=30)
    assert updates(wire[0]) == []
    await asyncio.wait_for(sent.wait(), 5)
    assert loop.time() - start >= 0.029  # not before its deadline
    assert len(updates(wire[0])) == 1
    await settle(a, b, wire)
    assert dict(stop_here(b)) == {"open": "open", "line": "line"}


class Restarting(Recording):
    """A store whose next engine loads what the last one committed (a restart after kill -9)."""

    async def load(self) -> dict[str, bytes]:
        from pycrdt import merge_updates

        kept: dict[str, list[bytes]] = {}
        for updates, _ in self.commits:
            for doc, update in updates:
                kept.setdefault(doc, []).append(update)
        return {doc: merge_updates(*ups) for doc, ups in kept.items()}


async def test_a_crash_while_a_write_waits_loses_nothing() -> None:
    store = Restarting()
    a, b, wire = await pair(store)
    await a.write(put(a, "open"), wait_ms=60_000)
    await a.write(put(a, "line"), wait_ms=60_000)
    assert updates(wire[0]) == []
    # kill -9: the engine is gone with what it held, never sent; the store kept the commits
    again = await engine("A", store, interval=0.001)
    await b.link_closed("A", "gone")  # B notices the link gone; a new one opens
    wire2 = linked(again, b, [])
    await settle(again, b, wire2)
    assert dict(stop_here(b)) == {"open": "open", "line": "line"}


async def test_without_wait_every_write_leaves_alone_as_before() -> None:
    a, b, wire = await pair()
    seen = applies(b)
    await a.write(put(a, "open"))
    await a.write(put(a, "pay"))
    assert len(updates(wire[0])) == 2
    await settle(a, b, wire)
    assert seen == ["stoplist", "stoplist"]


class Taps(RegisterOperations):
    def __init__(self) -> None:
        self.waits: list[bool] = []

    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        self.waits.append(wait)
        return cast(T, None)  # (no venue here: the taps only say whether they may wait)

    async def load_shift_day(self) -> None:
        pass  # (no closed days here)


async def test_only_the_taps_nobody_needs_at_once_may_wait() -> None:
    taps = Taps()
    await taps.open_order("u")
    await taps.add_line("u", "o", "p")
    await taps.remove_line("u", "o", "l")
    assert taps.waits == [True, True, True]
    taps.waits.clear()
    await taps.pay("u", "o", "cash")
    await taps.send_to_kitchen("u", "o")
    await taps.void_order("u", "o")
    await taps.refund("u", "r")
    await taps.open_shift("u", 0)
    await taps.close_shift("u", 0)
    await taps.cash_move("u", "in", 1)
    await taps.inventory_move("u", "p", "in", 1)
    await taps.set_stop("u", "p", True)
    assert taps.waits == [False] * 9


def test_linger_ms_is_one_setting_with_an_env_override(tmp_path: Path) -> None:
    assert load_config(env={"MESHPOS_NODE_ID": "r1"}).linger_ms == 25.0
    config = tmp_path / "node.toml"
    config.write_text('[node]\nnode_id = "r1"\nlinger_ms = 10\n')
    assert load_config(config, env={}).linger_ms == 10.0
    assert load_config(config, env={"MESHPOS_LINGER_MS": "0"}).linger_ms == 0.0
    with pytest.raises(ConfigError, match="linger_ms"):
        load_config(config, env={"MESHPOS_LINGER_MS": "5000"})


def test_mark_wait_ms_is_one_setting_with_an_env_override(tmp_path: Path) -> None:
    assert load_config(env={"MESHPOS_NODE_ID": "r1"}).mark_wait_ms == 1000.0
    config = tmp_path / "node.toml"
    config.write_text('[node]\nnode_id = "r1"\nmark_wait_ms = 0\n')
    assert load_config(config, env={}).mark_wait_ms == 0.0
    assert load_config(config, env={"MESHPOS_MARK_WAIT_MS": "250"}).mark_wait_ms == 250.0
    for bad in ("-1", "10001", "nan"):
        with pytest.raises(ConfigError, match="mark_wait_ms"):
            load_config(config, env={"MESHPOS_MARK_WAIT_MS": bad})


class Syncing(Recording):
    """A store that tells when ``sync`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.synced = asyncio.Event()

    async def sync(self) -> None:
        await super().sync()
        self.synced.set()


async def test_only_waiting_taps_commit_without_an_fsync_and_the_urgent_write_fsyncs_them() -> None:
    store = Recording()
    a, b, wire = await pair(store)
    before = len(store.fsyncs)
    for key in ("open", "line1", "line2"):
        await a.write(put(a, key), wait_ms=10_000)
    assert store.fsyncs[before:] == [False, False, False]
    await a.write(put(a, "pay"))
    assert store.fsyncs[before:] == [False, False, False, True]  # covers the three before it
    await settle(a, b, wire)
    assert "sync" not in store.log  # nothing left unsynced: no deadline fsync either
    received = b.store
    assert isinstance(received, Recording)
    assert received.commits
    assert not any(received.fsyncs)  # received on a node: fsync'd soon after (issue 18, received)
    await a.write(put(a, "alone"))  # linger_ms = 0: a write that may not wait
    assert store.fsyncs[-1] is True


async def test_a_waiting_tap_that_leaves_by_its_deadline_is_fsynced_then() -> None:
    store = Syncing()
    a, _b, wire = await pair(store)
    await a.write(put(a, "open"), wait_ms=20)
    assert store.fsyncs[-1] is False
    assert "sync" not in store.log
    await asyncio.wait_for(store.synced.wait(), 5)  # the deadline: sent, then fsync'd
    assert store.log[-2:] == ["commit", "sync"]
    assert updates(wire[0])


async def test_on_sqlite_the_urgent_write_and_the_deadline_fsync_what_waited(
    tmp_path: Path,
) -> None:
    synced = asyncio.Event()

    class Documents(StoreDocuments):
        async def sync(self) -> None:
            await super().sync()
            synced.set()

    sqlite = await SqliteStore.open(tmp_path / "node.db")
    try:
        a = await engine("A", Documents(sqlite), interval=0.001)
        stats = sqlite.stats
        for key in ("open", "line"):
            await a.write(put(a, key), wait_ms=10_000)
        assert stats.unsynced_transactions == 2
        full = stats.transactions
        await a.write(put(a, "pay"))
        assert stats.transactions == full + 1
        assert stats.unsynced_transactions == 2
        await sqlite.sync()
        assert stats.syncs == 0  # the payment's commit fsync'd them
        await a.write(put(a, "open2"), wait_ms=20)
        assert stats.unsynced_transactions == 3
        await asyncio.wait_for(synced.wait(), 5)
        assert stats.syncs == 1
        await a.stop()
    finally:
        await sqlite.close()
