"""What one register process does per received receipt, counted (``meshpos.bench.receive_node``).

Issue 18: the synchronizer alone is ~0.5 ms of a received receipt's ~2-3 ms per device; the rest is
the store's threads, TLS, the event loop and the status, and the CPU figures of a shared 2-CPU machine
do not say which. Counts do, and they carry over between machines: loop iterations and the wake-ups
among them, jobs handed to the store's connection threads and to the loop's executor, answers handed
back to the loop from other threads, SQL statements, SSL reads and writes, socket sends and receives,
status computations, engine commits and flushes, log records; and each thread's CPU time
(``/proc/self/task``), so that the store's threads are told apart from the loop's.

Installed only in a bench worker that asks for it (each count wraps a call: the CPU figures of a
counted run include the counting; ``receive_node`` measures CPU in a run without it).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import aiosqlite

from meshpos.engine.engine import Engine
from meshpos.engine.fanout import Fanout
from meshpos.register import status as status_module
from meshpos.register.status import StatusService
from meshpos.sync import Synchronizer


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads, by kind: ``loop`` (this one), ``sqlite`` (an
    aiosqlite connection's), ``executor`` (``asyncio.to_thread``'s pool), ``other``; ``ended``: the
    rest of the process's (threads gone, or not Python's). Read from each thread's CPU clock (ns):
    ``/proc``'s clock ticks (10 ms) read an idle node's loop over a short window as nothing."""
    found: defaultdict[str, float] = defaultdict(float)
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        name = getattr(target, "__name__", "")
        if thread is threading.main_thread():
            kind = "loop"
        elif name == "_connection_worker_thread":
            kind = "sqlite"
        elif thread.name.startswith("asyncio_"):
            kind = "executor"
        else:
            kind = "other"
        if thread.ident is None:
            continue
        try:
            found[kind] += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ProcessLookupError):  # (the thread ended meanwhile: "ended" has it)
            continue
    found["ended"] = max(0.0, time.process_time() - sum(found.values()))
    return dict(found)


class _Queue:
    """An aiosqlite connection's job queue that counts what is put on it (its thread reads the real
    one, which it was given at start)."""

    def __init__(self, real: Any, count: Callable[[], None]) -> None:
        self._real, self._count = real, count

    def put_nowait(self, item: Any) -> None:
        self._count()
        self._real.put_nowait(item)

    def put(self, item: Any, *args: Any) -> None:
        self._count()
        self._real.put(item, *args)


class _Records(logging.Handler):
    def __init__(self, counts: Counter[str]) -> None:
        super().__init__(logging.NOTSET)
        self._counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        self._counts["log_records"] += 1


def _callback_name(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {getattr(coro, '__qualname__', type(coro).__name__)}"
    return str(getattr(callback, "__qualname__", type(callback).__name__))


class Counts:
    """The counts of one process, from :meth:`install` on (``snapshot``: all of them so far)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.cpu: defaultdict[str, float] = defaultdict(
            float
        )  # the loop thread's CPU seconds per callback kind
        self.installed = False

    def install(self, store: object = None) -> None:
        """Wrap the calls counted (once; the running loop's, the classes', ``store``'s connections:
        a node froze its start's objects, which ``gc.get_objects`` no longer lists)."""
        if self.installed:
            return
        self.installed = True
        c = self.counts
        loop: Any = asyncio.get_running_loop()
        run_once, select = loop._run_once, loop._selector.select

        def counted_run_once() -> None:
            c["loop_iterations"] += 1
            run_once()

        def counted_select(timeout: float | None = None) -> Any:
            events = select(timeout)
            if events:
                c["loop_wakeups_io"] += 1  # (a timer's wake-up is an iteration without events)
            return events

        loop._run_once, loop._selector.select = counted_run_once, counted_select
        threadsafe, executor = loop.call_soon_threadsafe, loop.run_in_executor

        def counted_threadsafe(*args: Any, **kwargs: Any) -> Any:
            c["to_loop_from_threads"] += 1
            return threadsafe(*args, **kwargs)

        def counted_executor(*args: Any, **kwargs: Any) -> Any:
            c["executor_jobs"] += 1
            return executor(*args, **kwargs)

        loop.call_soon_threadsafe, loop.run_in_executor = counted_threadsafe, counted_executor
        held = list(vars(store).values()) if store is not None else []
        for obj in [*gc.get_objects(), *held]:
            if isinstance(obj, aiosqlite.Connection) and obj._connection is not None:
                self._count_connection(obj)
        counted: tuple[tuple[Any, tuple[str, ...]], ...] = (
            (ssl.SSLObject, ("read", "write")),
            (socket.socket, ("send", "recv", "recv_into")),
        )
        for cls, names in counted:
            for name in names:
                self._wrap(cls, name, f"{cls.__name__.lower()}_{name}")

        for name in ("pump", "_commit", "_flush", "_publish"):
            self._wrap(Engine, name, f"engine{name if name.startswith('_') else '_' + name}")
        compute = getattr(status_module, "compute_status")  # noqa: B009 (imported there)

        def counted_compute(*args: Any, **kwargs: Any) -> Any:
            c["status_computed"] += 1
            return compute(*args, **kwargs)

        setattr(status_module, "compute_status", counted_compute)  # noqa: B010
        logging.getLogger().addHandler(_Records(c))
        self._time_callbacks()

        timed: tuple[tuple[Any, tuple[str, ...]], ...] = (
            (StatusService, ("publish_owed",)),  # (the ticker's hooks: ``time_ticker_hooks``)
            (Synchronizer, ("tick", "receive_data", "events_received", "outgoing", "data_to_send")),
            (Engine, ("_flush", "_publish")),
            (Fanout, ("emit",)),
        )
        for cls, names in timed:
            for name in names:
                self._time(cls, name, f"{cls.__name__}.{name}")

    def _time_callbacks(self) -> None:
        """The loop thread's CPU per callback it runs, by what runs (a task by its coroutine)."""
        run, cpu, clock = asyncio.events.Handle._run, self.cpu, time.thread_time

        def timed(handle: asyncio.Handle) -> None:
            began = clock()
            run(handle)
            cpu[_callback_name(handle)] += clock() - began

        setattr(asyncio.events.Handle, "_run", timed)  # noqa: B010

    def _count_connection(self, db: aiosqlite.Connection) -> None:
        c = self.counts

        def hop() -> None:
            c["store_thread_jobs"] += 1

        db._tx = _Queue(db._tx, hop)  # type: ignore[assignment]

        def trace(_statement: str) -> None:
            c["sql_statements"] += 1

        conn = db._connection
        assert conn is not None
        db._tx.put_nowait((None, lambda: conn.set_trace_callback(trace)))
        c["store_thread_jobs"] -= 1  # (this one is ours)

    def time_ticker_hooks(self, ticker: asyncio.Task[None] | None) -> None:
        """Time the hooks a running ticker calls (``Engine.start_ticking``'s ``before`` and ``after``:
        bound methods it took at start, which a wrapped class no longer reaches): replaced in place
        in the lists its coroutine holds."""
        frame = getattr(ticker.get_coro(), "cr_frame", None) if ticker is not None else None
        if frame is None:
            return
        cpu, clock = self.cpu, time.thread_time
        for which in ("before", "after"):
            hooks = frame.f_locals.get(which)
            for k, hook in enumerate(hooks or []):
                key = f"hook {which} {getattr(hook, '__qualname__', repr(hook))}"

                def timed(hook: Callable[[], None] = hook, key: str = key) -> None:
                    began = clock()
                    try:
                        hook()
                    finally:
                        cpu[key] += clock() - began

                hooks[k] = timed

    def _time(self, cls: Any, name: str, key: str) -> None:
        """The CPU of the calls of ``cls.name`` (a plain function), as ``fn key``."""
        original, cpu, clock = getattr(cls, name), self.cpu, time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = clock()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[f"fn {key}"] += clock() - began

        setattr(cls, name, timed)

    def _wrap(self, cls: Any, name: str, key: str) -> None:
        original = getattr(cls, name)
        c = self.counts

        def counted(*args: Any, **kwargs: Any) -> Any:
            c[key] += 1
            return original(*args, **kwargs)

        setattr(cls, name, counted)

    def snapshot(self, node_counters: Mapping[str, int]) -> dict[str, Any]:
        """The counts so far, with the node's own counters (``node_``: commits, ticker rounds, ...)
        and each thread kind's CPU seconds."""
        counts = {f"node_{k}": v for k, v in node_counters.items() if isinstance(v, int)}
        return {
            "counts": {**counts, **self.counts},
            "threads_cpu_s": thread_cpu(),
            "callbacks_cpu_s": dict(self.cpu),
        }
