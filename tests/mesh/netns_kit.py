"""Real node processes on the hosts of a :class:`~tests.netbed.NetBed`, and their local API from the test.

A node in a namespace listens for its peers on its LAN address and keeps its local JSON API on the
default ``127.0.0.1`` *of its own namespace*, which the test (in the machine's namespace) cannot reach.
Rather than plumbing a route from the machine's namespace into the LANs (a veth on the machine, routes
that may collide with a real 10.x network, and a path that a cable pull would cut), each host gets one
small **API agent**: a Python process inside the host that reads one JSON request per line on stdin,
makes that HTTP call on the host's own loopback, and answers one JSON line on stdout. The test talks
to it over pipes, so:

* nothing is added to the machine's own network namespace, and nothing is sent on its interfaces;
* the API stays reachable while the host's cable is pulled (a register keeps selling on its own);
* the agent is spawned through the bed, so ``NetBed.close()`` kills it with the nodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpos.chaos.agent import AGENT  # the chaos run's agent script: one request per line
from meshpos.config import load_config
from meshpos.web.orders import MAX_PAGE  # today's receipts, all in one page

from ..netbed import Host, NetBed
from .kit import NodeProcess

REPO = Path(__file__).resolve().parents[2]


class ApiError(AssertionError):
    """The node's API answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, method: str, url: str, body: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:500]}")
        self.status = status
        self.body = body


class Agent:
    """The HTTP client inside one host; thread-safe (one request at a time per host)."""

    def __init__(self, netbed: NetBed, host: Host) -> None:
        self.host = host
        self.proc: subprocess.Popen[bytes] = netbed.spawn(
            host,
            [sys.executable, "-I", "-c", AGENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        self._buffer = b""
        self._lock = threading.Lock()
        ready = self._read_line(time.monotonic() + 20)
        assert ready == {"ready": True}, ready

    def _read_line(self, deadline: float) -> Any:
        stdout = self.proc.stdout
        assert stdout is not None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"API agent on {self.host.name} did not answer in time")
            readable, _, _ = select.select([stdout], [], [], remaining)
            if readable:
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"API agent on {self.host.name} exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, str]:
        query = {
            "method": method,
            "url": url,
            "body": body,
            "headers": headers or {},
            "timeout": timeout,
            "id": 0,  # one request at a time here: the answer on the next line is this one's
        }
        with self._lock:
            stdin = self.proc.stdin
            assert stdin is not None
            stdin.write(json.dumps(query).encode() + b"\n")
            stdin.flush()
            answer = self._read_line(time.monotonic() + timeout + 5)
        return int(answer["status"]), str(answer.get("body") or answer.get("error", ""))

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # the agent's loop ends; NetBed.close kills it anyway


@dataclass
class NetnsNode(NodeProcess):
    """``meshpos node`` inside a host of the bed; ``call``/``sell``/``status`` go through its agent."""

    host: Host | None = None
    agent: Agent | None = None
    name: str = ""
    started_at: float = 0.0
    ready_at: float = 0.0  # when its ready line came (listening, announced on mDNS)
    _token: str = field(default="", repr=False)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self.agent is not None
        if not self._token:
            data_dir = load_config(self.config, env={}).data_dir
            self._token = (data_dir / "api.token").read_text().strip()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        url = f"{self.api}{path}"
        status, text = self.agent.request(method, url, body, headers)
        if not 200 <= status < 300:
            raise ApiError(status, method, url, text)
        return json.loads(text)

    def status(self) -> dict[str, Any]:
        assert self.agent is not None
        url = f"{self.api}/status"
        status, text = self.agent.request("GET", url, timeout=3.0)
        if status != 200:
            raise ApiError(status, "GET", url, text)
        result: dict[str, Any] = json.loads(text)
        return result

    @property
    def netns_host(self) -> Host:
        assert self.host is not None
        return self.host

    def receipts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", f"/api/receipts?limit={MAX_PAGE}")
        return result

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text()[-chars:]
        except FileNotFoundError:
            return "(no log)"


@dataclass
class NetnsMesh:
    """The nodes of one test; :meth:`close` (the fixture's teardown) kills them before the bed goes."""

    netbed: NetBed
    root: Path
    nodes: list[NetnsNode] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)

    def add(self, node: NetnsNode) -> NetnsNode:
        self.nodes.append(node)
        return node

    def start_all(self, nodes: Sequence[NetnsNode] | None = None) -> None:
        """Start the nodes in parallel (one after another, four would cost several seconds)."""
        todo = list(nodes if nodes is not None else self.nodes)

        def start(node: NetnsNode) -> None:
            assert node.host is not None
            node.agent = node.agent or Agent(self.netbed, node.host)
            self.agents.append(node.agent)
            node.started_at = time.monotonic()
            node.start()
            node.ready_at = time.monotonic()  # close() kills it; NetBed.close empties its namespace

        with ThreadPoolExecutor(len(todo)) as pool:
            for future in [pool.submit(start, node) for node in todo]:
                future.result()

    def close(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill()
        for agent in self.agents:
            agent.close()

    @contextlib.contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """Print every node's log tail when the block fails (the assertion alone rarely says why)."""
        try:
            yield
        except BaseException:
            for node in self.nodes:
                print(f"\n----- {node.name} ({node.log}) -----\n{node.log_tail()}")
            raise


def lan_loss(netbed: NetBed, host: Host, p: float) -> None:
    """Drop each packet arriving on the host's LAN NIC with probability ``p``.

    Like :meth:`NetBed.loss`, but only on ``eth0``: the INPUT chain also sees the host's loopback, where
    the test's API calls travel, and a lossy loopback would measure TCP retransmission timers on the
    API instead of the mesh.
    """
    iptables = ["iptables", "-w"]
    flushed = netbed.run(host, [*iptables, "-F", "INPUT"])
    assert flushed.returncode == 0, flushed.stderr
    if p > 0:
        rule = f"-A INPUT -i {host.nic().ifname} -m statistic --mode random "
        rule += f"--probability {p:.6f} -j DROP"
        added = netbed.run(host, [*iptables, *rule.split()])
        assert added.returncode == 0, added.stderr


def lan_drops(netbed: NetBed, host: Host) -> int:
    """Packets the :func:`lan_loss` rule has dropped so far (proof the loss was really there)."""
    done = netbed.run(host, ["iptables", "-w", "-L", "INPUT", "-v", "-x", "-n"])
    assert done.returncode == 0, done.stderr
    return sum(int(line.split()[0]) for line in done.stdout.splitlines() if " DROP " in line)


def tcp_peers(netbed: NetBed, host: Host) -> set[str]:
    """Remote addresses of the host's established TCP connections on its LAN address (``ss``): what the
    kernel still holds open, whatever the node believes."""
    done = netbed.run(host, ["ss", "-Htn", "state", "established"])
    assert done.returncode == 0, done.stderr
    remotes = set()
    for line in done.stdout.splitlines():
        fields = line.split()  # Recv-Q Send-Q Local:Port Peer:Port
        if len(fields) >= 4 and fields[2].rsplit(":", 1)[0] == host.ip:
            remotes.add(fields[3].rsplit(":", 1)[0])
    return remotes
