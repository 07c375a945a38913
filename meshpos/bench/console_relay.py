"""A lightweight relay for ``bench console``: a register's sync engine over an in-memory store, linked
to a console over the real websocket protocol and TLS, that uploads pre-encoded sales.

It is what a relay is to the console (a ``register`` peer on the venue's sync path with the venue's
token, the same engine and channel as ``meshpos.relay``) without the rest of a node: a hundred of them
fit in the bench's process while the consoles under test are real processes.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from meshpos.bench.console_fixture import DEVICE, Sales
from meshpos.engine import Engine, EngineEvent
from meshpos.engine.stores import StoreDocuments
from meshpos.model.documents import CATALOG
from meshpos.net.channel import Channel
from meshpos.net.port import LinkPeer, PeerKind
from meshpos.net.wsconn import dial
from meshpos.relay.link import CONSOLE_NODE
from meshpos.store.memory import MemoryStore
from meshpos.sync import PeerClosed, PeerJoined, SyncConfig

MAX_MESSAGE_SIZE = 4 * 2**20
TICK_S = 0.2
HEARTBEAT_S = 1.0


class BenchRelay:
    def __init__(self, venue: str, token: str, catalog: bytes, ca: Path) -> None:
        self.venue = venue
        self.token = token
        self.catalog = catalog
        self.context = ssl.create_default_context(cafile=str(ca))
        self.store = MemoryStore()
        self.engine: Engine | None = None
        self.channel: Channel | None = None
        self.joined = asyncio.Event()
        self.dropped = 0  # sessions that ended before the bench closed them (reported)

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, PeerJoined):
            self.joined.set()
        elif isinstance(event, PeerClosed) and event.error is not None:
            self.dropped += 1

    async def connect(self, url: str) -> None:
        await self.store.append([(CATALOG, self.catalog)])
        engine = self.engine = Engine(
            StoreDocuments(self.store),
            venue=self.venue,
            node_id=DEVICE,
            role="register",
            sync_config=SyncConfig.paced(HEARTBEAT_S, MAX_MESSAGE_SIZE),
        )
        engine.subscribe(self._on_event, PeerJoined, PeerClosed)
        await engine.open()
        engine.start_ticking(TICK_S)
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        conn = await dial(
            host,
            parts.port or 443,
            self.context,
            server_hostname=host,
            max_size=MAX_MESSAGE_SIZE + 4096,
            timeout=30,
            path=f"/v1/venues/{self.venue}/sync",
            headers={"Authorization": f"Bearer {self.token}"},
            compress=True,
        )
        peer = LinkPeer(CONSOLE_NODE, CONSOLE_NODE, self.venue, PeerKind.CONSOLE)
        self.channel = Channel(f"console@{self.venue}", peer, conn, engine)
        self.channel.start()

    async def synced(self) -> None:
        """The console's hello arrived (the session is exchanging)."""
        async with asyncio.timeout(60):
            await self.joined.wait()

    async def upload(self, sales: Sales) -> None:
        """Hand every sale to the link (as a register's relay forwards what the mesh sold), letting
        the loop run between sales: nothing here awaits I/O (an in-memory store), so 60 relays'
        uploads ran back to back with the bench's loop held for seconds, no relay sent a heartbeat
        or a byte meanwhile, and the consoles timed every relay out (counted as the consoles'
        dropped sessions: docs/architecture.md (Relay and console))."""
        assert self.engine is not None
        for group in sales.groups:
            for doc, update in group:
                await self.engine.apply_stored(doc, [update])
            await asyncio.sleep(0)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close(1000, "bye")
        if self.engine is not None:
            await self.engine.stop()
