"""The namespace test bed itself, and real mDNS discovery between processes on separate (virtual) hosts."""

from __future__ import annotations

import json
import os
import secrets
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for

from ..netbed import NetBed, alive, netbed_fixture  # noqa: F401  (provides the netbed fixture)

REPO = Path(__file__).resolve().parents[2]


def test_hosts_ping_and_a_cable_pull_cuts_one_off(netbed: NetBed) -> None:
    a, b, c = (netbed.add_host(name) for name in ("a", "b", "c"))
    assert len({a.ip, b.ip, c.ip}) == 3
    for src, dst in [(a, b), (a, c), (b, c), (c, a)]:
        assert netbed.ping(src, dst), f"{src.name} -> {dst.name}"
    netbed.cable(c, up=False)
    assert not netbed.ping(a, c, timeout=0.3)
    assert not netbed.ping(c, b, timeout=0.3)
    assert netbed.ping(a, b)
    netbed.cable(c, up=True)
    deadline = time.monotonic() + 5
    while not netbed.ping(a, c, timeout=0.3):
        assert time.monotonic() < deadline, "plugging the cable back did not restore a -> c"


def test_limit_loss_and_a_second_lan(netbed: NetBed) -> None:
    a, b = netbed.add_host("a"), netbed.add_host("b")
    netbed.limit(a, "1mbit")
    qdisc = netbed.run(a, ["tc", "qdisc", "show", "dev", "eth0"]).stdout
    assert "tbf" in qdisc, qdisc
    assert "rate 1Mbit" in qdisc, qdisc
    assert netbed.ping(a, b)
    netbed.unlimit(a)
    assert "tbf" not in netbed.run(a, ["tc", "qdisc", "show", "dev", "eth0"]).stdout

    netbed.loss(b, 1.0)
    assert not netbed.ping(a, b, timeout=0.3)
    netbed.loss(b, 0.0)
    assert netbed.ping(a, b)

    wan = netbed.add_lan("wan")
    console = netbed.add_host("console", wan)
    uplink = netbed.attach(a, wan)
    assert uplink.ifname == "eth1"
    assert netbed.ping(a, console)  # a is on both LANs
    assert not netbed.ping(b, console, timeout=0.3)  # nothing routes between LANs
    netbed.cable(a, up=False, lan=wan)  # an internet outage for a
    assert not netbed.ping(a, console, timeout=0.3)
    assert netbed.ping(a, b)


def test_close_kills_every_process_and_deletes_every_namespace() -> None:
    ok, why = NetBed.available()
    if not ok:
        pytest.skip(f"network test bed unavailable: {why}")
    bed = NetBed()
    a, b = bed.add_host("a"), bed.add_host("b")
    spawned = [
        bed.spawn(a, ["sleep", "60"]),
        # A shell whose own children the bed never saw: they die too.
        bed.spawn(b, ["sh", "-c", "sleep 61 & sleep 62 & wait"]),
    ]
    # processes starting in namespaces announce nothing: re-checked (the harness's wait, every=)
    wait_for(
        lambda: len(bed.pids()) >= 4, 5, lambda: f"4 processes in the bed: {bed.pids()}", every=0.01
    )
    pids = bed.pids()
    assert spawned[0].pid in pids  # ip netns exec execs: the child's pid is the program's
    bed.close()
    bed.close()  # idempotent
    assert not [ns for ns in NetBed.namespaces() if ns.startswith(bed.token)]
    assert all(p.returncode == -9 for p in spawned)
    assert not [pid for pid in pids if alive(pid)]  # dead, or a zombie until init reaps it


# --- discovery between namespaces ---------------------------------------------------------------

CHILD = """
import asyncio, json, sys, time
from meshpos.net.discovery import Discovery

def emit(**fields):
    print(json.dumps({**fields, "t": time.monotonic()}), flush=True)

async def main(venue, node, ip):
    d = Discovery(
        venue_id=venue, ca="c" * 64, node_id=node, role="register", port=7000, interfaces=[ip],
        on_found=lambda ad: emit(event="found", node=ad.node_id, address=ad.address, port=ad.port),
        on_removed=lambda n: emit(event="removed", node=n),
    )
    emit(event="starting")
    await d.start()
    emit(event="started")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    await d.stop()
    emit(event="stopped")

asyncio.run(main(*sys.argv[1:]))
"""


class JsonLines:
    """Collects JSON lines from several processes' stdout, waiting on the pipes (never past a deadline)."""

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {name: [] for name in processes}
        self._buffers: dict[str, bytes] = dict.fromkeys(processes, b"")
        self._selector = selectors.DefaultSelector()
        for name, process in processes.items():
            assert process.stdout is not None
            self._selector.register(process.stdout, selectors.EVENT_READ, name)

    def until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.get_map():
                raise AssertionError(f"timed out waiting for {what}: {self.events}")
            for key, _ in self._selector.select(remaining):
                name = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    self._selector.unregister(key.fileobj)
                    continue
                *lines, self._buffers[name] = (self._buffers[name] + chunk).split(b"\n")
                self.events[name] += [json.loads(line) for line in lines if line.strip()]

    def found(self, name: str) -> set[str]:
        return {e["node"] for e in self.events[name] if e["event"] == "found"}

    def removed(self, name: str) -> set[str]:
        return {e["node"] for e in self.events[name] if e["event"] == "removed"}

    def time_of(self, name: str, event: str) -> float:
        return float(next(e["t"] for e in self.events[name] if e["event"] == event))


def test_discovery_between_namespaces(netbed: NetBed, tmp_path: Path) -> None:
    hosts = [netbed.add_host(f"h{i}") for i in range(3)]
    venue = f"venue-{secrets.token_hex(4)}"
    names = [h.name for h in hosts]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for h in hosts:
        with (tmp_path / f"{h.name}.err").open("wb") as err:
            processes[h.name] = netbed.spawn(
                h,
                [sys.executable, "-c", CHILD, venue, h.name, h.ip],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=REPO,
            )
    lines = JsonLines(processes)
    try:
        lines.until(
            lambda: all(lines.found(n) == set(names) - {n} for n in names),
            timeout=15,
            what="every host to find the other two",
        )
    except AssertionError:
        for h in hosts:
            print(h.name, (tmp_path / f"{h.name}.err").read_text())
        raise
    for n in names:
        for e in lines.events[n]:
            if e["event"] == "found":
                assert e["address"] == netbed.hosts[e["node"]].ip
                assert e["port"] == 7000
    last_start = max(lines.time_of(n, "starting") for n in names)
    all_found = max(e["t"] for n in names for e in lines.events[n] if e["event"] == "found")
    print(
        f"\n[discovery/netns] 3 hosts: all found each other {all_found - last_start:.2f} s after start"
    )

    stdin = processes["h2"].stdin
    assert stdin is not None
    told = time.monotonic()  # CLOCK_MONOTONIC is one clock for every process on the machine
    stdin.close()  # h2 stops cleanly: a goodbye
    lines.until(
        lambda: all("h2" in lines.removed(n) for n in ("h0", "h1")),
        timeout=5,
        what="the goodbye",
    )
    gone = max(lines.time_of(n, "removed") for n in ("h0", "h1")) - told
    assert processes["h2"].wait(timeout=5) == 0
    print(f"[discovery/netns] goodbye seen by both {gone * 1000:.0f} ms after h2 was told to stop")
