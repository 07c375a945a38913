"""Stock Yjs clients for tests: Debian's nodejs running npm's ``yjs``, ``y-websocket`` and ``ws``, unchanged.

The packages are installed once into pytest's cache (``npm install`` of the pinned versions; npm's own
cache makes a second machine quick); without ``node`` and ``npm`` the tests skip, which CI turns into a
failure (tests/conftest.py). Each :class:`StockClient` is one ``node`` process running
``stock_client.mjs`` (a y-websocket provider on one document) and answering JSON commands; waits happen
inside it, on the document's and the provider's own events, with a deadline.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.venue import enroll_directly
from meshpos.trust import VenueAuthority, device_hostname
from meshpos.trust.identity import CA_FILE, CERT_FILE, KEY_FILE
from tests.mesh.kit import NodeProcess

#: what the tests run: the versions docs/api.md's example was written against
PACKAGES = ("yjs@13.6.33", "y-websocket@3.1.0", "ws@8.23.1")
SCRIPT = Path(__file__).with_name("stock_client.mjs")
REPLY_GRACE = 10.0  # seconds beyond a command's own deadline for its answer line


def npm_folder(cache: pytest.Cache | None) -> Path:
    """A folder holding node_modules with :data:`PACKAGES` (installed on first use; in pytest's cache,
    or the system's temporary directory when the cache is off)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "node and npm are needed (Debian: apt-get install nodejs npm; ./run installs them)"
        )
    name = "yjs-npm-" + "-".join(p.replace("@", "") for p in PACKAGES)
    if cache is not None:
        folder = cache.mkdir(name)
    else:
        folder = Path(tempfile.gettempdir()) / f"meshpos-{name}"
        folder.mkdir(exist_ok=True)
    # one install at a time, finished before anyone uses it: xdist workers (and two pytest runs on one
    # checkout) share the folder; a half-done install looked done and its modules were not found
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = folder / "installed"
        if not ready.exists():
            (folder / "package.json").write_text('{"private": true, "type": "module"}\n')
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", *PACKAGES],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"npm install failed: {done.stderr[-2000:]}")
            ready.touch()
        if (
            not (folder / SCRIPT.name).exists()
            or (folder / SCRIPT.name).read_bytes() != SCRIPT.read_bytes()
        ):
            # replaced whole: another worker's node may be reading it
            staged = folder / f"{SCRIPT.name}.{os.getpid()}"
            shutil.copy(SCRIPT, staged)
            os.replace(staged, folder / SCRIPT.name)
    return folder


class NodeScript:
    """A ``node`` process whose stdout is JSON lines: answers (with ``reply``) queue up for
    :meth:`next`, the rest are its :attr:`events` (y-websocket's warnings among them)."""

    def __init__(
        self, folder: Path, script: str, args: list[str], env: dict[str, str] | None = None
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._proc = subprocess.Popen(
            ["node", str(folder / script), *args],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=None if env is None else {**os.environ, **env},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"event": "output", "text": line.rstrip()}
            if isinstance(message, dict) and "event" not in message:
                self._replies.put(message)
            else:
                self.events.append(message)
        self._replies.put({"reply": "exited", "output": self.events[-5:]})

    def next(self, timeout: float) -> dict[str, Any]:
        """The next answer line, waiting at most ``timeout`` seconds."""
        return self._replies.get(timeout=timeout)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=10)


class StockClient(NodeScript):
    """One y-websocket provider in a ``node`` process (see ``stock_client.mjs`` for its options)."""

    def __init__(self, folder: Path, **options: Any) -> None:
        super().__init__(folder, SCRIPT.name, [json.dumps(options)])

    def ask(self, op: str, timeout: float = 20.0, **args: Any) -> dict[str, Any]:
        """Run one command (``timeout`` in seconds is the command's own deadline) and return its answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, "timeout": timeout * 1000, **args}) + "\n")
        self._proc.stdin.flush()
        reply = self.next(timeout + REPLY_GRACE)
        assert reply["reply"] == op, f"{op}: the client answered {reply}"
        return reply

    def warnings(self) -> list[str]:
        return [str(e["text"]) for e in self.events if e.get("event") == "warn"]


NOTES = "notes"  # a root no meshpos reader reads: the clients' own


@dataclass
class Bed:
    """A register node ``R1`` with two Yjs tokens (``tablet``: register, ``board``: reader) and the
    stock clients a test starts (closed with the bed)."""

    node: NodeProcess
    authority: VenueAuthority
    root: Path
    npm: Path
    host: str
    tokens: dict[str, str]  # name -> token
    clients: list[StockClient]

    @property
    def yjs_port(self) -> int:
        """R1's listener for token clients only (browsers: no certificate asked for), from its ready line."""
        return int(self.node.ready["yjs_port"])

    def identity(self, device: str, role: str) -> Path:
        """A device certificate for a stock client (enrolled like any device of the venue)."""
        folder = self.root / "clients" / device
        if not (folder / CERT_FILE).exists():
            enroll_directly(self.authority, device, role, folder)
        return folder

    def client(
        self,
        room: str,
        *,
        device: str = "",
        role: str = "",
        token: str = "",
        via: tuple[str, str, int] | None = None,
        port: int = 0,
    ) -> StockClient:
        """A y-websocket provider on ``room``, with ``device``'s certificate or ``token``, on R1 or
        on ``via`` (another node's id, address and mesh port); ``port``: another of R1's ports (its
        :attr:`yjs_port`)."""
        node_id, host, port = via or ("R1", self.host, port or self.node.port)
        options: dict[str, Any] = {
            "url": f"wss://{host}:{port}/yjs",
            "room": room,
            "ca": str(self.root / "R1" / "identity" / CA_FILE),
            "servername": device_hostname(node_id, self.authority.venue_id),
        }
        if device:
            folder = self.identity(device, role)
            options |= {"cert": str(folder / CERT_FILE), "key": str(folder / KEY_FILE)}
        if token:
            options["token"] = token
        client = StockClient(self.npm, **options)
        self.clients.append(client)
        return client
