"""Found from the outside (sixth round), as a PIN guesser on the venue's LAN: the per-user PIN lock
could be wiped by asking for made-up users. The guard keeps at most ``TRACKED`` users and forgets the
longest idle first, and it made the entry of every name asked for *before* it looked at the locks: a
client already locked (each answer a cheap 429, no PIN checked) could still push ``TRACKED`` made-up
names through the table, and the manager's lock fell out of it. A guess from a second address then got
the manager's PIN checked again at once: the per-user lock, the one that holds against guessers on
several addresses, was worth a few thousand cheap requests. Now an attempt refused for a lock leaves
no trace in the tables, and a full table forgets the longest idle entry that is not locked.

A real ``meshpos node``; the guesses come from 127.0.0.1, the second address is 127.0.0.2 (loopback).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from meshpos.config import load_config
from meshpos.model.sample import MANAGER
from meshpos.web.pins import CLIENT_STRIKES, TRACKED, USER_STRIKES

from ..mesh.kit import NodeProcess, make_device, make_venue
from ..web.kit import CATALOG, PIN

LOCK_S = 300.0  # the node's pin_lockout_s: far longer than the test


async def _login(base: str, token: str, user: str, pin: str, source: str) -> tuple[int, str]:
    """One ``POST /api/login`` from the address ``source``: the status and the error code ("" on 2xx)."""
    url = urlsplit(base)
    assert url.hostname is not None
    assert url.port is not None
    body = json.dumps({"user": user, "pin": pin}).encode()
    head = (
        f"POST /api/login HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(url.hostname, url.port, local_addr=(source, 0))
    try:
        writer.write(head.encode() + body)
        async with asyncio.timeout(30):
            reply = await reader.read()
    finally:
        writer.close()
    top, _, payload = reply.partition(b"\r\n\r\n")
    status = int(top.split()[1])
    return status, "" if status < 300 else str(json.loads(payload)["error"]["code"])


@pytest.mark.slow
async def test_made_up_users_do_not_wipe_a_users_pin_lock(tmp_path: Path) -> None:
    config = make_device(
        make_venue(tmp_path), tmp_path, "R1", catalog=CATALOG, pin_lockout_s=LOCK_S
    )
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        token = (load_config(config, env={}).data_dir / "api.token").read_text().strip()
        base = node.api
        # the manager's PIN guessed wrong until their lock
        for guess in range(USER_STRIKES):
            assert await _login(base, token, MANAGER, f"{guess:04d}", "127.0.0.1") == (
                403,
                "login_refused",
            )
        assert await _login(base, token, MANAGER, PIN, "127.0.0.1") == (429, "pin_locked")

        # made-up users from the same address, a batch at a time: the address locks after its
        # strikes, every further answer is a 429
        answers: list[tuple[int, str]] = []
        for start in range(0, TRACKED + 64, 64):
            answers += await asyncio.gather(
                *(
                    _login(base, token, f"u-nobody-{i}", "0000", "127.0.0.1")
                    for i in range(start, start + 64)
                )
            )
        assert answers.count((403, "login_refused")) == CLIENT_STRIKES - USER_STRIKES, answers[:20]
        assert answers.count((429, "pin_locked")) == len(answers) - (CLIENT_STRIKES - USER_STRIKES)

        # the manager's lock holds for a guess from another address, the right PIN included
        # (main: 200, the lock forgotten)
        assert await _login(base, token, MANAGER, PIN, "127.0.0.2") == (429, "pin_locked")
        assert node.call("GET", "/api/status")["counters"]["pin_lockouts"] == 2  # user, address
    finally:
        assert node.stop() == 0
