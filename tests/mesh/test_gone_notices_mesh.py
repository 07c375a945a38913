"""Signed gone notices between real processes (issue 18, notice): the relay's process dies (kill -9) or
stops (SIGTERM), and the nodes beyond its links elect again by its neighbours' signed notices.

Seven ``meshpos node`` processes and a console on loopback addresses, real mDNS, mTLS websockets, every
node its own device key of the venue CA (what signs and checks the notices): the links are bounded
(``_topology.DEGREE``), so some nodes are not linked to the relay and learn of its end only through
others (docs/architecture.md (Relay and console)). Without a notice a far node drops the relay only once
its record is no longer refreshed: twice a direct heartbeat's timeout after its last record. Each far
node must follow another relay well before that; the times are printed (``-s``). The in-memory bed's
tests of the same (tests/sync/test_sync_signed_notices.py) cannot show that real processes sign, pass on
and check the notices over real links: this does.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.sync._config import SyncConfig
from meshpos.trust import VenueAuthority

from .kit import ConsoleProcess, NodeProcess, make_device, make_venue
from .test_topology_mesh import _settled

NAMES = [f"R{i}" for i in range(1, 8)]  # seven: at DEGREE 4 each node has far nodes
HEARTBEAT_S = 0.5
#: when a far node elects again without a notice: the relay's record unrefreshed for twice a direct
#: heartbeat's timeout (``Synchronizer.presence``: a far candidate counts only while fresh)
SILENCE_S = 2 * HEARTBEAT_S * SyncConfig().missed_heartbeats


@contextmanager
def seven_nodes(
    tmp_path: Path,
) -> Iterator[tuple[VenueAuthority, ConsoleProcess, list[NodeProcess]]]:
    """Seven nodes (not started) on loopback addresses of their own, told of a running console;
    killed, and the console stopped, on the way out (also tests/mesh/test_far_pending_console.py)."""
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    procs = []
    try:
        for i, name in enumerate(NAMES, start=11):
            config = make_device(
                authority,
                tmp_path,
                name,
                host=f"{prefix}.{i}",
                heartbeat_interval=HEARTBEAT_S,
                console_url=f"ws://127.0.0.1:{console.port}",
                console_token=authority.console_token,
            )
            procs.append(NodeProcess(config, tmp_path / f"{name}.log"))
        yield authority, console, procs
    finally:
        for proc in procs:
            proc.kill()
        console.stop()


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    with seven_nodes(tmp_path) as (_, _, procs):
        yield procs


def started_with_a_relay(nodes: list[NodeProcess]) -> NodeProcess:
    """Start ``nodes``; once each is on its bounded links and all follow one relay, that relay."""
    for proc in nodes:
        proc.start()
    on = [p.events for p in nodes]
    wait_for(lambda: _settled(nodes), 90, "every node on 2..4 links", on=on)
    wait_for(lambda: _agreed_relay(nodes) is not None, 60, "a relay all follow", on=on)
    relay = _agreed_relay(nodes)
    assert relay is not None
    return next(p for p in nodes if p.config.stem == relay)


def _agreed_relay(nodes: list[NodeProcess]) -> str | None:
    """The relay every node follows, if they agree and it says it is the relay."""
    statuses = {node.config.stem: node.status() for node in nodes}
    relays = {s["relay"] for s in statuses.values()}
    if len(relays) != 1:
        return None
    relay = relays.pop()
    return relay if relay in statuses and statuses[relay]["is_relay"] else None


@pytest.mark.parametrize("how", ["kill -9", "stop"])
def test_far_nodes_leave_a_relay_that_died_by_its_neighbours_signed_notices(
    venue: list[NodeProcess], how: str
) -> None:
    dead = started_with_a_relay(venue)
    relay = dead.config.stem
    far = [p for p in venue if p is not dead and relay not in p.status()["peers"]]
    assert far, "every node is linked to the relay: no far node to test"
    rest = [p for p in venue if p is not dead]
    on = [p.events for p in rest]
    moved: dict[str, float] = {}

    def far_moved() -> bool:
        now = time.monotonic() - start
        for node in far:
            name = node.config.stem
            if name not in moved and node.status()["relay"] != relay:
                moved[name] = round(now, 3)
        return len(moved) == len(far)

    pool = ThreadPoolExecutor(1)
    start = time.monotonic()
    if how == "kill -9":
        dead.kill()
        stopped = None
    else:  # SIGTERM (once: a second one ends it at once), its exit awaited while the clock runs
        stopped = pool.submit(dead.stop, 20.0)
    wait_for(far_moved, 30, lambda: f"far nodes off relay {relay} (moved: {moved})", on=on)
    new: list[str | None] = []

    def agreed() -> bool:
        new.append(_agreed_relay(rest))
        return new[-1] not in (None, relay)

    wait_for(agreed, 30, "a relay all follow again", on=on)
    agreed_at = time.monotonic()
    if stopped is not None:
        assert stopped.result() == 0  # (a clean exit, not a kill after the timeout)
    pool.shutdown()
    print(
        json.dumps(
            {
                "how": how,
                "relay": relay,
                "far_moved_s": moved,
                "new_relay": new[-1],
                "all_follow_it_s": round(agreed_at - start, 3),
                "silence_s": SILENCE_S,
            }
        )
    )
    slowest = max(moved.values())
    assert slowest < SILENCE_S, f"far nodes moved in {moved} s: by silence, not a signed notice"
