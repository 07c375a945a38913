"""A console_url with the console's pages port: the address the README has the manager open in a
browser, one digit from the relays' port.

The node's probe got 404 from the console's API server and counted it as no answer: the node said
"console not reachable", logged nothing, and ``meshpos doctor`` said only "did not take the token
probe", with nothing to do. Now the node logs one line saying that the port answers but is not the
console's relay port, and the doctor says so with the fix. Real console and node processes on loopback.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

from .mesh.kit import make_device, make_venue

WAIT = 60.0


async def test_a_console_url_on_the_pages_port_is_named_by_the_node_and_the_doctor(
    tmp_path: Path,
) -> None:
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.10"
    console = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshpos", "console", "--db", f"sqlite:///{tmp_path / 'c.db'}",
        "--host", host, "--port", "0", "--api-port", "0", "--token-file", str(tmp_path / "t"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    node: asyncio.subprocess.Process | None = None
    try:
        assert console.stdout is not None
        ready: dict[str, str] = {}
        while "api" not in ready:
            line = await asyncio.wait_for(console.stdout.readline(), WAIT)
            assert line, "the console ended"
            if line.startswith(b"{"):
                ready = json.loads(line)
        pages = ready["api"].replace("http://", "ws://")  # the pages' port, not the relays'
        config = make_device(
            make_venue(tmp_path), tmp_path, "R1", host=host.rsplit(".", 1)[0] + ".22",
            console_url=pages, console_token="t" * 32,
        )  # fmt: skip
        node = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "meshpos", "node", "--config", str(config), "--no-discovery",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert node.stderr is not None
        while True:  # the node's log, line by line, until it names the wrong port
            line = await asyncio.wait_for(node.stderr.readline(), WAIT)
            assert line, "the node ended"
            if b"not the console's relay port" in line:
                assert b"WARNING" in line
                assert pages.encode() in line
                break
        doctor = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "meshpos", "doctor", "--config", str(config), "--json"],
            capture_output=True, text=True, timeout=WAIT,
        )  # fmt: skip
        checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert checks["console"]["level"] == "problem"
        assert "not the console's relay port" in checks["console"]["message"]
        assert "listening for relays" in checks["console"]["fix"]
    finally:
        for process in (node, console):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
