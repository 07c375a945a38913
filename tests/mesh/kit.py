"""Test kit for real nodes: a venue, enrolled devices, seeded catalogs and node processes.

``make_venue``, ``enroll_directly`` and the catalog come from :mod:`meshpos.harness.venue`, the API
client and event stream from :mod:`meshpos.localapi` (the demo and the benchmarks use them too);
this module adds synchronous set-up and blocking process wrappers for tests that drive processes from
the test's thread. The wrappers are thin: start, kill -9, stop and the draining of the output are the
harness's :class:`~meshpos.harness.procs.Proc`, run on one event loop on a thread of its own, so process
handling is written once. Waiting: :mod:`meshpos.harness.wait`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from meshpos.config import load_config
from meshpos.errors import MeshposError
from meshpos.harness import venue as harness_venue
from meshpos.harness.procs import Proc, console_argv, node_argv
from meshpos.harness.venue import catalog_update
from meshpos.harness.venue import make_venue as make_venue
from meshpos.localapi import EventStream, LocalApi, read_token
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


T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _blocking(job: Coroutine[Any, Any, T]) -> T:
    """Run ``job`` on the processes' event loop (a daemon thread, started once) and wait for it: the
    test's thread blocks as it did with subprocess.Popen, and a test running its own event loop can
    still call it."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True, name="test-procs").start()
    return asyncio.run_coroutine_threadsafe(job, _loop).result()


def _with_python(
    python: Sequence[str], prefix: Sequence[str] = ()
) -> Callable[[Sequence[str]], list[str]]:
    """A Proc ``command`` that runs the program with ``python`` (an interpreter command, e.g. a
    previous release's virtualenv: tests/compat) instead of this one; none: this one."""

    def command(argv: Sequence[str]) -> list[str]:
        return [*prefix, *python, *argv[1:]] if python else [*prefix, *argv]

    return command


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def _start(proc: Proc, what: str, timeout: float) -> None:
    try:
        _blocking(proc.start(timeout))
    except MeshposError:
        raise AssertionError(f"{what} did not start: {_log_tail(proc.log)}") from None


def _stop(proc: Proc, timeout: float) -> int:
    """SIGTERM, SIGKILL after ``timeout``; the exit status (-9: it had to be killed)."""
    _blocking(proc.stop(timeout))
    assert proc.process is not None
    return int(proc.process.returncode or 0)


@dataclass
class NodeProcess:
    """``meshpos node`` in its own process, driven from the test's thread: a blocking face of the
    harness's :class:`meshpos.harness.procs.Proc` (the demo, chaos and benchmarks use it directly);
    ``kill()`` is a kill -9. One Proc per wrapper, so a restart appends to the same log."""

    config: Path
    log: Path
    args: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", ns]
    python: list[str] = field(
        default_factory=list
    )  # another interpreter (tests/compat); [] this one
    _proc: Proc | None = field(default=None, repr=False)
    _events: EventStream | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> NodeProcess:  # (a guard: start waits for ready)
        if self._proc is None:
            self._proc = Proc(
                self.config.stem,
                [*node_argv(self.config), *self.args],
                self.log,
                load_config(self.config, env={}).data_dir / "api.token",
                command=_with_python(list(self.python), list(self.prefix)),
            )
        _start(self._proc, "node", timeout)
        return self

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        """The process of the last start (``pid``, ``returncode``)."""
        return None if self._proc is None else self._proc.process

    @property
    def ready(self) -> dict[str, Any]:
        """The ready line of the last start."""
        return {} if self._proc is None else self._proc.ready

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
        """The node's JSON API; :class:`~meshpos.localapi.ApiError` unless 2xx."""
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
        if self._proc is not None:
            _blocking(self._proc.kill())

    def stop(self, timeout: float = 10.0) -> int:
        self._close_events()
        assert self._proc is not None
        return _stop(self._proc, timeout)


@dataclass
class ConsoleProcess:
    """``meshpos console`` in its own process with a SQLite (or given) database; a blocking face of
    the harness's :class:`meshpos.harness.procs.Proc`, like :class:`NodeProcess`."""

    root: Path
    venues: list[Path]
    db: str = ""
    heartbeat_interval: float = 0.5
    args: list[str] = field(default_factory=list)  # e.g. ["--tls-cert", ..., "--tls-key", ...]
    ca_file: Path | None = None  # the CA that signed its --tls-cert, for call() over https
    python: list[str] = field(
        default_factory=list
    )  # another interpreter (tests/compat); [] this one
    _proc: Proc | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> ConsoleProcess:
        if self._proc is None:
            db = self.db or f"sqlite:///{self.root / 'console.db'}"
            token_file = self.root / "console-admin.token"
            argv: Sequence[str] = console_argv(db, self.venues, token_file, self.heartbeat_interval)
            self._proc = Proc(
                "console",
                [*argv, *self.args],
                self.root / "console.log",
                token_file,
                command=_with_python(list(self.python)),
            )
        _start(self._proc, "console", timeout)
        return self

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        return None if self._proc is None else self._proc.process

    @property
    def ready(self) -> dict[str, Any]:
        return {} if self._proc is None else self._proc.ready

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
        if self._proc is not None:
            _blocking(self._proc.stop(10))


def start_console_register(
    authority: VenueAuthority, root: Path, console: ConsoleProcess, *, last_octet: int = 12
) -> NodeProcess:
    """Register R1 linked to ``console`` (so the venue's relay), started without discovery on a
    random 127.x.y.``last_octet`` address; the caller kills it."""
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.{last_octet}"
    config = make_device(
        authority,
        root,
        "R1",
        host=host,
        console_url=str(console.ready["console"]),
        console_token=authority.console_token,
        heartbeat_interval=0.5,
    )
    return NodeProcess(config, root / "R1.log", args=["--no-discovery"]).start()
