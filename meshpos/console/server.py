"""The reference console's network side: relays sync over websockets, people and scripts use HTTP JSON.

* ``ws://HOST:PORT/v1/venues/<venue id>/sync`` with ``Authorization: Bearer <venue token>``: the relay of
  that venue speaks the meshpos sync protocol (the console is one more peer). A wrong token, a token of
  another venue, or an unknown path is refused before the upgrade, counted and logged with its reason.
  Given an ``ssl_context`` (``meshpos console --tls-cert --tls-key``) it is ``wss://``.
* ``GET /health`` on the same port answers ``ok``. A relay probes its venue's sync path with its token and
  without the upgrade: 200 when the token is good, else the refusal above (401/403 and its reason).
* The JSON API (:mod:`meshpos.console.api`) listens on its own port.
* Per venue, :class:`~meshpos.console.devices.DeviceView` keeps what the relays' heartbeats say about every
  device (updated on each tick), for the sync status per register.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections import Counter
from collections.abc import Iterable
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from meshpos.console.db import ConsoleDB
from meshpos.console.devices import DeviceView
from meshpos.console.hub import VenueHub
from meshpos.errors import MeshposError

log = logging.getLogger("meshpos.console")

SYNC_PATH = re.compile(r"^/v1/venues/(?P<venue>[A-Za-z0-9_.-]{1,64})/sync$")
MAX_MESSAGE_SIZE = 4 * 2**20
MAX_LOGGED_REFUSALS = 1024  # (address, reason) pairs remembered as logged


class ConsoleServer:
    def __init__(
        self,
        db: ConsoleDB,
        host: str,
        port: int,
        *,
        heartbeat_interval: float = 1.0,
        materialise_delay: float = 0.2,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.heartbeat_interval = heartbeat_interval
        self.materialise_delay = materialise_delay
        self.ssl_context = ssl_context
        self.hubs: dict[str, VenueHub] = {}
        self.devices: dict[str, DeviceView] = {}
        self.refusals: Counter[str] = Counter()
        self.recent_refusals: list[str] = []
        self._logged_refusals: set[tuple[str, str]] = set()
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._hub_lock = asyncio.Lock()

    async def start(self) -> int:
        for venue_id in await self.db.venues():
            await self.hub(venue_id)
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check_request,
            max_size=MAX_MESSAGE_SIZE + 4096,
            ping_interval=None,  # the sync protocol's own heartbeats carry liveness
            ssl=self.ssl_context,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_forever())
        log.info("console listening for relays on %s", self.url)
        return self.port

    @property
    def url(self) -> str:
        """What relays put in ``console_url``: ``ws://`` or, with a certificate, ``wss://``."""
        return f"{'wss' if self.ssl_context else 'ws'}://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for hub in self.hubs.values():
            await hub.settle()

    async def hub(self, venue_id: str) -> VenueHub:
        async with self._hub_lock:
            hub = self.hubs.get(venue_id)
            if hub is None:
                hub = VenueHub(
                    venue_id,
                    self.db,
                    max_message_size=MAX_MESSAGE_SIZE,
                    heartbeat_interval=self.heartbeat_interval,
                    materialise_delay=self.materialise_delay,
                )
                await hub.load()
                self.hubs[venue_id] = hub
            return hub

    def device_view(self, venue_id: str) -> DeviceView:
        """What the relays of ``venue_id`` told this console about every device."""
        return self.devices.setdefault(venue_id, DeviceView())

    def _refuse(
        self, connection: ServerConnection, status: HTTPStatus, kind: str, reason: str
    ) -> Response:
        self.refusals[kind] += 1
        remote = connection.remote_address
        address = remote[0] if remote else "?"
        line = f"refused {address}: {kind}: {reason}"
        self.recent_refusals.append(line)
        del self.recent_refusals[:-50]
        # once per address and reason: a misconfigured relay probes again and again, and anyone can
        # knock; the rest are counted (refusals) and kept in recent_refusals
        if (address, reason) not in self._logged_refusals:
            if len(self._logged_refusals) >= MAX_LOGGED_REFUSALS:
                self._logged_refusals.clear()
            self._logged_refusals.add((address, reason))
            log.warning("%s (further ones from there are only counted)", line)
        return connection.respond(status, reason + "\n")

    async def _check_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if request.path == "/health":
            return connection.respond(HTTPStatus.OK, "ok\n")
        match = SYNC_PATH.match(request.path)
        if match is None:
            return self._refuse(
                connection, HTTPStatus.NOT_FOUND, "path", f"unknown path {request.path[:80]!r}"
            )
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "token", "missing venue token")
        venue = await self.db.venue_for_token(token.strip())
        if venue is None:
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "token", "wrong venue token")
        if venue != match["venue"]:
            return self._refuse(
                connection,
                HTTPStatus.FORBIDDEN,
                "venue",
                f"the token is for venue {venue}, not {match['venue']}",
            )
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # a relay's probe: the token is good, say so without a failed handshake
            return connection.respond(HTTPStatus.OK, "ok: venue token accepted\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        match = SYNC_PATH.match(ws.request.path if ws.request else "")
        assert match is not None  # _check_request let only these through
        hub = await self.hub(match["venue"])
        outbox: asyncio.Queue[bytes] = asyncio.Queue()
        remote = ws.remote_address
        key = hub.attach(lambda out: _put_all(outbox, out), f"{remote[0]}:{remote[1]}")
        writer = asyncio.create_task(_write(ws, outbox))
        try:
            async for message in ws:
                if isinstance(message, str):
                    await ws.close(1003, "text messages are not part of the protocol")
                    break
                await hub.receive(key, message)
        except ConnectionClosed:
            pass
        except MeshposError as exc:
            log.error("venue %s: %s", hub.venue_id, exc)
        finally:
            writer.cancel()
            await hub.detach(key)

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for hub in list(self.hubs.values()):
                hub.tick(loop.time())
                try:
                    await hub.pump()
                except MeshposError as exc:
                    log.error("venue %s: %s", hub.venue_id, exc)
                self.device_view(hub.venue_id).observe(hub.sync.presence, time.time())
            await asyncio.sleep(min(0.1, self.heartbeat_interval / 5))


def _put_all(outbox: asyncio.Queue[bytes], messages: Iterable[bytes]) -> None:
    for message in messages:
        outbox.put_nowait(message)


async def _write(ws: ServerConnection, outbox: asyncio.Queue[bytes]) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            data = await outbox.get()
            if not data:
                await ws.close(1000, "bye")
                return
            await ws.send(data)
