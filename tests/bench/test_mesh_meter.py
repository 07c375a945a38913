"""What ``meshpos bench mesh`` counts of a register's event loop while it sells (bench/mesh_meter.py):
the cyclic collections by generation and the callbacks that held the loop, by wall time and by CPU."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from meshpos.bench.mesh_meter import GcPauses, SlowCallbacks
from meshpos.bench.mesh_worker import _Register


def test_every_collection_is_counted_by_its_generation() -> None:
    with GcPauses() as pauses:
        gc.collect(2)
        gc.collect(1)
    assert pauses.count[2] >= 1
    assert pauses.count[1] >= 1
    figures = pauses.figures()
    assert figures["gc_collections"] == pauses.count
    assert len(figures["gc_pause_max_ms"]) == 3
    assert figures["gc_frozen"] == gc.get_freeze_count()
    assert not any(getattr(c, "__self__", None) is pauses for c in gc.callbacks)  # removed


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_a_waiting_callback_is_slow_and_a_computing_one_is_heavy_too() -> None:
    loop, original = asyncio.get_running_loop(), asyncio.Handle._run
    with SlowCallbacks(threshold=0.02) as slow:
        done = asyncio.Event()
        loop.call_soon(time.sleep, 0.05)  # waits: long, but no CPU
        loop.call_soon(_spin, 0.03)  # computes: long and heavy
        loop.call_soon(done.set)
        await done.wait()
    # both are slow by the wall clock; on a loaded machine another callback may be too (CI saw 3)
    assert len(slow.slow) >= 2
    assert max(slow.slow) >= 0.05
    assert slow.names == {"_spin": 1}  # only the CPU-bound one is heavy
    figures = slow.figures()
    assert figures["heavy_callbacks"] == 1
    assert figures["rounds_over_threshold"] == 1  # the round that ran _spin, by its CPU
    assert figures["round_cpu_max_ms"] >= 30
    assert asyncio.Handle._run is original  # given back on exit


async def test_a_register_runs_the_probe_alone_while_idle_when_asked() -> None:
    # ``measure_idle`` nets the probe out of the per-receipt figures: the worker must really run it
    register = _Register()
    await register.command("stats", {"probe": True})
    probe = register._probe
    assert probe is not None
    assert probe._task is not None
    task = probe._task
    assert not task.done()  # its 10 ms timer runs
    await register.command("stats", {"probe": False})
    assert register._probe is None
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
