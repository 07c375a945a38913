"""A node's own stall is not its peers' death, between real processes (issue 18, part ``stall``).

Four ``meshpos node`` processes on loopback addresses of their own, real mDNS, mTLS websockets. One
is stopped (SIGSTOP: its loop does not run, as in a GC pause or a suspended laptop) for three
times the presence timeout, then continued. On main its first tick found every peer silent and
its links idle: it marked its live peers gone and closed its links as timed out
(``sync/_stalls.py``). Now it counts only its own running time: it marks nobody gone and times no
link out; its peers found it silent (true) and take that back once it speaks again.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.sync import SyncConfig
from meshpos.sync._presence import UNREACHABLE

from .kit import NodeProcess, make_device, make_venue

NAMES = ["R1", "R2", "R3", "R4"]
HEARTBEAT_S = 0.5
TIMEOUT_S = HEARTBEAT_S * SyncConfig().missed_heartbeats


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    procs = []
    for i, name in enumerate(NAMES, start=11):
        config = make_device(
            authority, tmp_path, name, host=f"{prefix}.{i}", heartbeat_interval=HEARTBEAT_S
        )
        procs.append(NodeProcess(config, tmp_path / f"{name}.log"))
    yield procs
    for proc in procs:
        pid = proc.proc.pid if proc.proc is not None else None
        if pid is not None and proc.proc is not None and proc.proc.returncode is None:
            os.kill(pid, signal.SIGCONT)  # (a stopped process ignores the kill's SIGTERM first)
        proc.kill()


def _linked(nodes: list[NodeProcess]) -> bool:
    return all(len(p.status()["peers"]) == len(nodes) - 1 for p in nodes)


def test_a_node_stopped_three_timeouts_marks_no_live_peer_gone(mesh: list[NodeProcess]) -> None:
    for proc in mesh:
        proc.start()
    wait_for(
        lambda: _linked(mesh), 60, "every node linked to the others", on=[p.events for p in mesh]
    )
    stalled, others = mesh[0], mesh[1:]
    name = stalled.config.stem
    before = stalled.status()["counters"]
    assert stalled.proc is not None
    on = [p.events for p in others]
    os.kill(stalled.proc.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        # its peers find it silent (true) and close their links to it
        wait_for(
            lambda: all(name not in p.status()["peers"] for p in others), 30, "peers drop it", on=on
        )
        time.sleep(max(0.0, stopped + 3 * TIMEOUT_S - time.monotonic()))  # (the stall itself)
    finally:
        os.kill(stalled.proc.pid, signal.SIGCONT)
    # every node's view is read, the stalled one's too: its events announce its links (CI: waiting on
    # the others' alone, the last link it made was announced by nothing the wait listened to)
    took = wait_for(lambda: _linked(mesh), 60, "linked again", on=[p.events for p in mesh])
    wait_for(
        lambda: all(p.status()["problems"].get(name) != UNREACHABLE for p in others),
        30,
        "no node holds it unreachable",
        on=on,
    )
    after = stalled.status()["counters"]
    print(f"\nstopped {3 * TIMEOUT_S:.2f} s; linked again {took:.2f} s after SIGCONT")
    assert after.get("peers_gone", 0) == before.get("peers_gone", 0), "it marked live peers gone"
    assert after.get("link_timeouts", 0) == before.get("link_timeouts", 0), "it timed links out"
    assert "did not run for" in stalled.log.read_text(), "its stall was not found"
    for proc in others:
        problems = proc.status()["problems"]
        assert all(v != UNREACHABLE for v in problems.values()), (proc.config.stem, problems)
