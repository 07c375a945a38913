"""Waiting for a condition with a deadline: the one helper the demo, the chaos run, the benchmarks and
the tests use.

Where something announces changes, the wait sleeps until it does and only then checks again: an
in-process node's change feed (``node.changes()``, published after each commit and presence change; see
:mod:`meshpos.engine.changes`) or a node process's ``/api/events`` stream (:class:`EventStream`). A
condition that no event announces (a counter, a log line, time passing, a process in a network namespace
reached through an agent) is checked again every ``every`` seconds instead, and only then; given with
``on``, ``every`` re-checks between events too (time passing while the events are watched). Either way
the wait ends at the deadline with :class:`TimedOut`, which names what was awaited.

A wait on events alone whose condition came true with no event announcing it would sleep to its deadline
and then pass: slow by the whole timeout, and a wait that cannot tell an event-driven pass from a lucky
one. It fails instead (:class:`Unannounced`, a :class:`TimedOut`), naming what was awaited, so the
caller waits on what announces it or says ``every``.
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


class Announcer(Protocol):
    """What :func:`wait_for` needs of a source: a call on each change (an :class:`EventStream`, or a
    test's stand-in that announces nothing)."""

    def listen(self, listener: Callable[[], None]) -> None: ...

    def unlisten(self, listener: Callable[[], None]) -> None: ...


class TimedOut(MeshposError):
    code = "timed_out"


class Unannounced(TimedOut):
    """The condition held only once the wait's deadline had passed, and no event it waited on announced
    it: it waited on the wrong events (or on none that fire)."""

    code = "unannounced"


def _fail(timeout: float, what: What) -> TimedOut:
    detail = what() if callable(what) else what
    return TimedOut(f"timed out after {timeout:g} s waiting for {detail}")


def _unannounced(timeout: float, what: What) -> Unannounced:
    detail = what() if callable(what) else what
    return Unannounced(
        f"{detail} held only after the {timeout:g} s deadline and no awaited event announced it: "
        "wait on what announces it, or re-check every few tenths of a second (every=)"
    )


async def until(
    check: Check,
    timeout: float,
    what: What,
    *,
    on: Iterable[Source] = (),
    ignore: tuple[type[BaseException], ...] = (),
    every: float | None = None,
) -> float:
    """Wait until ``check()`` (sync or async) is true; the seconds it took.

    ``on``: what announces the changes the condition depends on; the check runs again after each of
    them (and every ``every`` seconds if given). Without any, it runs every ``every`` seconds
    (:data:`POLL_S` by default). An exception of a type in ``ignore`` (a node that is down) counts as
    "not yet".
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
    period = _period(bool(sources), every)
    overdue = False  # the last sleep on events alone ran out at the deadline
    try:
        while True:
            woken.clear()  # before the check: a change during the check wakes the next wait
            if await _holds(check, ignore):
                if overdue:
                    raise _unannounced(timeout, what)
                return time.monotonic() - start
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise _fail(timeout, what)
            if sources:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(period, remaining)):
                        await woken.wait()
                overdue = period > remaining and not woken.is_set()
            else:
                await asyncio.sleep(min(period, remaining))
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
    on: Iterable[Announcer] = (),
    ignore: tuple[type[BaseException], ...] = (),
    every: float | None = None,
) -> float:
    """:func:`until` for blocking code (tests that drive node processes from threads)."""
    woken = threading.Event()
    sources = list(on)
    for source in sources:
        source.listen(woken.set)
    start = time.monotonic()
    period = _period(bool(sources), every)
    overdue = False  # the last sleep on events alone ran out at the deadline
    try:
        while True:
            woken.clear()
            try:
                held = bool(check())
            except ignore:
                held = False
            if held:
                if overdue:
                    raise _unannounced(timeout, what)
                return time.monotonic() - start
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise _fail(timeout, what)
            overdue = (
                not woken.wait(min(period, remaining)) and bool(sources) and period > remaining
            )
    finally:
        for source in sources:
            source.unlisten(woken.set)


def _period(events: bool, every: float | None) -> float:
    """How long one sleep of a wait lasts at most: ``every``; on events alone, until the deadline."""
    if every is not None:
        return every
    return float("inf") if events else POLL_S


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
