"""An HTTP client living inside one host of the bed, driven over pipes: how the chaos run reaches the
local JSON API of a node in a network namespace.

A node in a namespace keeps its API on the loopback *of its own namespace*, which the chaos process (in
the machine's namespace) cannot reach. Rather than plumbing a route from the machine's namespace into the
LANs (a veth on the machine, routes that may collide with a real 10.x network, and a path that a cable pull
would cut), each host gets one small **API agent**: a Python process inside the host that reads one JSON
request per line on stdin, makes that HTTP call on the host's own loopback in a thread, and answers one
JSON line (tagged with the request's id) on stdout. So:

* nothing is added to the machine's own network namespace, and nothing is sent on its interfaces;
* the API stays reachable while the host's cable is pulled (a register keeps selling on its own);
* the agent outlives the node: a killed node shows up as "connection refused", which the caller reads;
* requests run concurrently (a status poll never waits behind a slow sale), and a late answer to a request
  the caller gave up on is matched by id and dropped, never taken for the next answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from typing import Any

from meshpos.chaos.netbed import Host, NetBed
from meshpos.errors import MeshposError
from meshpos.localapi import Answer

# Runs inside the host's namespace with the machine's interpreter (-I: no site, no cwd on sys.path).
AGENT = r"""
import json, sys, threading, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = threading.Lock()
def answer(q):
    data = None if q["body"] is None else json.dumps(q["body"]).encode()
    request = urllib.request.Request(q["url"], data=data, method=q["method"], headers=q["headers"])
    try:
        with opener.open(request, timeout=q["timeout"]) as response:
            a = {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as exc:
        a = {"status": exc.code, "body": exc.read().decode()}
    except Exception as exc:
        a = {"status": 0, "body": "", "error": repr(exc)}
    a["id"] = q["id"]
    with out:
        sys.stdout.write(json.dumps(a) + "\n")
        sys.stdout.flush()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    threading.Thread(target=answer, args=(json.loads(line),), daemon=True).start()
"""


class AgentError(MeshposError):
    """The agent process itself failed (exited, or did not start)."""


class Agent:
    """The HTTP client inside one host; many requests may be in flight at once."""

    def __init__(self, host: Host, process: asyncio.subprocess.Process) -> None:
        self.host = host
        self.process = process
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, bed: NetBed, host: Host, timeout: float = 20.0) -> Agent:
        process = await asyncio.create_subprocess_exec(
            *bed.command(host, [sys.executable, "-I", "-c", AGENT]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,  # a full receipt list is one line
        )
        agent = cls(host, process)
        assert process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                ready = await process.stdout.readline()
        except TimeoutError:
            process.kill()
            raise AgentError(f"the API agent on {host.name} did not start in {timeout} s") from None
        if not ready:
            raise AgentError(f"the API agent on {host.name} exited at start")
        agent._reader = asyncio.create_task(agent._read(), name=f"agent-{host.name}")
        return agent

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                answer = json.loads(line)
                future = self._waiting.pop(int(answer["id"]), None)
                if future is not None and not future.done():
                    text = answer.get("body") or answer.get("error", "")
                    future.set_result(Answer(int(answer["status"]), str(text)))
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(AgentError(f"the API agent on {self.host.name} exited"))
            self._waiting.clear()

    async def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        """One HTTP call made inside the host; status 0 when nothing answered within ``timeout``."""
        if self._reader is None or self._reader.done():
            raise AgentError(f"the API agent on {self.host.name} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        query = {
            "id": request_id,
            "method": method,
            "url": url,
            "body": body,
            "headers": headers or {},
            "timeout": timeout,
        }
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(query).encode() + b"\n")
        try:
            await stdin.drain()
            async with asyncio.timeout(timeout + 5):
                return await asyncio.shield(future)
        except TimeoutError:
            return Answer(0, f"the API agent on {self.host.name} gave no answer in time")
        finally:
            self._waiting.pop(request_id, None)

    async def close(self) -> None:
        """Close stdin (the agent's loop ends) and wait briefly; the bed kills what is left anyway."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            async with asyncio.timeout(2):
                await self.process.wait()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
