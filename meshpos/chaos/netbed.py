"""A network-namespace test bed: hosts on switched LANs, routers, cable pulls, partitions, rate limits
and packet loss.

Why namespaces: real mDNS, real multicast and real cable pulls, with nothing on the machine's own
interfaces (docs/architecture.md (Network rule)). Needs root and iproute2 (``tc``, ``iptables`` and ``ping`` for the
methods that use them).

Layout: one "switch" namespace holds a bridge per LAN; each host is its own namespace whose ``eth0`` (``eth1``
for a second LAN, ...) is a veth whose other end is a port of that LAN's bridge. Pulling a cable is taking
that port down; a partition moves some ports onto a second bridge of the same LAN. Names start with a random
token (``mp<6 hex>``) so parallel and crashed runs never collide, and a marker file lets
:meth:`NetBed.sweep_stale` remove what a killed run left behind.

It lives in the product (``meshpos chaos`` builds its venue on it); the tests import it from here through
``tests/netbed.py``, which adds the pytest fixture. From a script: ``with NetBed() as bed: ...``. The
methods are synchronous (each runs ``ip``/``tc`` for a few milliseconds). ``close()`` (also at exit) kills
every process inside the bed's namespaces, including ones not started by :meth:`spawn`, then deletes them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

MARKERS = Path("/run/meshpos-netbed")
_TOKEN = re.compile(r"^mp[0-9a-f]{6}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")


class NetBedError(RuntimeError):
    """A command that sets up or tears down the bed failed; the message has the command and its stderr."""


@dataclass(slots=True)
class Lan:
    name: str
    index: int
    bridge: str  # inside the switch namespace
    prefix: str  # "10.x.y"; hosts get prefix.11, .12, ...
    hosts: int = 0
    split_bridge: str = ""  # the second bridge a partition moves ports onto (made on first use)

    @property
    def subnet(self) -> str:
        return f"{self.prefix}.0/24"


@dataclass(slots=True)
class Nic:
    lan: Lan
    ifname: str  # inside the host namespace: eth0, eth1, ...
    port: str  # the bridge port in the switch namespace (what a cable pull takes down)
    ip: str


@dataclass(slots=True)
class Host:
    name: str
    ns: str
    index: int
    nics: list[Nic] = field(default_factory=list)

    @property
    def ip(self) -> str:
        """The address on the host's first LAN (what most tests want)."""
        return self.nics[0].ip

    def nic(self, lan: Lan | None = None) -> Nic:
        if lan is None:
            return self.nics[0]
        for nic in self.nics:
            if nic.lan is lan:
                return nic
        raise NetBedError(f"host {self.name} is not on LAN {lan.name}")


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetBedError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie holds no namespace or resources)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class NetBed:
    """Hosts in network namespaces, switched by bridges; see the module docstring."""

    _available: tuple[bool, str] | None = None

    def __init__(self) -> None:
        self.token = "mp" + secrets.token_hex(3)
        self.switch = f"{self.token}-sw"
        self.lans: dict[str, Lan] = {}
        self.hosts: dict[str, Host] = {}
        self.processes: list[subprocess.Popen[Any]] = []
        self._namespaces: list[str] = []  # in creation order; deleted in reverse
        self._octet = int(self.token[2:4], 16) % 150 + 100  # 10.<100-249>.<lan>.N: varies per run
        self._closed = False
        MARKERS.mkdir(parents=True, exist_ok=True)
        (MARKERS / self.token).write_text(str(os.getpid()))  # before any namespace exists
        atexit.register(self.close)
        self._add_namespace(self.switch)

    # --- availability and stale beds ----------------------------------------------------------------

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine can build a bed (root, iproute2, namespaces allowed), and why not."""
        if cls._available is None:
            cls._available = cls._probe()
        return cls._available

    @staticmethod
    def _probe() -> tuple[bool, str]:
        if os.geteuid() != 0:
            return False, "network namespaces need root"
        if shutil.which("ip") is None:
            return False, "the ip command (iproute2) is not installed"
        probe = f"mp{secrets.token_hex(3)}-probe"
        made = _run(["ip", "netns", "add", probe], check=False)
        if made.returncode != 0:
            return False, f"ip netns add failed: {made.stderr.strip()}"
        _run(["ip", "netns", "del", probe], check=False)
        return True, ""

    @staticmethod
    def namespaces() -> list[str]:
        """Every network namespace on the machine (``ip netns list``)."""
        out = _run(["ip", "netns", "list"]).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    @classmethod
    def sweep_stale(cls) -> list[str]:
        """Delete namespaces of beds whose creating process is gone (a run killed before its clean-up)."""
        removed: list[str] = []
        if not MARKERS.is_dir():
            return removed
        for marker in MARKERS.iterdir():
            if not _TOKEN.match(marker.name):
                continue
            with contextlib.suppress(ValueError, OSError):
                if alive(int(marker.read_text())):
                    continue
            for ns in cls.namespaces():
                if ns.startswith(marker.name + "-"):
                    cls._kill_namespace(ns, [])
                    _run(["ip", "netns", "del", ns], check=False)
                    removed.append(ns)
            marker.unlink(missing_ok=True)
        return removed

    # --- building ---------------------------------------------------------------------------------

    def _add_namespace(self, ns: str) -> None:
        _run(["ip", "netns", "add", ns])
        self._namespaces.append(ns)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_lan(self, name: str = "lan") -> Lan:
        """A new LAN: a bridge in the switch namespace with its own /24."""
        self._check_open()
        if not _NAME.match(name) or name in self.lans:
            raise NetBedError(f"LAN name {name!r}: use a new short lowercase name")
        index = len(self.lans)
        if index > 255:
            raise NetBedError("at most 256 LANs per bed")
        lan = Lan(name, index, f"br{index}", f"10.{self._octet}.{index}")
        _run(["ip", "-n", self.switch, "link", "add", lan.bridge, "type", "bridge"])
        _run(["ip", "-n", self.switch, "link", "set", lan.bridge, "up"])
        self.lans[name] = lan
        return lan

    def add_host(self, name: str, lan: Lan | None = None) -> Host:
        """A host namespace with ``eth0`` on ``lan`` (default: the first LAN, created on demand)."""
        self._check_open()
        if not _NAME.match(name) or name in self.hosts:
            raise NetBedError(f"host name {name!r}: use a new short lowercase name")
        if lan is None:
            lan = next(iter(self.lans.values()), None) or self.add_lan()
        host = Host(name, f"{self.token}-{name}", len(self.hosts) + 1)
        self._add_namespace(host.ns)
        self.hosts[name] = host
        self.attach(host, lan)
        return host

    def attach(self, host: Host, lan: Lan) -> Nic:
        """Plug one more NIC of ``host`` into ``lan`` (e.g. a relay on the shop LAN and an uplink LAN)."""
        self._check_open()
        if any(nic.lan is lan for nic in host.nics):
            raise NetBedError(f"host {host.name} is already on LAN {lan.name}")
        if lan.hosts >= 240:
            raise NetBedError(f"LAN {lan.name} is full")
        lan.hosts += 1
        ifname = f"eth{len(host.nics)}"
        port = f"l{lan.index}h{host.index}"  # at most 9 characters: interface names stop at 15
        ip = f"{lan.prefix}.{10 + lan.hosts}"
        # Both ends are born inside namespaces: nothing ever appears in the machine's own namespace.
        peer = ["peer", "name", ifname, "netns", host.ns]
        _run(["ip", "-n", self.switch, "link", "add", port, "type", "veth", *peer])
        _run(["ip", "-n", self.switch, "link", "set", port, "master", lan.bridge])
        _run(["ip", "-n", self.switch, "link", "set", port, "up"])
        _run(["ip", "-n", host.ns, "addr", "add", f"{ip}/24", "dev", ifname])
        _run(["ip", "-n", host.ns, "link", "set", ifname, "up"])
        nic = Nic(lan, ifname, port, ip)
        host.nics.append(nic)
        return nic

    # --- faults -----------------------------------------------------------------------------------

    def cable(self, host: Host, up: bool, lan: Lan | None = None) -> None:
        """Plug (``up=True``) or pull the host's cable: its bridge port goes up or down; nothing tells the
        host's own interface, as with a real cable pulled at the switch end."""
        self._check_open()
        state = "up" if up else "down"
        _run(["ip", "-n", self.switch, "link", "set", host.nic(lan).port, state])

    def limit(
        self,
        host: Host,
        rate: str = "1mbit",
        *,
        burst: str = "32kbit",
        latency: str = "100ms",
        lan: Lan | None = None,
    ) -> None:
        """Limit what the host sends on that NIC with a token bucket (``tc ... tbf``; netem is not
        available on these kernels, so there is no delay or reordering)."""
        self._check_open()
        dev = host.nic(lan).ifname
        tbf = ["tbf", "rate", rate, "burst", burst, "latency", latency]
        _run(["ip", "netns", "exec", host.ns, "tc", "qdisc", "replace", "dev", dev, "root", *tbf])

    def unlimit(self, host: Host, lan: Lan | None = None) -> None:
        self._check_open()
        dev = host.nic(lan).ifname
        _run(
            ["ip", "netns", "exec", host.ns, "tc", "qdisc", "del", "dev", dev, "root"], check=False
        )

    def loss(self, host: Host, p: float, *, nic: Nic | None = None) -> None:
        """Drop each packet arriving at the host with probability ``p`` (0 removes the loss).

        With ``nic``, only packets arriving on that NIC: the INPUT chain also sees the host's loopback,
        where local API calls travel, and a lossy loopback measures TCP retransmission timers on the API
        instead of the LAN. The host's INPUT chain is its own (per namespace) and only this method writes
        it, so it is flushed first: calls replace, never stack.
        """
        self._check_open()
        if not 0.0 <= p <= 1.0:
            raise NetBedError(f"loss probability {p}: must be between 0 and 1")
        iptables = ["ip", "netns", "exec", host.ns, "iptables", "-w"]
        _run([*iptables, "-F", "INPUT"])
        if p > 0:
            where = ["-i", nic.ifname] if nic is not None else []
            drop = f"-m statistic --mode random --probability {p:.6f} -j DROP".split()
            _run([*iptables, "-A", "INPUT", *where, *drop])

    def drops(self, host: Host) -> int:
        """Packets the :meth:`loss` rule has dropped so far (proof the loss was really there)."""
        done = _run(
            ["ip", "netns", "exec", host.ns, "iptables", "-w", "-L", "INPUT", "-v", "-x", "-n"]
        )
        return sum(int(line.split()[0]) for line in done.stdout.splitlines() if " DROP " in line)

    def split(self, hosts: Sequence[Host], lan: Lan | None = None) -> None:
        """Partition the LAN in two: ``hosts`` keep talking among themselves, the others among
        themselves, and nothing crosses. Their bridge ports move onto a second bridge, so (unlike cable
        pulls) each side stays a working LAN, the way a failed switch uplink splits a shop floor."""
        self._check_open()
        lan = self._lan(lan)
        if not lan.split_bridge:
            lan.split_bridge = f"{lan.bridge}s"
            _run(["ip", "-n", self.switch, "link", "add", lan.split_bridge, "type", "bridge"])
            _run(["ip", "-n", self.switch, "link", "set", lan.split_bridge, "up"])
        moved = {host.name for host in hosts}
        for host in self.hosts.values():
            for nic in host.nics:
                if nic.lan is lan:
                    bridge = lan.split_bridge if host.name in moved else lan.bridge
                    _run(["ip", "-n", self.switch, "link", "set", nic.port, "master", bridge])

    def join(self, lan: Lan | None = None) -> None:
        """Undo :meth:`split`: every port of the LAN back on its one bridge."""
        self.split([], lan)

    def port(self, host: Host, lan: Lan | None = None) -> tuple[bool, str]:
        """The host's bridge port on that LAN: (administratively up, the bridge it is on)."""
        self._check_open()
        done = _run(["ip", "-n", self.switch, "-o", "link", "show", host.nic(lan).port])
        flags = done.stdout.split("<", 1)[1].split(">", 1)[0].split(",")
        bridge = done.stdout.split(" master ", 1)[1].split()[0] if " master " in done.stdout else ""
        return "UP" in flags, bridge

    def qdisc(self, host: Host, lan: Lan | None = None) -> str:
        """The root queueing discipline on the host's NIC (``tbf`` while :meth:`limit` holds)."""
        dev = host.nic(lan).ifname
        done = _run(["ip", "netns", "exec", host.ns, "tc", "qdisc", "show", "dev", dev, "root"])
        return done.stdout.split()[1] if done.stdout.split() else ""

    # --- routing ----------------------------------------------------------------------------------

    def forwarding(self, host: Host) -> None:
        """Make the host a router: it forwards between its NICs (per namespace, nothing global)."""
        self._check_open()
        _run(["ip", "netns", "exec", host.ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])

    def route(self, host: Host, subnet: str, via: str) -> None:
        """Reach ``subnet`` (e.g. another LAN's) from the host through the router at ``via``."""
        self._check_open()
        _run(["ip", "-n", host.ns, "route", "replace", subnet, "via", via])

    def _lan(self, lan: Lan | None) -> Lan:
        if lan is not None:
            return lan
        first = next(iter(self.lans.values()), None)
        if first is None:
            raise NetBedError("the bed has no LAN yet")
        return first

    # --- processes --------------------------------------------------------------------------------

    def command(self, host: Host, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the host (for ``asyncio.create_subprocess_exec`` and the like).

        ``ip netns exec`` execs the program, so the child's pid is the program's own.
        """
        if not argv:
            raise NetBedError("empty command")
        program = argv[0]
        if not os.path.isabs(program):
            # A relative name would be looked up again inside the namespace's mount view; pin it now.
            found = shutil.which(program)
            if found is None:
                raise NetBedError(f"{program}: not found on PATH")
            program = found
        return ["ip", "netns", "exec", host.ns, program, *argv[1:]]

    def spawn(self, host: Host, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process inside the host; ``close()`` kills it (and anything it started)."""
        self._check_open()
        process = subprocess.Popen(self.command(host, argv), **popen_kwargs)
        self.processes.append(process)
        return process

    def run(
        self, host: Host, argv: Sequence[str], timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the host and return its result (no exception on failure)."""
        self._check_open()
        return subprocess.run(
            self.command(host, argv), capture_output=True, text=True, timeout=timeout, check=False
        )

    def ping(self, src: Host, dst: Host | str, timeout: float = 1.0) -> bool:
        """One ICMP echo from ``src``; True if it was answered within ``timeout``."""
        ip = dst if isinstance(dst, str) else dst.ip
        return self.run(src, ["ping", "-c", "1", "-W", f"{timeout:g}", "-q", ip]).returncode == 0

    # --- teardown ---------------------------------------------------------------------------------

    def pids(self, host: Host | None = None) -> list[int]:
        """Processes inside one host, or inside any namespace of the bed."""
        spaces = [host.ns] if host is not None else self._namespaces
        return [pid for ns in spaces for pid in self._namespace_pids(ns)]

    @staticmethod
    def _namespace_pids(ns: str) -> list[int]:
        done = _run(["ip", "netns", "pids", ns], check=False)
        return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []

    @classmethod
    def _kill_namespace(
        cls, ns: str, children: Sequence[subprocess.Popen[Any]], timeout: float = 5.0
    ) -> list[int]:
        """SIGKILL everything in ``ns`` until nothing is left (a dying parent may have forked); returns
        the survivors if ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            pids = cls._namespace_pids(ns)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for child in children:
                child.poll()  # reap our own children, or they linger as zombies
            pids = [pid for pid in pids if alive(pid)]
            if not pids and not cls._namespace_pids(ns):
                return []
            if time.monotonic() > deadline:
                return pids
            time.sleep(0.01)  # polling the kernel for process exit; there is no event to wait on

    def close(self) -> None:
        """Kill every process in the bed, delete its namespaces. Idempotent; also runs at exit."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        problems: list[str] = []
        for ns in reversed(self._namespaces):
            survivors = self._kill_namespace(ns, self.processes)
            if survivors:
                problems.append(f"{ns}: pids {survivors} survived SIGKILL")
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1.0)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for ns in reversed(self._namespaces):
            done = _run(["ip", "netns", "del", ns], check=False)
            if done.returncode != 0:
                problems.append(f"ip netns del {ns}: {done.stderr.strip()}")
        (MARKERS / self.token).unlink(missing_ok=True)
        if problems:
            raise NetBedError("net bed teardown: " + "; ".join(problems))

    def _check_open(self) -> None:
        if self._closed:
            raise NetBedError(f"net bed {self.token} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
