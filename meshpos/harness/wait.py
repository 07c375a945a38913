"""Waiting for a condition with a deadline: the one helper the demo, the chaos run, the benchmarks and
the tests use.

Where something announces changes, the wait sleeps until it does and only then checks again: an
in-process node's change feed (``node.changes()``, published after each commit and presence change; see
:mod:`meshpos.engine.changes`) or a node process's ``/api/events`` stream (:class:`EventStream`). A
condition that no event announces (a counter, a log line, a process in a network namespace reached
through an agent) is checked again every ``every`` seconds instead, and only then. Either way the wait
ends at the deadline with :class:`TimedOut`, which names what was awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from meshpos.engine.changes import Subscription
from meshpos.errors import MeshposError
from meshpos.localapi import EventStream

Check = Callable[[], bool | Awaitable[bool]]
What = str | Callable[[], str]
POLL_S = 0.02  # re-check interval for a condition no event announces


class Publisher(Protocol):
    """An in-process node (or anything else) with a change feed."""

    def changes(self) -> Subscription: ...


Source = Publisher | EventStream


class TimedOut(MeshposError):
    code = "timed_out"


def _fail(timeout: float, what: What) -> TimedOut:
    detail = what() if callable(what) else what
    return TimedOut(f"timed out after {timeout:g} s waiting for {detail}")


async def until(
    check: Check,
    timeout: float,
    what: What,
    *,
    on: Iterable[Source] = (),
    ignore: tuple[type[BaseException], ...] = (),
    every: float = POLL_S,
) -> float:
    """Wait until ``check()`` (sync or async) is true; the seconds it took.

    ``on``: what announces the changes the condition depends on; the check runs again after each of
    them. Without any, it runs every ``every`` seconds. An exception of a type in ``ignore`` (a node
    that is down) counts as "not yet".
    """
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    sources = list(on)
    streams = [s for s in sources if isinstance(s, EventStream)]
    listener = _threadsafe_setter(loop, woken)
    subs = [s.changes() for s in sources if not isinstance(s, EventStream)]
    tasks = [asyncio.create_task(_forward(sub, woken)) for sub in subs]
    for stream in streams:
        stream.listen(listener)
    start = time.monotonic()
    try:
        while True:
            woken.clear()  # before the check: a change during the check wakes the next wait
            if await _holds(check, ignore):
                return time.monotonic() - start
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise _fail(timeout, what)
            if sources:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), remaining)
            else:
                await asyncio.sleep(min(every, remaining))
    finally:
        for stream in streams:
            stream.unlisten(listener)
        for sub, task in zip(subs, tasks, strict=True):
            sub.close()
            task.cancel()


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: What,
    *,
    on: Iterable[EventStream] = (),
    ignore: tuple[type[BaseException], ...] = (),
    every: float = POLL_S,
) -> float:
    """:func:`until` for blocking code (tests that drive node processes from threads)."""
    woken = threading.Event()
    sources = list(on)
    for source in sources:
        source.listen(woken.set)
    start = time.monotonic()
    try:
        while True:
            woken.clear()
            try:
                if check():
                    return time.monotonic() - start
            except ignore:
                pass
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise _fail(timeout, what)
            woken.wait(remaining if sources else min(every, remaining))
    finally:
        for source in sources:
            source.unlisten(woken.set)


def _threadsafe_setter(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(event.set)

    return wake


async def _forward(sub: Subscription, woken: asyncio.Event) -> None:
    with contextlib.suppress(StopAsyncIteration):
        while True:
            await sub.next()
            woken.set()


async def _holds(check: Check, ignore: tuple[type[BaseException], ...]) -> bool:
    try:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        return bool(result)
    except ignore:
        return False
