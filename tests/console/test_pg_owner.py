"""A throwaway PostgreSQL server dies with its owner (issue 18, keep; ``meshpos.bench.pg_watch``).

``pg_ctl`` daemonizes the server, so a pytest killed with SIGKILL left its servers running (six were
found). A real owner process starts a real server; the test kills the owner with SIGKILL and waits on
pidfds (events, no polling) for the server's postmaster and the watchdog to exit, then finds the
server's directory gone. Fails before the fix: the postmaster outlives its owner (the wait times out).
A server stopped by its owner takes its watchdog with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from meshpos.bench.pg import PostgresUnavailable, find_pg_bin

OWNER = textwrap.dedent(
    """
    import json, sys
    from meshpos.bench.pg import PostgresUnavailable, throwaway_postgres

    try:
        with throwaway_postgres() as pg:
            assert pg.data_dir is not None
            postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
            print(json.dumps({"data": str(pg.data_dir), "postmaster": postmaster,
                              "watchdog": pg.watchdog}), flush=True)
            sys.stdin.read()  # until the test closes it (or kills us)
    except PostgresUnavailable as exc:
        print(json.dumps({"unavailable": str(exc)}), flush=True)
    """
)


def exited(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` exits within ``timeout`` seconds (waits on a pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)


def start_owner() -> tuple[subprocess.Popen[str], dict[str, object]]:
    try:
        find_pg_bin()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line, f"the owner ended early ({owner.wait()})"
    told: dict[str, object] = json.loads(line)
    if "unavailable" in told:
        owner.wait()
        pytest.skip(f"no PostgreSQL: {told['unavailable']}")
    return owner, told


def test_a_server_whose_owner_is_killed_is_stopped_and_deleted() -> None:
    owner, told = start_owner()
    postmaster, watchdog = int(str(told["postmaster"])), int(str(told["watchdog"]))
    data = Path(str(told["data"]))
    try:
        assert data.is_dir()
        assert not exited(postmaster, 0)  # running
        os.kill(owner.pid, signal.SIGKILL)
        assert owner.wait() == -signal.SIGKILL
        assert exited(postmaster, 60), "the server outlived its killed owner"
        assert exited(watchdog, 60), "the watchdog did not finish"
        assert not data.parent.exists(), "the server's directory was left behind"
    finally:
        if not exited(postmaster, 0):  # (the failure above: stop what we started)
            os.kill(postmaster, signal.SIGQUIT)


def test_a_server_stopped_by_its_owner_takes_its_watchdog_along() -> None:
    owner, told = start_owner()
    watchdog = int(str(told["watchdog"]))
    postmaster = int(str(told["postmaster"]))
    assert owner.stdin is not None
    owner.stdin.close()  # the owner leaves its ``with``: it stops the server itself
    assert owner.wait(60) == 0
    assert exited(postmaster, 0)
    assert exited(watchdog, 0)
    assert not Path(str(told["data"])).parent.exists()
