"""What ``meshpos bench mesh`` counts inside each register process: wire messages and bytes, loop lag.

Ours: every message a node hands to its links (``MeshLink.send``) is counted by wrapping that method: the
sync protocol's payload bytes, every kind (updates, heartbeats, anti-entropy), once per sending node;
websocket framing (2-14 B a message) and TLS records are not counted. A batch (``_codec.BATCH``) is one
message; its bytes are counted by the kinds inside, its own envelope and lengths as ``batch``. The peer: what each pycrdt channel
sends. ``LoopLag``: how late a 10 ms timer fires while sales are offered, i.e. whether a slow figure is the
protocol or a busy event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from meshpos.errors import MeshposError
from meshpos.net.links import MeshLink
from meshpos.sync._codec import BATCH, BYE, CHUNK, DIGEST, HEARTBEAT, HELLO, unbatch

#: a directory: each register process profiles its event-loop thread while it sells (``--profile``)
PROFILE_ENV = "MESHPOS_BENCH_PROFILE"

_ENVELOPES = {HELLO: "hello", CHUNK: "chunk", HEARTBEAT: "heartbeat", BYE: "bye", DIGEST: "digest"}
_Y_SYNC = {0: "step1", 1: "step2", 2: "update"}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def message_kind(message: bytes) -> str:
    """The kind of one meshpos wire message (the envelope table in ``meshpos.sync._codec``): a doc
    message (0x02) is its document name (a var-string) and then the y-protocols sync sub-type."""
    if message[0] != 0x02:
        return _ENVELOPES.get(message[0], "other")
    size = message[1]  # document names are short: a one-byte var-uint length
    if size >= 0x80 or len(message) < 4 + size:
        return "other"
    if message[2 + size] != 0:
        return "awareness"
    return _Y_SYNC.get(message[3 + size], "other")


class LinkMeter:
    """Bytes and messages sent; ``install()`` counts what mesh links are handed in this process."""

    def __init__(self) -> None:
        self.bytes = 0
        self.messages = 0
        self.by_kind: Counter[str] = Counter()

    def count(self, message: bytes, kind: str | None = None) -> None:
        self.bytes += len(message)
        self.messages += 1
        if kind is None and message[0] == BATCH:
            inside = unbatch(message)
            for part in inside:
                self.by_kind[message_kind(part)] += len(part)
            self.by_kind["batch"] += len(message) - sum(map(len, inside))
            return
        self.by_kind[kind or message_kind(message)] += len(message)

    def install(self) -> None:
        """Wrap ``MeshLink.send`` for the rest of this (bench worker) process. ``b""`` is not counted."""
        original = MeshLink.send

        def send(link: MeshLink, messages: list[bytes]) -> None:
            for message in messages:
                if message:
                    self.count(message)
            original(link, messages)

        setattr(MeshLink, "send", send)  # noqa: B010 (mypy forbids assigning to a method)

    async def quiet(self, threshold: int, timeout: float) -> float:
        """Wait until at most ``threshold`` messages go out in half a second; the seconds waited."""
        start = time.perf_counter()
        while True:
            before = self.messages
            await asyncio.sleep(0.5)
            if self.messages - before <= threshold:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise MeshposError(f"still busy sending after {timeout:g} s")


class LoopLag:
    """How late a 10 ms ticker wakes up: how long this process's event loop is busy at a time."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.samples.append(max(0.0, time.perf_counter() - before - 0.01))

    def __enter__(self) -> LoopLag:
        self.samples = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


class _Channel:
    """A websockets connection as a pycrdt ``Channel``; counts the bytes it sends."""

    def __init__(self, conn: Any, path: str, meter: LinkMeter) -> None:
        self._conn = conn
        self._path = path
        self._meter = meter

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        self._meter.count(message, "update")
        with contextlib.suppress(ConnectionClosed):
            await self._conn.send(message)

    async def recv(self) -> bytes:
        data = await self._conn.recv()
        return bytes(data) if not isinstance(data, str) else data.encode()


def metered_channel(conn: Any, path: str, meter: LinkMeter) -> Any:
    """``conn`` (a websockets connection) as a pycrdt channel whose sent bytes ``meter`` counts."""
    return _Channel(conn, path, meter)
