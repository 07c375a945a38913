"""The loop watch counts what blocks the event loop and not what a loaded machine makes it wait.

Both directions are shown on this machine: a blocking sleep and a CPU-bound callback are counted in
full; a real-time process that takes the loop's CPU for 0.3 s makes the loop 0.3 s late and is not
counted (the loop's thread is pinned to that CPU for the test, then given back all of them).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from meshpos.harness.loop_watch import LoopWatch, run_delay_s

BLOCK_S = 0.2


async def test_a_blocking_call_is_counted_in_full() -> None:
    async with LoopWatch() as watch:
        await asyncio.sleep(0.02)
        time.sleep(BLOCK_S)  # noqa: ASYNC251 - the mistake the watch is for
        await asyncio.sleep(0.02)
    assert watch.max_blocked_s >= BLOCK_S * 0.95, watch.summary("sleep")


async def test_a_long_computation_on_the_loop_is_counted_in_full() -> None:
    async with LoopWatch() as watch:
        await asyncio.sleep(0.02)
        start = time.thread_time()
        while time.thread_time() - start < BLOCK_S:  # CPU time: a busy machine cannot shorten it
            pass
        await asyncio.sleep(0.02)
    assert watch.max_blocked_s >= BLOCK_S * 0.95, watch.summary("spin")


def _take_the_cpu(cpu: int) -> None:
    """In the child before exec: run on the loop's CPU above every ordinary thread."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


async def test_waiting_for_a_cpu_is_not_counted() -> None:
    assert run_delay_s() is not None, (
        "this kernel keeps no per-thread run delay (/proc/thread-self/schedstat)"
    )
    everything = os.sched_getaffinity(0)
    cpu = min(everything)
    # The child starts (fork, exec, Python's start-up) before the watch and waits for a line; forking
    # this big process is the loop's own work and would be counted, rightly, as blocking.
    spin = (
        "import sys, time\nsys.stdin.readline()\n"
        f"t = time.monotonic()\nwhile time.monotonic() - t < {1.5 * BLOCK_S}: pass"
    )
    os.sched_setaffinity(0, {cpu})  # this thread only: the loop's
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            spin,
            stdin=asyncio.subprocess.PIPE,
            preexec_fn=lambda: _take_the_cpu(cpu),
        )
        assert child.stdin is not None
        async with LoopWatch() as watch:
            await asyncio.sleep(0.02)
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            await child.wait()
            await asyncio.sleep(0.02)
    finally:
        os.sched_setaffinity(0, everything)
    assert child.returncode == 0
    assert max(watch.lag) >= BLOCK_S, watch.summary("run queue")  # the loop was made to wait...
    assert watch.max_blocked_s < BLOCK_S / 4, watch.summary(
        "run queue"
    )  # ...and that is not blocking
