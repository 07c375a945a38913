"""``meshpos node`` and ``meshpos console`` as processes of their own, for the demo, the chaos run and
the benchmarks: started, killed (``kill -9``, as a power cut would), stopped and restarted with the same
files.

A process counts as up once it printed its ready line (one JSON object: its addresses). ``command``
runs the program somewhere else when needed (``ip netns exec`` for a host of the chaos bed, which
execs, so the pid is the program's own and a SIGKILL hits the node, not a wrapper). Start, kill and
stop of one process are serialised by a lock: a fault that kills a node while the previous fault is
still restarting it waits for that start to finish instead of racing it. Calls to its JSON API go
through :class:`~meshpos.localapi.LocalApi`, or through ``requester`` where the API is not
reachable from here (the chaos run's agent inside a network namespace).

A process is started with the allocator ``meshpos node`` and ``meshpos console`` choose for themselves
(``PYTHONMALLOC``, :func:`~meshpos.allocator.object_allocator_env`): the same process, but it need
not start itself again to choose it (the first start imports the command line's modules for nothing:
~0.6 s of CPU of each of the hundreds of starts in a test run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from meshpos.allocator import object_allocator_env
from meshpos.errors import MeshposError
from meshpos.localapi import Answer, LocalApi, read_token


class Requester(Protocol):
    """An HTTP client that reaches the process's API where this process cannot (another namespace)."""

    async def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer: ...


def _here(argv: Sequence[str]) -> list[str]:
    return list(argv)


@dataclass
class Proc:
    """One ``meshpos`` process; ``argv`` comes after the interpreter (see :func:`node_argv`)."""

    name: str
    argv: list[str]
    log: Path
    token_file: Path
    command: Callable[[Sequence[str]], list[str]] = _here
    requester: Requester | None = None
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

    @property
    def client(self) -> LocalApi:
        """The API from this machine (a process in another namespace needs ``requester``)."""
        return LocalApi(self.api, self.token)

    async def start(self, timeout: float = 60.0) -> None:
        async with self.lock:
            if self.alive:
                return
            await self._start(timeout)

    async def _start(self, timeout: float) -> None:
        with self.log.open("ab") as log:
            log.write(f"----- start {self.starts + 1} -----\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *self.command([sys.executable, *self.argv]),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=object_allocator_env({**os.environ, "PYTHONUNBUFFERED": "1"}),
            )
        self.starts += 1
        stdout = self.process.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = await stdout.readline()
        except TimeoutError:
            line = b""
        if not line:
            # EOF: it is most likely exiting by itself. Wait for that first: a kill() of a process that
            # has exited lets subprocess.Popen reap it (send_signal polls), and asyncio's child watcher
            # then reports 255 instead of the exit status the caller reads.
            try:
                async with asyncio.timeout(5.0 if stdout.at_eof() else 0.0):
                    await self.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
            raise MeshposError(f"{self.name} did not start; see {self.log}")
        self.ready = json.loads(line)
        self.token = read_token(self.token_file)
        self._drain = asyncio.create_task(_drain(stdout))  # a full pipe would block the node

    async def kill(self) -> bool:
        """SIGKILL, as a power cut or a crash would; False if it was not running."""
        async with self.lock:
            return await self._signal(signal.SIGKILL)

    async def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``; False if it was not running."""
        async with self.lock:
            return await self._stop(timeout)

    async def restart(self, timeout: float = 60.0) -> None:
        """A clean stop and start at once (an update, a reboot), holding the lock throughout."""
        async with self.lock:
            await self._stop(10.0)
            await self._start(timeout)

    async def _stop(self, timeout: float) -> bool:
        if not self.alive:
            return False
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
        except TimeoutError:
            await self._signal(signal.SIGKILL)
        return True

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
        if self.requester is None:
            return await self.client.arequest(method, path, body, timeout=timeout)
        headers = self.client.headers()
        return await self.requester.request(method, self.api + path, body, headers, timeout)


async def _drain(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await stream.read(65536):
            pass


def node_argv(config: Path) -> list[str]:
    return ["-m", "meshpos", "node", "--config", str(config)]


def console_argv(
    db_url: str, venues: Sequence[Path], token_file: Path, heartbeat: float, host: str = ""
) -> list[str]:
    """The console with its API on a free port; ``host`` to listen elsewhere than on loopback."""
    argv = ["-m", "meshpos", "console", "--db", db_url, "--port", "0", "--api-port", "0"]
    argv += ["--host", host] if host else []
    for venue in venues:
        argv += ["--venue", str(venue)]
    return [*argv, "--token-file", str(token_file), "--heartbeat-interval", str(heartbeat)]
