"""A reference console in the test's event loop (SQLite in the test's folder), for relay and page tests."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from meshpos.console.db import ConsoleDB, open_console_db
from meshpos.console.runner import load_signers, register_venues
from meshpos.console.server import ConsoleServer

#: seconds a venue's hub may take to settle at the teardown (its writes are on a local SQLite file)
SETTLE_S = 30.0


@dataclass
class Console:
    server: ConsoleServer
    db: ConsoleDB

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_console(
    root: Path, venues: list[Path], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Console]:
    db = await open_console_db(f"sqlite:///{root / 'console.db'}")
    try:
        await register_venues(db, venues)
        signers = {v: s for v, s in load_signers(venues).items() if s is not None}
        server = ConsoleServer(
            db, "127.0.0.1", 0, heartbeat_interval=0.2, signers=signers, ssl_context=ssl_context
        )
        await server.start()
        try:
            yield Console(server, db)
        finally:
            await server.stop(settle_within=SETTLE_S)
    finally:
        await db.close()
