"""A bound on every test, so that a hang costs one test and not the run: CI has 30 minutes, and on
2026-12-07 one hung test (an asyncio task that ate its cancellation) held an xdist worker until the job
was killed, with no word of where.

pytest-timeout reads the bound (``timeout`` in pyproject.toml, ``@pytest.mark.timeout(s)`` on a test,
``--timeout``) and times setup, call and teardown together; this module is how the bound is enforced
(its ``pytest_timeout_set_timer`` hook), because neither of its own ways suits this suite:

- ``thread`` ends the process (``os._exit``): under pytest-xdist the controller says only "worker
  crashed" (the stacks went to the worker's captured stderr), and a replacement worker takes 30 s and
  more to start on a loaded machine;
- ``signal`` shows the threads only; a hung asyncio test's main thread is in the loop's ``select``,
  and what hangs is one of the loop's tasks.

So, past the bound, SIGALRM fails the test where its main thread is (a hung asyncio test is in the
loop's ``select``: the failure leaves the loop), with every thread's stack and every task of the running
event loop and where it waits in the failure's text, which the xdist controller prints. If the test is
still not done (its teardown hangs too, or something swallowed the failure) the failure is raised again
every ``grace`` seconds, ``REPEATS`` times; after that the stacks go to the real stderr and the process
ends: xdist replaces the worker, reports the test crashed, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Any

import pytest

GRACE_S = 15.0  # at most, between two failures of a test that is still not done
REPEATS = 3  # failures raised before the process is ended


class Bound:
    """One test's bound: armed at its setup, cancelled when its teardown is done."""

    def __init__(self, item: pytest.Item, seconds: float) -> None:
        self.item = item
        self.seconds = seconds
        self.grace = min(GRACE_S, seconds / 2)
        self.raised = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # the test's, once an alarm saw it
        self.previous: Any = None
        self.in_main = threading.current_thread() is threading.main_thread()
        if self.in_main:  # (signals reach the main thread only: elsewhere the last resort alone)
            self.previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds, self.grace)  # then again every grace
        self.last_resort = threading.Timer(seconds + self.grace * (REPEATS + 0.5), self._end)
        self.last_resort.name = f"bound of {item.nodeid}"
        self.last_resort.daemon = True
        self.last_resort.start()

    def cancel(self) -> None:
        self.last_resort.cancel()
        if self.in_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # (None: a handler not set from Python, which Python cannot set back)
            restored = signal.SIG_DFL if self.previous is None else self.previous
            signal.signal(signal.SIGALRM, restored)

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        self.raised += 1
        if self.raised > REPEATS:
            signal.setitimer(signal.ITIMER_REAL, 0)  # the last resort's turn
            return
        with contextlib.suppress(RuntimeError):  # (none: a thread join, a blocking call)
            self.loop = asyncio.get_running_loop()
        again = (
            ""
            if self.raised == 1
            else f" (still not done {self.raised - 1} x {self.grace:g} s later)"
        )
        pytest.fail(
            f"{self.item.nodeid} passed its bound of {self.seconds:g} s{again}: "
            f"the stacks where it was\n{stacks(self.loop)}",
            pytrace=False,
        )

    def _end(self) -> None:
        """Nothing interrupts it: say where it is on the real stderr, and end the process."""
        try:
            capture = self.item.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:
                capture.suspend_global_capture(in_=True)
            sys.stderr.write(
                f"\n+++ {self.item.nodeid} passed its bound of {self.seconds:g} s and "
                f"{REPEATS} failures did not end it: ending the process (pid {os.getpid()})\n"
                f"{stacks(self.loop)}+++\n"
            )
            sys.stderr.flush()
        finally:
            os._exit(1)


def stacks(loop: asyncio.AbstractEventLoop | None) -> str:
    """Every thread's stack, and every task of ``loop`` with the stack it waits on."""
    out = io.StringIO()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, '?')} ({ident}):\n")
        out.write("".join(traceback.format_stack(frame)))
    if loop is None:
        out.write("--- no event loop was running in the main thread\n")
        return out.getvalue()
    for task in sorted(asyncio.all_tasks(loop), key=lambda task: task.get_name()):
        out.write(f"--- task {task.get_name()} ({task.get_coro()!r}):\n")
        task.print_stack(file=out)
    return out.getvalue()


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # (optional: a run without pytest-timeout)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool:
    item.stash[BOUND] = Bound(item, float(settings.timeout))
    return True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    bound = item.stash.get(BOUND, None)
    if bound is not None:
        bound.cancel()
        del item.stash[BOUND]
    return True


BOUND = pytest.StashKey[Bound]()


@pytest.hookimpl(optionalhook=True)  # (pytest-xdist's controller)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """A test whose worker ended is reported failed once, and the run goes on. pytest-xdist's group
    scheduling (``--dist loadgroup``, as ./run runs) puts ALL the ended worker's work back in its
    queue, the tests it had done and the one it was running: a replacement worker ran the hung test
    again for another bound, and, handed only finished work, waited for more without end (the run hung:
    seen with xdist 3.8 on 2026-12-07; "load" scheduling drops the test itself)."""
    queued = getattr(sched, "workqueue", None)  # group or scope -> {test: done} (load: none)
    if not isinstance(queued, dict):
        return
    for scope, unit in list(queued.items()):
        if unit.get(crashitem) is False:
            unit[crashitem] = True
        if all(unit.values()):
            del queued[scope]
