"""engine/memory.py: the allocator tuning the node and the console apply at start (unit level; what it
saves is measured by ``meshpos bench leak --live``, docs/benchmarks.md, leak)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from meshpos.engine.memory import FIXED_THRESHOLD, release_memory, tune_allocator

_IN_A_FRESH_PROCESS = f"""
from meshpos.engine.memory import _libc, tune_allocator
assert tune_allocator() is True, "glibc refused mallopt"
assert tune_allocator() is True  # once per process: the second call answers the same
assert _libc().mallopt({-3}, {FIXED_THRESHOLD}) == 1  # M_MMAP_THRESHOLD is a value glibc accepts
print("ok")
"""


def _glibc() -> bool:
    import platform

    return platform.libc_ver()[0] == "glibc"


def test_the_thresholds_are_fixed_once_per_process_on_glibc() -> None:
    if not _glibc():
        pytest.fail("these tests run on glibc (the machine the node ships on)")
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_FRESH_PROCESS], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_release_memory_trims_on_glibc_and_tuning_is_idempotent() -> None:
    assert release_memory() is _glibc()
    assert tune_allocator() is tune_allocator()


def test_release_memory_freezes_what_survived_and_frees_frozen_cycles_on_the_next_call() -> None:
    """What survives is frozen, so the collector's oldest generation stops walking the open day every
    few hundred sales; a cycle among frozen objects that dies meanwhile goes at the next call."""

    class Part:
        other: Part

    first, second = Part(), Part()
    first.other, second.other = second, first
    alive = weakref.ref(first)
    try:
        release_memory()
        assert gc.get_freeze_count() > 0
        del first, second
        gc.collect()  # an ordinary collection skips frozen objects
        assert alive() is not None
        release_memory()
        assert alive() is None
    finally:
        gc.unfreeze()  # the other tests of this process collect as usual
