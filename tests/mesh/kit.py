"""Test kit for real nodes: a venue, enrolled devices, seeded catalogs and node processes.

``make_venue``, ``enroll_directly`` and the catalog come from :mod:`meshpos.harness.venue`, the API
client and event stream from :mod:`meshpos.harness.client` (the demo and the benchmarks use them too);
this module adds synchronous set-up and blocking process wrappers for tests that drive processes from
the test's thread. Waiting: :mod:`meshpos.harness.wait`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpos.config import load_config
from meshpos.harness import venue as harness_venue
from meshpos.harness.client import EventStream, LocalApi, read_token
from meshpos.harness.procs import console_argv, node_argv
from meshpos.harness.venue import catalog_update
from meshpos.harness.venue import make_venue as make_venue
from meshpos.trust import VenueAuthority
from meshpos.web.orders import MAX_PAGE  # today's receipts, all in one page

CATALOG = catalog_update()


def make_device(
    authority: VenueAuthority,
    root: Path,
    node_id: str,
    *,
    role: str = "register",
    host: str = "127.0.0.1",
    catalog: bytes | None = CATALOG,
    **settings: Any,
) -> Path:
    """:func:`meshpos.harness.venue.make_device`, callable from sync code and from inside a
    running event loop (it runs on a thread of its own); returns the node.toml path."""
    values = {"api_host": "127.0.0.1", "log_level": "INFO", **settings}
    job = harness_venue.make_device(
        authority, root, node_id, role=role, host=host, catalog=catalog, **values
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, job).result()
    return root / f"{node_id}.toml"


@dataclass
class NodeProcess:
    """``meshpos node`` in its own process, driven from the test's thread (the demo, chaos and benchmarks
    use the asyncio :class:`meshpos.harness.procs.Proc`); ``kill()`` is a kill -9."""

    config: Path
    log: Path
    args: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", ns]
    proc: subprocess.Popen[str] | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    _events: EventStream | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> NodeProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, *node_argv(self.config), *self.args],
            stdout=subprocess.PIPE,
            stderr=self.log.open("a"),
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            raise AssertionError(f"node did not start: {self.log.read_text()[-3000:]}")
        self.ready = json.loads(line)
        return self

    @property
    def api(self) -> str:
        return str(self.ready["api"])

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    @property
    def client(self) -> LocalApi:
        """The node's JSON API with its bearer token (the address of the current start)."""
        return LocalApi(
            self.api, read_token(load_config(self.config, env={}).data_dir / "api.token")
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The node's JSON API; :class:`~meshpos.harness.client.ApiError` unless 2xx."""
        return self.client.call(method, path, body)

    @property
    def events(self) -> EventStream:
        """The change stream (``/api/events``) of this start, for :func:`~meshpos.harness.wait.wait_for`
        to wait on (``on=[node.events]``); closed when the node is stopped or killed."""
        if self._events is None or self._events.api.base != self.api:
            self._close_events()
            self._events = self.client.events()
        return self._events

    def _close_events(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    def sell(self, user: str, products: list[str], method: str = "card") -> dict[str, Any]:
        """Open an order, add ``products``, pay it in full: the receipt (acknowledged)."""
        order = self.call("POST", "/api/orders", {"user": user})
        for product in products:
            self.call(
                "POST", f"/api/orders/{order['id']}/lines", {"user": user, "product_id": product}
            )
        paid = self.call(
            "POST", f"/api/orders/{order['id']}/payments", {"user": user, "method": method}
        )
        receipt: dict[str, Any] = paid["receipt"]
        return receipt

    def receipt_ids(self) -> set[str]:
        return {r["id"] for r in self.call("GET", f"/api/receipts?limit={MAX_PAGE}")}

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def kill(self) -> None:
        self._close_events()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int:
        self._close_events()
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return -9
        return self.proc.returncode


@dataclass
class ConsoleProcess:
    """``meshpos console`` in its own process with a SQLite (or given) database."""

    root: Path
    venues: list[Path]
    db: str = ""
    heartbeat_interval: float = 0.5
    args: list[str] = field(default_factory=list)  # e.g. ["--tls-cert", ..., "--tls-key", ...]
    ca_file: Path | None = None  # the CA that signed its --tls-cert, for call() over https
    proc: subprocess.Popen[str] | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    def start(self) -> ConsoleProcess:
        db = self.db or f"sqlite:///{self.root / 'console.db'}"
        token_file = self.root / "console-admin.token"
        argv = console_argv(db, self.venues, token_file, self.heartbeat_interval)
        argv = [sys.executable, *argv, *self.args]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=(self.root / "console.log").open("a"),
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(
                f"console did not start: {(self.root / 'console.log').read_text()}"
            )
        self.ready = json.loads(line)
        return self

    @property
    def port(self) -> int:
        return int(str(self.ready["console"]).rsplit(":", 1)[1])

    @property
    def client(self) -> LocalApi:
        token = read_token(self.root / "console-admin.token")
        return LocalApi(str(self.ready["api"]), token, cafile=self.ca_file)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.call(method, path, body, timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
