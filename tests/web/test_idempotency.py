"""The ``Idempotency-Key`` memory's life (register/request_keys.py) and its place in the OpenAPI document.

Keys follow the live day: their business day and the one before are kept, older ones are dropped when
the node starts and when the date moves (no table grows for ever). An answer is held for the commit that
carries its write and let go once that commit is done. Real processes: test_idempotency_processes.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from meshpos.engine.engine import Committed
from meshpos.httpapi.server import HttpServer, Response
from meshpos.model.sample import CASHIER
from meshpos.register.request_keys import (
    RECENT_S,
    RequestKeys,
    answer_name,
    encode_answer,
    entry_name,
)
from meshpos.store import MemoryStore, SqliteStore, Store
from meshpos.web.api import make_handler
from meshpos.web.idempotency import KeyedWrites

from .fake_node import FakeNode
from .kit import Client

TOKEN = "t" * 32


class Hooks:
    """What RequestKeys asks of the engine: a meta hook and the Committed events."""

    def __init__(self) -> None:
        self.meta: list[Callable[[bool], Mapping[str, str]]] = []
        self.listeners: list[Callable[[Any], None]] = []

    def add_meta(self, hook: Callable[[bool], Mapping[str, str]]) -> None:
        self.meta.append(hook)

    def subscribe(self, listener: Callable[[Any], None], *kinds: type) -> None:
        self.listeners.append(listener)

    def commit(self) -> dict[str, str]:
        meta: dict[str, str] = {}
        for hook in self.meta:
            meta.update(hook(True))
        for listener in self.listeners:
            listener(Committed({}, True, meta))
        return meta


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store = (
        await SqliteStore.open(tmp_path / "node.db") if request.param == "sqlite" else MemoryStore()
    )
    try:
        yield opened
    finally:
        await opened.close()


ANSWER = encode_answer(201, b'{"id":"o1"}')


def _entry(day: str, fp: str) -> dict[str, str]:
    name = entry_name(day, "k")
    return {name: fp, answer_name(name): ANSWER}


async def test_keys_are_kept_for_their_day_and_the_next_then_dropped(store: Store) -> None:
    days = ("2026-12-01", "2026-12-04", "2026-12-05", "2026-12-06")
    meta = {k: v for d in days for k, v in _entry(d, d).items()}
    await store.append([], meta=meta | {"other": "x"})
    hooks = Hooks()
    keys = await RequestKeys.open(hooks, store, "2026-12-06")  # type: ignore[arg-type]
    assert len(keys) == 2  # today's and yesterday's
    assert keys.find("k") == (entry_name("2026-12-06", "k"), "2026-12-06")  # the later day's
    for old in ("2026-12-04", "2026-12-01"):  # dropped at start, fingerprint and answer
        assert await store.get_meta(entry_name(old, "k")) is None
        assert await store.get_meta(answer_name(entry_name(old, "k"))) is None
    assert await store.get_meta("other") == "x"  # nothing else is touched
    await keys.expire("2026-12-06")  # the same day: nothing moves
    assert len(keys) == 2
    assert await keys.answer(entry_name("2026-12-05", "k")) == (201, b'{"id":"o1"}')
    await keys.expire("2026-12-08")  # two days on: both gone, in memory and on disk
    assert len(keys) == 0
    assert await store.meta_range("idem", "idem~") == {}  # fingerprints and answers
    assert await store.get_meta("other") == "x"


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("jump", ["2026-12-09", "2026-12-03"])
async def test_a_key_taken_before_the_wall_clock_jumped_days_is_still_found(
    store: Store, jump: str
) -> None:
    """NTP sets a register's clock right by days while it runs (a flat clock battery; outside,
    third round): the retry of a write taken before the jump is found by its key alone, and the day
    it was taken on outlives the jump's expiry for RECENT_S of monotonic time, then goes."""
    hooks, clock = Hooks(), Monotonic()
    keys = RequestKeys(hooks, store, {}, "2026-12-05", clock)  # type: ignore[arg-type]
    name = keys.name("burger-1", "2026-12-06")
    keys.hold(name, "fp", 201, b'{"id":"o1"}')
    await store.append([], meta=hooks.commit())
    assert keys.find("burger-1") == (name, "fp")  # main asked under the jumped clock's day: None
    await keys.expire(jump)  # another keyed write after the jump
    keys.hold(keys.name("fries-1", jump), "fp2", 201, b"{}")
    await store.append([], meta=hooks.commit())
    assert keys.find("burger-1") == (name, "fp")
    assert await keys.answer(name) == (201, b'{"id":"o1"}')
    clock.now += RECENT_S + 1  # a day of the register's own time later
    await keys.expire(jump)
    if jump > "2026-12-06":  # forward: the old day goes once it is no longer recent
        assert keys.find("burger-1") is None
        assert await store.get_meta(name) is None
        assert await store.get_meta(answer_name(name)) is None
    else:  # back: the day ahead of the clock stays until the clock passes it
        assert keys.find("burger-1") == (name, "fp")
    assert keys.find("fries-1") is not None


async def test_a_start_reads_the_fingerprints_not_the_answers(store: Store) -> None:
    """The answers are read on a retry only: a start read every answer whole (~100 ms, 18 MB at
    40,000 keys) to keep the fingerprints. An entry of the first layout (fingerprint, status and
    answer in one value) still reads alike."""
    first = entry_name("2026-12-05", "old")
    await store.append([], meta=_entry("2026-12-06", "fp") | {first: "fp-old " + ANSWER})
    read: list[tuple[str, str]] = []
    ranged = store.meta_range

    async def spy(low: str, high: str) -> dict[str, str]:
        read.append((low, high))
        return await ranged(low, high)

    store.meta_range = spy  # type: ignore[method-assign]
    keys = await RequestKeys.open(Hooks(), store, "2026-12-06")  # type: ignore[arg-type]
    assert read == [("idem/", "idem0")]
    assert "idem-answer/" < "idem/"  # the answers lie outside that range
    assert keys.find("old") == (first, "fp-old")
    assert await keys.answer(first) == (201, b'{"id":"o1"}')
    assert await keys.answer(entry_name("2026-12-06", "k")) == (201, b'{"id":"o1"}')


async def test_an_answer_is_held_until_the_commit_that_carries_it(store: Store) -> None:
    hooks = Hooks()
    keys = await RequestKeys.open(hooks, store, "2026-12-06")  # type: ignore[arg-type]
    name = keys.name("k", "2026-12-06")
    keys.hold(name, "fp", 201, b'{"id":"o1"}')
    assert keys.pending(name)
    assert keys.find("k") == (name, "fp")
    both = {name: "fp", answer_name(name): ANSWER}
    assert hooks.meta[0](False) == both  # goes with the next commit, local or not
    assert hooks.commit() == both
    assert not keys.pending(name)
    assert hooks.meta[0](True) == {}  # committed: not written again
    await store.append([], meta=both)
    assert await keys.answer(name) == (201, b'{"id":"o1"}')
    await store.append([], meta={answer_name(name): "201 not-base64!"})  # damaged: no answer
    assert await keys.answer(name) is None


@pytest.fixture
async def served() -> AsyncIterator[Client]:
    server = HttpServer(make_handler(FakeNode(), TOKEN), "127.0.0.1", 0)
    port = await server.start()
    try:
        yield Client(f"http://127.0.0.1:{port}", TOKEN)
    finally:
        await server.stop()


async def test_every_write_documents_the_header_and_no_read_does(served: Client) -> None:
    doc = await served.ok("GET", "/api/openapi.json")
    writes = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
            keyed = method in ("post", "put", "delete") and op.get("security") != []
            expected = ["Idempotency-Key", "X-Meshpos-Session"] if keyed else []
            if path == "/api/session":  # the one read about a sign-in: who it is now
                expected = ["X-Meshpos-Session"]
            assert names == expected, (method, path)
            writes += keyed
    assert writes >= 20


async def test_a_node_without_a_key_memory_serves_keyed_requests_as_before(served: Client) -> None:
    headers = {"Idempotency-Key": "k"}
    await served.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    for _ in range(2):
        answer = await served.call("POST", "/api/orders", {"user": CASHIER}, headers=headers)
        assert answer.status == 201
    assert len(await served.ok("GET", "/api/orders")) == 2
    answer = await served.call(
        "POST", "/api/orders", {"user": CASHIER}, headers={"Idempotency-Key": "a b"}
    )
    assert (answer.status, answer.code) == (400, "bad_idempotency_key")  # malformed all the same


class SlowMemory:
    """A key memory whose every await yields (a store read, a day's keys dropped), nothing kept."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    def find(self, key: str) -> tuple[str, str] | None:
        for name, fingerprint in self.held.items():
            if name.endswith(f"/{key}"):
                return name, fingerprint
        return None

    def name(self, key: str, today: str) -> str:
        return f"idem/{today}/{key}"

    def pending(self, name: str) -> bool:
        return False

    async def answer(self, name: str) -> tuple[int, bytes] | None:
        await asyncio.sleep(0)
        return 201, b"{}"

    def hold(self, name: str, fingerprint: str, status: int, body: bytes) -> None:
        self.held[name] = fingerprint

    async def expire(self, today: str) -> None:
        await asyncio.sleep(0)  # the date moved: the old keys are being dropped


class Clock:
    def now_ms(self) -> int:
        return 0

    def business_date(self, now_ms: int) -> str:
        return "2026-12-06"


async def test_requests_with_one_key_never_both_run_whatever_awaits_on_the_way() -> None:
    runs: list[int] = []

    async def handle(node: Any) -> Response:
        runs.append(1)
        await node.write(lambda venue, now: {"id": "o1"})
        return Response(201, b'{"id":"o1"}')

    class Node(Clock):
        async def write(self, change: Callable[[Any, int], Any], *, wait: bool = False) -> Any:
            await asyncio.sleep(0)
            return change(None, 0)

    keyed, memory = KeyedWrites(), SlowMemory()
    calls = [keyed.run(Node(), memory, "k", "fp", 201, handle) for _ in range(20)]  # type: ignore[arg-type]
    answers = await asyncio.gather(*calls)
    assert len(runs) == 1
    assert {(a.status, a.body) for a in answers} == {(201, b'{"id":"o1"}')}
