"""The bound on every test (tests/bound.py) holds where it matters, in a pytest run of its own on xdist
workers as ./run runs the suite: a test that hangs fails with the stacks of its threads and tasks within
its bound, a test that nothing interrupts costs its worker (replaced) and not the run, and the run ends
with every test counted and a failing exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOUND_S = 1.0  # the tiny bound of the run below

TESTS = """
import asyncio
import time

import pytest


async def parked(event: asyncio.Event) -> None:
    await event.wait()  # the line the failure must point at


async def test_hangs_on_a_task() -> None:
    await asyncio.create_task(parked(asyncio.Event()), name="the-parked-task")


@pytest.mark.xdist_group("g")
def test_before_in_the_group() -> None:
    pass


@pytest.mark.xdist_group("g")
def test_nothing_interrupts() -> None:
    while True:  # eats every failure raised into it: only the end of its process stops it
        try:
            time.sleep(60)
        except BaseException:
            pass


@pytest.mark.xdist_group("g")
def test_after_in_the_group() -> None:
    pass


@pytest.mark.parametrize("n", range(4))
def test_quick(n: int) -> None:
    pass
"""

CONFTEST = """
from tests.bound import pytest_handlecrashitem as pytest_handlecrashitem
from tests.bound import pytest_timeout_cancel_timer as pytest_timeout_cancel_timer
from tests.bound import pytest_timeout_set_timer as pytest_timeout_set_timer
"""


def test_a_hanging_test_fails_with_its_stacks_within_its_bound_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_hanging.py").write_text(TESTS)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(f"""
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        timeout = {BOUND_S}
        """)
    )
    # only the plugins the run needs: a worker loading every installed one takes tens of seconds
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plugins = [
        "-p",
        "xdist.plugin",
        "-p",
        "pytest_timeout",
        "-p",
        "asyncio",
        "-p",
        "no:cacheprovider",
    ]
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-n", "2", "--dist", "loadgroup", "-rf"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # (the test's own bound ends it sooner: this is for a run of this test alone)
    )
    took = time.monotonic() - started
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "2 failed, 6 passed" in out, out
    assert "test_hangs_on_a_task passed its bound of 1 s" in out, out
    assert "--- task the-parked-task" in out, out  # the task where it hangs, and its line
    assert 'test_hanging.py", line 9, in parked' in out, out
    assert "crashed while running 'test_hanging.py::test_nothing_interrupts'" in out, out
    assert "test_nothing_interrupts passed its bound of 1 s and 3 failures did not end it" in out, (
        out
    )
    print(f"\nthe run took {took:.1f} s (a bound of {BOUND_S:g} s; workers start and one restarts)")
