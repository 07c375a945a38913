"""A bench's worker dies with the bench that started it, even busy in a long command (bench/owner.py).

Part hop (fourteenth session) stopped a 50-device ``meshpos bench mesh`` and found its 49 workers
still running: a worker reads its next command only when the current one ends (a ``sell`` plan lasts
the whole run), so the bench's end went unnoticed, and a bench killed by ``kill -9`` (a CI timeout, an
OOM) runs no ``finally``. Real processes: an owner starts a worker as the bench does (``owner_env``;
the worker calls ``die_with_owner`` first, as ``mesh_worker.main`` does) that then sleeps for 10
minutes, not reading anything; the owner is killed by SIGKILL; the worker is awaited on a pidfd.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap

OWNER = textwrap.dedent(
    """
    import subprocess, sys, time
    from meshpos.bench.owner import owner_env
    worker = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1]], env=owner_env(), stdout=subprocess.PIPE
    )
    assert worker.stdout is not None
    assert worker.stdout.readline() == b"ready\\n"
    print(worker.pid, flush=True)
    time.sleep(600)
    """
)
WORKER = textwrap.dedent(
    """
    import time
    from meshpos.bench.owner import die_with_owner
    die_with_owner()
    print("ready", flush=True)
    time.sleep(600)  # a long command: the owner's end is not read from anywhere
    """
)


def test_a_worker_busy_in_a_long_command_dies_with_its_owner_killed_by_sigkill() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, WORKER], stdout=subprocess.PIPE)
    worker = -1
    try:
        assert owner.stdout is not None
        worker = int(owner.stdout.readline())
        pidfd = os.pidfd_open(worker)
        try:
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
            ready, _, _ = select.select([pidfd], [], [], 10)
            assert ready, f"worker {worker} still running 10 s after its owner was killed"
        finally:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_a_process_without_an_owner_is_left_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MESHPOS_BENCH_OWNER"}
    code = "from meshpos.bench.owner import die_with_owner; die_with_owner(); print('alive')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    assert out.stdout == b"alive\n"
