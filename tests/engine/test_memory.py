"""engine/memory.py: the allocator tuning the node and the console apply at start (unit level; what it
saves is measured by ``meshpos bench leak --live``, docs/benchmarks.md, leak)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

from meshpos.engine.memory import FIXED_THRESHOLD, release_memory, tune_allocator

_IN_A_FRESH_PROCESS = f"""
from meshpos.allocator import libc
from meshpos.engine.memory import tune_allocator
assert tune_allocator() is True, "glibc refused mallopt"
assert tune_allocator() is True  # once per process: the second call answers the same
assert libc().mallopt({-3}, {FIXED_THRESHOLD}) == 1  # M_MMAP_THRESHOLD is a value glibc accepts
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


def test_release_memory_lets_go_of_names_cpythons_method_cache_holds() -> None:
    """A name built at run time and looked up on a type (pycrdt does it on every insert) is kept by
    CPython's method cache until another lookup takes its slot: made during a day, such strings
    pin the day's memory after it is closed. ``release_memory`` empties the cache."""

    class Looked:
        spam = 1

    name = "".join(["sp", "am"])  # built at run time: not the interned literal
    before = sys.getrefcount(name)
    assert getattr(Looked(), name) == 1
    release_memory()
    assert sys.getrefcount(name) == before


def test_a_node_runs_with_pythons_objects_on_glibcs_malloc_unless_told_otherwise() -> None:
    from meshpos.allocator import object_allocator_env

    assert object_allocator_env({"HOME": "/x"}) == {"HOME": "/x", "PYTHONMALLOC": "malloc"}
    kept = {"PYTHONMALLOC": "pymalloc_debug"}  # an operator's choice, a debugging run
    assert object_allocator_env(kept) == kept


_RUN_AGAIN = """
import os, sys
from meshpos.allocator import ALLOCATING, command_word, run_with_object_allocator
run_with_object_allocator()
print(os.getpid(), os.environ.get("PYTHONMALLOC"), sys.argv[1:])
"""


def test_the_program_starts_again_with_the_allocator_same_process_same_arguments() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    child = subprocess.Popen(
        [sys.executable, "-c", _RUN_AGAIN, "node", "--x"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split(None, 1) == [str(child.pid), "malloc ['node', '--x']\n"]


def test_the_node_and_console_command_lines_are_the_ones_started_again() -> None:
    from meshpos.allocator import command_word

    assert command_word(["node", "--config", "r1.toml"]) == "node"
    assert command_word(["--log-level", "INFO", "--debug", "console", "--port", "1"]) == "console"
    assert command_word(["--log-level", "node"]) is None  # "node" is the level's value here
    assert command_word(["bench", "leak", "--live"]) == "bench"
    assert command_word(["--version"]) is None


def test_the_start_that_is_replaced_imports_nothing_of_the_node() -> None:
    """``meshpos node`` run by hand or by systemd starts itself again for its allocator: the first
    process imports nothing but that choice (it imported the command line, the configuration, the
    model and the sync core, 317 modules, for a process that then replaced itself)."""
    if not _glibc():
        pytest.skip("no malloc_trim: the node does not start itself again")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "meshpos", "node", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    starts = done.stderr.split("import time: self")[1:]  # each interpreter's table begins so
    assert len(starts) == 2, "the node did not start itself again for its allocator"
    first = {line.split("|")[-1].strip() for line in starts[0].splitlines()[1:] if "|" in line}
    ours = sorted(m for m in first if m.startswith("meshpos"))
    assert ours == ["meshpos", "meshpos.allocator", "meshpos.errors", "meshpos.start"], ours
    second = {line.split("|")[-1].strip() for line in starts[1].splitlines()[1:] if "|" in line}
    assert "meshpos.cli" in second  # (the started-again one reads its command line)


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
