"""A flood of malformed pairing messages against a real `meshpos pair`, each with different text (an
attacker on the LAN sets the volume and the words): the log says it once and then counts, instead of one
warning per connection (the repeat filter took each distinct text for a new problem: 256 lines, ~100 KB,
every 5 minutes); the code is not spent by any of them, and the honest device then enrolls with it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from meshpos.trust import init_venue

FLOOD = 300


async def _junk(url: str, i: int) -> None:
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": f"junk {i} " * 20, "type": "hello"}))
        reply = json.loads(await ws.recv())
        assert reply["code"] == "malformed"


async def test_a_flood_of_malformed_pairing_messages_is_one_line_and_the_code_still_works(
    tmp_path: Path,
) -> None:
    init_venue(tmp_path / "venue", "Cafe Central", "venue-1")
    argv = [sys.executable, "-m", "meshpos"]
    with (tmp_path / "pair.err").open("w") as err:
        pair = await asyncio.create_subprocess_exec(
            *argv, "pair", "--venue", str(tmp_path / "venue"), "--role", "register",
            "--host", "127.0.0.1", "--ttl", "60",
            stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        try:
            assert pair.stdout is not None
            code = (await pair.stdout.readline()).decode().split(": ", 1)[1].strip()
            url = (await pair.stdout.readline()).decode().rsplit(" ", 1)[1].strip()
            for start in range(0, FLOOD, 50):
                await asyncio.gather(*(_junk(url, start + i) for i in range(50)))
            enroll = await asyncio.create_subprocess_exec(
                *argv, "enroll", "--server", url, "--code", code, "--device", "R1",
                "--dir", str(tmp_path / "R1"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, problem = await asyncio.wait_for(enroll.communicate(), 60)
            assert enroll.returncode == 0, problem
            assert b"enrolled as R1" in out
            assert await asyncio.wait_for(pair.wait(), 30) == 0
        finally:
            if pair.returncode is None:
                pair.kill()
                await pair.wait()
    log = (tmp_path / "pair.err").read_text()
    refused = [line for line in log.splitlines() if "pairing: refused" in line]
    assert len(refused) == 2, len(refused)  # the first, then how many more (at exit)
    assert f"({FLOOD - 1} more like this in the last" in refused[1]
    assert "Traceback" not in log
    assert len(log) < 4000
