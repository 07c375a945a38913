"""A register as ``bench history`` sees it: a ``meshpos node`` process, read from /proc, and its page.

The node runs as its own process (``--no-discovery``: no mDNS, no peers, no console) so its memory, start-up
and CPU are the process's own, read from ``/proc/<pid>``. :class:`Page` plays the register page in
meshpos/web/static: ``GET /api/events`` held open, and on each ``changed`` event the fetches of its
``load()``, folded like its ``refresher`` (a change during a load makes one more load, never two at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from meshpos.bench.history_fixture import Fixture
from meshpos.errors import MeshposError
from meshpos.harness.procs import Proc, node_argv
from meshpos.localapi import ApiError, EventStream, LocalApi

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
CALL_TIMEOUT_S = (
    900.0  # a sale on a big history takes seconds today; the bench reports it, not fails
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise MeshposError(f"process {pid} has no VmRSS")


def cpu_ms(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_MS


class RegisterProcess:
    """``meshpos node`` on a fixture's config, a harness :class:`~meshpos.harness.procs.Proc`; its
    stderr goes to ``node.log`` next to the data dir."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.log = fixture.config.data_dir.parent / "node.log"
        argv = [*node_argv(fixture.config_file), "--no-discovery"]
        self.proc = Proc("node", argv, self.log, fixture.config.data_dir / "api.token")
        self.client = LocalApi("")

    @property
    def pid(self) -> int:
        assert self.proc.process is not None
        return self.proc.process.pid

    async def start(self) -> float:
        """Start the node; seconds from the spawn until ``GET /health`` answers."""
        began = time.perf_counter()
        await self.proc.start(CALL_TIMEOUT_S)
        self.client = self.proc.client
        deadline = began + CALL_TIMEOUT_S
        while True:
            answer = await self.client.arequest("GET", "/health", timeout=CALL_TIMEOUT_S)
            if answer.ok:
                return time.perf_counter() - began
            if answer.status or time.perf_counter() > deadline:
                raise ApiError(answer.status, "GET", self.client.base + "/health", answer.body)
            await asyncio.sleep(0.01)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the decoded JSON, or :class:`~meshpos.localapi.ApiError`."""
        return self.client.call(method, path, body, timeout=CALL_TIMEOUT_S)

    def helpers_rss_kb(self) -> int:
        """Resident memory of the node's child processes (the store's merge helper, when running)."""
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError, ValueError):
                fields = dict(
                    line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
                )
                if int(fields["PPid"]) == self.pid and "VmRSS" in fields:
                    total += int(fields["VmRSS"].split()[0])
        return total

    async def stop(self) -> None:
        await self.proc.stop(60)


#: what meshpos/web/static/register.js fetches for each topic a pushed change names
TOPIC_CALLS = {
    "menu": "/api/catalog",
    "stops": "/api/stoplist",
    "shift": "/api/shifts/current",
    "receipts": "/api/receipts?limit=10",
    "orders": "/api/orders",
}


class Page:
    """The register page's event stream and reloads, on two threads of its own: like register.js, it
    fetches only what each pushed change names (every topic when the stream opens)."""

    def __init__(self, register: RegisterProcess) -> None:
        self.register = register
        self.order_id = ""  # the order the cashier is building: load() fetches it too
        self.loads = 0
        self.error: BaseException | None = None  # why the page stopped reloading
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._idle = threading.Event()
        self._events: EventStream | None = None
        self._reloader = threading.Thread(target=self._reload, daemon=True)

    def open(self) -> None:
        self._events = EventStream(self.register.client)
        self._events.listen(self._dirty.set)  # each change (and each (re)opening) makes one reload
        self._events.open()
        self._reloader.start()

    async def loaded(self, timeout: float) -> None:
        """Until the first load after opening is done and no change is waiting."""
        deadline = time.monotonic() + timeout
        while not (self.loads and self._idle.is_set() and not self._dirty.is_set()):
            if self.error is not None:
                raise MeshposError(f"the page stopped: {self.error}")
            if time.monotonic() > deadline:
                raise MeshposError(f"the page did not load within {timeout:.0f} s")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._events is not None:
            self._events.close()
        self._reloader.join(CALL_TIMEOUT_S)

    def _reload(self) -> None:
        try:
            self._reload_until_closed()
        except Exception as exc:  # the run reports it through loaded() and the sales' own calls
            self.error = exc

    def _load(self, topics: set[str] | None) -> None:
        """What register.js fetches for ``topics`` (None: everything), one call per topic."""
        call = self.register.call
        wanted = TOPIC_CALLS.keys() if topics is None else topics & TOPIC_CALLS.keys()
        for topic in sorted(wanted):
            call("GET", TOPIC_CALLS[topic])
        if self.order_id and (topics is None or "orders" in topics):
            with contextlib.suppress(MeshposError):  # paid meanwhile: the page drops it too
                call("GET", f"/api/orders/{self.order_id}")

    def _reload_until_closed(self) -> None:
        while not self._stop.is_set():
            self._idle.set()
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._idle.clear()
            self._dirty.clear()
            assert self._events is not None
            self._load(self._events.take_topics())
            self.loads += 1
