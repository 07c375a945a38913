"""How long the event loop was blocked, as opposed to how late a busy machine got round to running it.

A watchdog that times a short sleep measures both: the loop running something else for too long (a
blocking call: what a test means to catch) and the loop's thread waiting for a CPU (what 5 test runs on
2 cores cause; a discovery test saw 390 ms of it). Linux counts the second per thread: the ``run_delay``
of ``/proc/thread-self/schedstat`` is the time the thread was runnable but not running. A tick's lag
minus the run delay that accrued during it is therefore what the loop spent on something else, whether
computing or waiting in a blocking call (a ``time.sleep`` or a lock shows as lag with no run delay),
and a loaded machine no longer adds to it.

Where the kernel does not keep these counts (not Linux), the watch falls back to the plain lag and says
so in :attr:`LoopWatch.measure`, so a test still fails on a real block there, only less robustly.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from meshpos.digits import ascii_digits

SCHEDSTAT = "/proc/thread-self/schedstat"


def run_delay_s() -> float | None:
    """Seconds the calling thread has spent runnable but waiting for a CPU, or None where unknown."""
    try:
        with open(SCHEDSTAT, encoding="ascii") as f:
            fields = f.read().split()
    except OSError:
        return None
    if len(fields) < 2 or not ascii_digits(fields[1]):
        return None
    return int(fields[1]) / 1e9


class LoopWatch:
    """Times a ``tick_s`` sleep over and over on the running loop while it is entered.

    ``blocked`` holds, per tick, how much later than asked the loop woke up, less the time the loop's
    thread waited for a CPU in that tick. ``lag`` holds the plain lateness, for the report.
    """

    def __init__(self, tick_s: float = 0.005) -> None:
        self.tick_s = tick_s
        self.blocked: list[float] = []
        self.lag: list[float] = []
        self.measure = (
            "blocking (lag less CPU run-queue wait)" if run_delay_s() is not None else "plain lag"
        )
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            delay0, t0 = run_delay_s(), time.monotonic()
            await asyncio.sleep(self.tick_s)
            t1, delay1 = time.monotonic(), run_delay_s()
            lag = max(0.0, t1 - t0 - self.tick_s)
            waited = delay1 - delay0 if delay0 is not None and delay1 is not None else 0.0
            self.lag.append(lag)
            self.blocked.append(max(0.0, lag - waited))

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        await asyncio.sleep(0)  # the watch has started before the work does
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def max_blocked_s(self) -> float:
        return max(self.blocked, default=0.0)

    def summary(self, what: str) -> str:
        return (
            f"[{what}] loop over {len(self.blocked)} ticks: max blocked {self.max_blocked_s * 1000:.1f} ms, "
            f"max lag {max(self.lag, default=0.0) * 1000:.1f} ms ({self.measure})"
        )
