"""Stock Yjs clients for tests: Debian's nodejs running npm's ``yjs``, ``y-websocket`` and ``ws``, unchanged.

The packages are installed once into pytest's cache (``npm install`` of the pinned versions; npm's own
cache makes a second machine quick); without ``node`` and ``npm`` the tests skip, which CI turns into a
failure (tests/conftest.py). Each :class:`StockClient` is one ``node`` process running
``stock_client.mjs`` (a y-websocket provider on one document) and answering JSON commands; waits happen
inside it, on the document's and the provider's own events, with a deadline.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

#: what the tests run: the versions docs/api.md's example was written against
PACKAGES = ("yjs@13.6.33", "y-websocket@3.1.0", "ws@8.23.1")
SCRIPT = Path(__file__).with_name("stock_client.mjs")
REPLY_GRACE = 10.0  # seconds beyond a command's own deadline for its answer line


def npm_folder(cache: pytest.Cache) -> Path:
    """A folder holding node_modules with :data:`PACKAGES` (installed on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "node and npm are needed (Debian: apt-get install nodejs npm; ./run installs them)"
        )
    folder = cache.mkdir("yjs-npm-" + "-".join(p.replace("@", "") for p in PACKAGES))
    if not (folder / "node_modules" / "y-websocket").is_dir():
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
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    return folder


class StockClient:
    """One y-websocket provider in a ``node`` process (see ``stock_client.mjs`` for its options)."""

    def __init__(self, folder: Path, **options: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._proc = subprocess.Popen(
            ["node", str(folder / SCRIPT.name), json.dumps(options)],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"event": "output", "text": line.rstrip()}
            if "reply" in message:
                self._replies.put(message)
            else:
                self.events.append(message)
        self._replies.put({"reply": "exited", "output": self.events[-5:]})

    def ask(self, op: str, timeout: float = 20.0, **args: Any) -> dict[str, Any]:
        """Run one command (``timeout`` in seconds is the command's own deadline) and return its answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, "timeout": timeout * 1000, **args}) + "\n")
        self._proc.stdin.flush()
        reply = self._replies.get(timeout=timeout + REPLY_GRACE)
        assert reply["reply"] == op, f"{op}: the client answered {reply}"
        return reply

    def warnings(self) -> list[str]:
        return [str(e["text"]) for e in self.events if e.get("event") == "warn"]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=10)
