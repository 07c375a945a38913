"""``meshpos console``: serve relays and the JSON API until a signal; register venues."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
from pathlib import Path

from meshpos.console.db import ConsoleDB, open_console_db
from meshpos.console.tokens import hash_token
from meshpos.errors import ConfigError

log = logging.getLogger("meshpos.console")


async def register_venues(db: ConsoleDB, venue_dirs: list[Path]) -> list[str]:
    """Add each venue directory's id, name and console token (idempotent)."""
    from meshpos.trust import load_venue

    known = set(await db.venues())
    added = []
    for directory in venue_dirs:
        authority = load_venue(directory)
        if authority.venue_id not in known:
            await db.add_venue(
                authority.venue_id, authority.name, hash_token(authority.console_token)
            )
            added.append(authority.venue_id)
            log.info("venue %s (%s) registered", authority.venue_id, authority.name)
    return added


def admin_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        token = secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token


async def serve_console(
    *,
    db_url: str,
    host: str,
    port: int,
    api_port: int,
    venues: list[Path],
    token_file: Path,
    heartbeat_interval: float = 1.0,
) -> int:
    from meshpos.console.api import make_console_handler
    from meshpos.console.server import ConsoleServer
    from meshpos.web.http import HttpServer

    if not host.startswith("127.") and host != "0.0.0.0":
        raise ConfigError(
            f"--host {host!r}: give 127.0.0.1 (default) or an address of this machine"
        )
    db = await open_console_db(db_url)
    try:
        await register_venues(db, venues)
        server = ConsoleServer(db, host, port, heartbeat_interval=heartbeat_interval)
        await server.start()
        token = admin_token(token_file)
        api = HttpServer(make_console_handler(server, token), host, api_port)
        await api.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(
            json.dumps(
                {
                    "console": f"ws://{host}:{server.port}",
                    "api": f"http://{host}:{api.port}",
                    "ready": True,
                }
            ),
            flush=True,
        )
        await stop.wait()
        await api.stop()
        await server.stop()
    finally:
        await db.close()
    return 0
