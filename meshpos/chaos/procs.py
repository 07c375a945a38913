"""The venue's processes inside the bed — ``meshpos node`` and ``meshpos console`` — and the way the chaos
run talks to their JSON APIs (through the host's :class:`~meshpos.chaos.agent.Agent`).

Each process is started with ``ip netns exec`` (which execs, so the pid is the program's own and a SIGKILL
hits the node, not a wrapper) and counts as up once it printed its ready line. Start, kill and stop of one
process are serialised by a lock: a fault that kills a node while the previous fault is still restarting
it waits for that start to finish instead of racing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpos.chaos.agent import Agent, Answer
from meshpos.chaos.netbed import Host, NetBed
from meshpos.errors import MeshposError


@dataclass
class Proc:
    """One ``meshpos`` process on a host of the bed; restartable with the same files."""

    name: str
    host: Host
    argv: list[str]
    log: Path
    agent: Agent
    token_file: Path
    process: asyncio.subprocess.Process | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    starts: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _drain: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def api(self) -> str:
        """The API base URL from the last ready line (the port changes on every start)."""
        return str(self.ready.get("api", ""))

    async def start(self, bed: NetBed, timeout: float = 60.0) -> None:
        async with self.lock:
            if self.alive:
                return
            await self._start(bed, timeout)

    async def _start(self, bed: NetBed, timeout: float) -> None:
        with self.log.open("ab") as log:
            log.write(f"----- start {self.starts + 1} -----\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *bed.command(self.host, [sys.executable, *self.argv]),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1
        stdout = self.process.stdout
        assert stdout is not None
        try:
            line = await asyncio.wait_for(stdout.readline(), timeout)
        except TimeoutError:
            line = b""
        if not line:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            raise MeshposError(f"{self.name} did not start; see {self.log}")
        self.ready = json.loads(line)
        self.token = self.token_file.read_text().strip()
        self._drain = asyncio.create_task(_drain(stdout))  # a full pipe would block the node

    async def kill(self) -> bool:
        """SIGKILL, as a power cut or a crash would; False if it was not running."""
        async with self.lock:
            return await self._signal(signal.SIGKILL)

    async def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``; False if it was not running."""
        async with self.lock:
            if not self.alive:
                return False
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                await self._signal(signal.SIGKILL)
            return True

    async def restart(self, bed: NetBed) -> None:
        """A clean stop and start at once (an update, a reboot), holding the lock throughout."""
        async with self.lock:
            if self.alive:
                assert self.process is not None
                self.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.process.wait(), 10)
                except TimeoutError:
                    await self._signal(signal.SIGKILL)
            await self._start(bed, 60.0)

    async def _signal(self, sig: signal.Signals) -> bool:
        if not self.alive:
            return False
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()
        return True

    async def call(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Answer:
        """The JSON API with the bearer token; status 0 if the process is down or did not answer."""
        if not self.alive or not self.api:
            return Answer(0, f"{self.name} is not running")
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        return await self.agent.request(method, self.api + path, body, headers, timeout)


async def _drain(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await stream.read(65536):
            pass


def node_argv(config: Path) -> list[str]:
    return ["-m", "meshpos", "node", "--config", str(config)]


def console_argv(db_url: str, venue_dir: Path, token_file: Path, heartbeat: float) -> list[str]:
    """The console on every address of its namespace (its own LAN address is what registers dial)."""
    return [
        "-m",
        "meshpos",
        "console",
        "--db",
        db_url,
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--api-port",
        "0",
        "--venue",
        str(venue_dir),
        "--token-file",
        str(token_file),
        "--heartbeat-interval",
        str(heartbeat),
    ]
