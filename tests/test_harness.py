"""The harness's wait and event stream: a wait wakes on change events (not on a timer), a stream counts any
``data:`` line whatever its payload and reopens after the node restarts, a timeout names what was awaited,
and a condition that came true with no awaited event announcing it fails the wait instead of passing at its
deadline (a wait that sat out its whole timeout: slow, and unable to tell why it passed).

The "node" here is a few lines of HTTP on loopback (a unit test of the client; the real node's stream is
exercised by every process test that waits on ``node.events``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from meshpos.engine.changes import ChangeFeed, Subscription
from meshpos.harness.wait import TimedOut, Unannounced, until, wait_for
from meshpos.localapi import ApiError, LocalApi


class Publisher:
    def __init__(self) -> None:
        self.feed = ChangeFeed()

    def changes(self) -> Subscription:
        return self.feed.subscribe()


class FakeEvents:
    """``GET /api/events`` on loopback: sends what the test pushes; ``drop()`` ends every stream."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        self.writers.append(writer)
        self.connections += 1
        self.connected.set()

    async def push(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        self.connected.clear()

    @property
    def base(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def events() -> AsyncIterator[FakeEvents]:
    fake = FakeEvents()
    fake.server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    try:
        yield fake
    finally:
        fake.drop()
        fake.server.close()


async def test_a_wait_wakes_on_each_change_and_checks_only_then() -> None:
    node = Publisher()
    checks = 0
    checked = asyncio.Event()

    def reached() -> bool:
        nonlocal checks
        checks += 1
        checked.set()
        return checks > 3

    async def writer() -> None:  # one commit after each check
        for _ in range(3):
            await checked.wait()
            checked.clear()
            node.feed.publish(["ledger/2026-12-04"])

    task = asyncio.create_task(writer())
    await until(reached, 5, "three changes", on=[node])
    await task
    assert checks == 4  # once at first, then once per change: no timer in between


async def test_a_wait_with_no_event_times_out_naming_what_it_awaited() -> None:
    node = Publisher()
    with pytest.raises(TimedOut, match=r"timed out after 0\.2 s waiting for the sale on R2"):
        await until(lambda: False, 0.2, "the sale on R2", on=[node])
    assert not node.feed._subscribers  # the wait's subscription is closed


async def test_a_condition_no_awaited_event_announces_fails_instead_of_passing_at_the_deadline() -> (
    None
):
    node = Publisher()

    def time_passed() -> Callable[[], bool]:  # 0.1 s after its first check: no commit announces it
        opened: list[float] = []

        def check() -> bool:
            opened.append(time.monotonic())
            return opened[-1] - opened[0] > 0.1

        return check

    with pytest.raises(Unannounced, match=r"0\.1 s passed held only after the 0\.3 s deadline"):
        await until(time_passed(), 0.3, "0.1 s passed", on=[node])
    took = await until(time_passed(), 5, "0.1 s passed", on=[node], every=0.05)  # said: re-checked
    assert took < 4  # re-checked, not woken by the 5 s deadline
    with pytest.raises(Unannounced):
        await asyncio.to_thread(wait_for, time_passed(), 0.3, "0.1 s passed", on=[Silent()])
    took = await asyncio.to_thread(wait_for, time_passed(), 5, "passed", on=[Silent()], every=0.05)
    assert took < 4  # re-checked, not woken by the 5 s deadline


class Silent:
    """An event stream that never announces anything (``wait_for`` only listens to it)."""

    def listen(self, listener: object) -> None:
        pass

    def unlisten(self, listener: object) -> None:
        pass


async def test_a_stream_counts_any_data_line_whatever_the_payload(events: FakeEvents) -> None:
    stream = LocalApi(events.base, "t0ken").events()
    try:
        await until(lambda: stream.seen == 1, 5, "the stream open (a change: what came before)")
        for payload in (
            b"event: changed\ndata: {}\n\n",
            b": keepalive\n\n",  # a comment is no change
            b'data: {"docs": ["catalog"], "presence": false}\n\n',
            b"retry: 1000\n\n",
            b"event: presence\ndata:\n\n",  # new event names and empty data count too
            b"data: last\n\n",
        ):
            await events.push(payload)
        await until(lambda: stream.seen >= 5, 5, "four changes", on=[stream])
        assert stream.seen == 5  # the comment and the retry line were no change
    finally:
        stream.close()


async def test_a_stream_reopens_after_the_node_restarts_and_counts_each_opening_as_a_change(
    events: FakeEvents,
) -> None:
    stream = LocalApi(events.base).events()
    try:
        await until(lambda: stream.seen == 1, 5, "the stream open", on=[stream])
        events.drop()  # the node went down: what changes meanwhile is unknown
        await until(lambda: stream.seen == 2, 5, "the reopened stream", on=[stream])
        assert events.connections == 2
    finally:
        stream.close()


async def test_a_blocking_wait_wakes_on_the_stream_and_ignores_the_errors_it_is_told_to(
    events: FakeEvents,
) -> None:
    stream = LocalApi(events.base).events()
    loop = asyncio.get_running_loop()
    first_check = asyncio.Event()
    calls = 0

    def answered() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            loop.call_soon_threadsafe(first_check.set)
            raise ApiError(0, "GET", "/status", "the node is starting")
        return stream.seen > opened

    try:
        await until(lambda: stream.seen == 1, 5, "the stream open", on=[stream])
        opened = stream.seen
        waiting = loop.run_in_executor(
            None, lambda: wait_for(answered, 5, "a change", on=[stream], ignore=(ApiError,))
        )
        await first_check.wait()
        await events.push(b"data: x\n\n")
        took = await asyncio.wait_for(waiting, 6)
        assert calls == 2
        assert took < 5  # woken by the change, not by the deadline
    finally:
        stream.close()


def test_an_api_error_names_the_call_and_the_error_code() -> None:
    error = ApiError(422, "POST", "http://127.0.0.1:1/api/orders", '{"error": {"code": "bad"}}')
    assert "POST http://127.0.0.1:1/api/orders -> 422" in str(error)
    assert error.error_code == "bad"
    assert LocalApi("http://127.0.0.1:1").request("GET", "/status", timeout=1).status == 0


def test_the_files_the_scheduling_names_exist() -> None:
    """tests/conftest.py orders and groups tests by file: a name there that is no file (a test
    moved or renamed) would silently stop doing what it says."""
    from .conftest import GROUPS, LONGEST_FIRST

    root = Path(__file__).resolve().parent.parent
    named = [*LONGEST_FIRST, *(p for paths in GROUPS.values() for p in paths)]
    assert [p for p in named if not (root / p).is_file()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
