"""The relay's websocket to the console, and the probe that tells a register whether it has internet.

The link runs only while this node is the elected relay and its probe succeeds; the sync protocol on it is
the same as on the LAN (the console is one more peer). It redials with jittered backoff and hands every
message to the node, which commits before it forwards, exactly as for a LAN peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from typing import Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

log = logging.getLogger("meshpos.relay")


class ConsoleHandler(Protocol):
    def console_opened(self, key: str) -> None: ...

    async def link_data(self, key: str, data: bytes) -> None: ...

    async def link_closed(self, key: str, reason: str) -> None: ...


async def probe_console(url: str, timeout: float = 2.0) -> bool:
    """Can this node reach the console right now? One ``GET /health`` on the console's sync port."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
            try:
                writer.write(
                    f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                status = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    return status.split(b" ")[1:2] == [b"200"]


class ConsoleLink:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        venue_id: str,
        handler: ConsoleHandler,
        max_size: int,
        rng: random.Random,
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self.url = f"{url.rstrip('/')}/v1/venues/{venue_id}/sync"
        self.token = token
        self.handler = handler
        self.max_size = max_size
        self.rng = rng
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.failures = 0
        self.last_error = ""
        self._ws: ClientConnection | None = None
        self._key = ""
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._seq = 0

    @property
    def key(self) -> str:
        return self._key

    def send(self, messages: list[bytes]) -> None:
        for message in messages:
            self._outbox.put_nowait(message)

    async def run(self) -> None:
        """Connect, sync, and redial until cancelled (when this node stops being the relay)."""
        backoff = self.backoff_min
        while True:
            try:
                await self._session()
                backoff = self.backoff_min
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.failures += 1
                if isinstance(exc, InvalidStatus):
                    self.last_error = f"console refused: HTTP {exc.response.status_code}"
                    log.error("console refused the relay: HTTP %d", exc.response.status_code)
                else:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("cannot reach the console at %s: %s", self.url, self.last_error)
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, self.backoff_max)

    async def _session(self) -> None:
        async with connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            proxy=None,
            max_size=self.max_size,
            open_timeout=5,
            ping_interval=None,  # the sync heartbeats carry liveness
        ) as ws:
            self._seq += 1
            self._key = f"console#{self._seq}"
            self._outbox = asyncio.Queue()
            self.handler.console_opened(self._key)
            writer = asyncio.create_task(self._write(ws))
            reason = "console closed the connection"
            try:
                async for message in ws:
                    if isinstance(message, str):
                        reason = "console sent a text message"
                        break
                    await self.handler.link_data(self._key, message)
            except ConnectionClosed as exc:
                reason = f"connection to the console lost ({exc})"
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
                key, self._key = self._key, ""
                await self.handler.link_closed(key, reason)

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                data = await self._outbox.get()
                if not data:
                    await ws.close(1000, "bye")
                    return
                await ws.send(data)
