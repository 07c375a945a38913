"""A LAN outsider holding connections open to a real ``meshpos pair`` (sending nothing) holds at most
``pairing_slots.MAX_CLIENTS`` of them: the rest are closed at once (before, each was held until the
10 s handshake deadline, thousands at a time, each a file descriptor of the process that serves the
code), and an honest device enrolls while the attacker's connections are held."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from meshpos.trust import init_venue
from meshpos.trust.pairing_slots import GRACE, MAX_CLIENTS

ATTACK = 300


async def _held(host: str, port: int, closed: asyncio.Queue[None]) -> asyncio.StreamWriter:
    """One connection that sends nothing; ``closed`` gets an item when the server closes it."""
    reader, writer = await asyncio.open_connection(host, port)

    async def watch() -> None:
        with contextlib.suppress(OSError):
            await reader.read()
        closed.put_nowait(None)

    asyncio.get_running_loop().create_task(watch())
    return writer


async def test_idle_connections_are_bounded_and_an_honest_device_enrolls(tmp_path: Path) -> None:
    init_venue(tmp_path / "venue", "Cafe Central", "venue-1")
    argv = [sys.executable, "-m", "meshpos"]
    with (tmp_path / "pair.err").open("w") as err:
        pair = await asyncio.create_subprocess_exec(
            *argv, "pair", "--venue", str(tmp_path / "venue"), "--role", "register",
            "--host", "127.0.0.1", "--ttl", "60",
            stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        writers: list[asyncio.StreamWriter] = []
        try:
            assert pair.stdout is not None
            code = (await pair.stdout.readline()).decode().split(": ", 1)[1].strip()
            url = (await pair.stdout.readline()).decode().rsplit(" ", 1)[1].strip()
            where = urlsplit(url)
            assert where.hostname is not None
            assert where.port is not None
            closed: asyncio.Queue[None] = asyncio.Queue()
            writers = list(
                await asyncio.gather(
                    *(_held(where.hostname, where.port, closed) for _ in range(ATTACK))
                )
            )
            # the server closes all but its limit at once (before: none until the 10 s deadline)
            async with asyncio.timeout(8):
                for _ in range(ATTACK - MAX_CLIENTS):
                    await closed.get()
            held = len(os.listdir(f"/proc/{pair.pid}/fd"))
            assert held < MAX_CLIENTS + 40, held  # its own files and the listener besides
            await asyncio.sleep(
                GRACE
            )  # the held ones are past the grace: a newcomer may take one's place
            enroll = await asyncio.create_subprocess_exec(
                *argv, "enroll", "--server", url, "--code", code, "--device", "R1",
                "--dir", str(tmp_path / "R1"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, problem = await asyncio.wait_for(enroll.communicate(), 60)
            assert enroll.returncode == 0, problem
            assert b"enrolled as R1" in out
            for writer in writers:  # (the server waits for open handshakes as it stops)
                writer.close()
            assert await asyncio.wait_for(pair.wait(), 30) == 0
        finally:
            for writer in writers:
                writer.close()
            if pair.returncode is None:
                pair.kill()
                await pair.wait()
    log = (tmp_path / "pair.err").read_text()
    assert "at its limit of 64 connections" in log
    assert "Traceback" not in log
