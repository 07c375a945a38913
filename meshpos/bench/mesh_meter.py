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
import cProfile
import gc
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from meshpos.errors import MeshposError
from meshpos.net.link_settings import MeshLink
from meshpos.sync._codec import BATCH, BYE, CHUNK, DIGEST, HEARTBEAT, HELLO, unbatch

#: a directory: each register process profiles its event-loop thread while it sells (``--profile``)
PROFILE_ENV = "MESHPOS_BENCH_PROFILE"
#: set: each register process times every callback and loop round while it sells (``--loop-figures``;
#: ~3 µs a round, a few % of the CPU figures, so not by default)
LOOP_ENV = "MESHPOS_BENCH_LOOP"

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
        self.count_by_kind: Counter[str] = (
            Counter()
        )  # messages (a batch's parts each as their kind)

    def count(self, message: bytes, kind: str | None = None) -> None:
        self.bytes += len(message)
        self.messages += 1
        if kind is None and message[0] == BATCH:
            inside = unbatch(message)
            for part in inside:
                self.by_kind[part_kind := message_kind(part)] += len(part)
                self.count_by_kind[part_kind] += 1
            self.by_kind["batch"] += len(message) - sum(map(len, inside))
            return
        self.by_kind[kind := kind or message_kind(message)] += len(message)
        self.count_by_kind[kind] += 1

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


class GcPauses:
    """Python's cyclic collections in this process while sales are offered: how many of each
    generation, their total and longest pause (``gc.callbacks``), i.e. whether a slow sale waited
    for the collector."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]
        self.tracked = [0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took, generation = time.perf_counter() - self._started, int(info["generation"])
        self.count[generation] += 1
        self.total_s[generation] += took
        self.max_s[generation] = max(self.max_s[generation], took)

    def __enter__(self) -> GcPauses:
        self.tracked = [len(gc.get_objects()), 0]  # what a full collection walks (not the frozen)
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)
        self.tracked[1] = len(gc.get_objects())

    def figures(self) -> dict[str, Any]:
        return {
            "gc_collections": self.count,
            "gc_pause_total_ms": [round(s * 1000, 2) for s in self.total_s],
            "gc_pause_max_ms": [round(s * 1000, 2) for s in self.max_s],
            "gc_tracked_before_after": self.tracked,
            "gc_frozen": gc.get_freeze_count(),
        }


class SlowCallbacks:
    """What held this process's event loop while sales are offered: each callback (``Handle._run``)
    that took more than ``threshold`` seconds of wall time (and the CPU it used: the rest is the machine
    giving the thread's CPU to another), each that used more than a fifth of it of CPU (``heavy``, by
    name), and the CPU of each loop round (``_run_once``: its callbacks back to back, what a tap made
    ready waits behind at most; the ``select`` wait is no CPU)."""

    def __init__(self, threshold: float = 0.010) -> None:
        self.threshold = threshold
        self.slow: list[float] = []
        self.slow_cpu: list[float] = []
        self.heavy: list[float] = []
        self.names: Counter[str] = Counter()
        self.rounds: list[float] = []  # CPU of each loop round that ran a callback or more
        self._originals: tuple[Any, Any] | None = None

    def __enter__(self) -> SlowCallbacks:
        run, run_once = asyncio.Handle._run, asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
        self._originals = run, run_once
        meter = self

        def timed(handle: asyncio.Handle) -> None:
            began, began_cpu = time.perf_counter(), time.thread_time()
            run(handle)
            took, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
            if took > meter.threshold:
                meter.slow.append(took)
                meter.slow_cpu.append(cpu)
            if cpu > meter.threshold / 5:
                meter.heavy.append(cpu)
                meter.names[_callback_name(handle)] += 1

        def timed_round(loop: asyncio.BaseEventLoop) -> None:
            began_cpu = time.thread_time()
            run_once(loop)
            meter.rounds.append(time.thread_time() - began_cpu)

        setattr(asyncio.Handle, "_run", timed)  # noqa: B010
        setattr(asyncio.BaseEventLoop, "_run_once", timed_round)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        if self._originals is not None:
            setattr(asyncio.Handle, "_run", self._originals[0])  # noqa: B010
            setattr(asyncio.BaseEventLoop, "_run_once", self._originals[1])  # noqa: B010

    def figures(self) -> dict[str, Any]:
        busy = [r for r in self.rounds if r > 0.0005]  # the rounds that did more than wake up
        return {
            "slow_callbacks": len(self.slow),
            "slow_callbacks_ms": round(sum(self.slow) * 1000, 1),
            "slow_callback_max_ms": round(max(self.slow, default=0.0) * 1000, 1),
            "slow_callbacks_cpu_ms": round(sum(self.slow_cpu) * 1000, 1),
            "slow_callback_max_cpu_ms": round(max(self.slow_cpu, default=0.0) * 1000, 1),
            "heavy_callbacks": len(self.heavy),
            "heavy_callbacks_cpu_ms": round(sum(self.heavy) * 1000, 1),
            "heavy_callback_names": dict(self.names.most_common(6)),
            "round_cpu_p50_ms": round(percentile(busy, 0.5) * 1000, 2) if busy else 0.0,
            "round_cpu_p99_ms": round(percentile(busy, 0.99) * 1000, 2) if busy else 0.0,
            "round_cpu_max_ms": round(max(busy, default=0.0) * 1000, 2),
            "rounds_over_threshold": sum(r > self.threshold for r in busy),
            "rounds_over_half_ms": len(busy),
        }


def _callback_name(handle: asyncio.Handle) -> str:
    """What a handle runs: a task's coroutine (its qualified name) or the callback's name."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {getattr(coro, '__qualname__', repr(coro))}"
    return str(getattr(callback, "__qualname__", repr(callback)))[:120]


class Profile:
    """cProfile of this process's event-loop thread (everything it runs: its sales, what it receives,
    commits and forwards) from a ``sell`` until the ``quiet`` after it, so that the registers that sell
    nothing in a phase are profiled too; ``$MESHPOS_BENCH_PROFILE/<pid>-<n>.prof``, nothing when unset."""

    def __init__(self, prefix: str = "") -> None:
        self._folder = os.environ.get(PROFILE_ENV)
        self._prefix = prefix  # (``catchup-``: a restarted register's catch-up)
        self._running: cProfile.Profile | None = None
        self._count = 0

    def start(self) -> None:
        if self._folder and self._running is None:
            self._running = cProfile.Profile(time.thread_time)  # CPU: not a busy machine's waits
            self._running.enable()

    def stop(self) -> None:
        if self._folder and self._running is not None:
            self._running.disable()
            self._count += 1
            name = f"{self._prefix}{os.getpid()}-{self._count}.prof"
            self._running.dump_stats(str(Path(self._folder) / name))
            self._running = None
