"""How many connections the pairing server (``enroll.serve_pairing``) holds at once, and which go first.

Why: the server listens on the LAN for as long as its code lasts, and every connection held a file
descriptor and a task until its websocket handshake (10 s) or its first message (10 s more) was due: a LAN
outsider opening connections and sending nothing held any number (thousands: the process that serves the
code ran out of file descriptors, and the device being paired could not connect).

The rule is ``httpapi/slots.py``'s: at most ``max_clients`` connections; at the limit a newcomer takes
the place of the oldest that has not begun pairing (sent its first message) after ``grace`` seconds (an
honest device sends its hello at once; the grace keeps a burst of connections from pushing out its own
first ones), else it is closed at once. A connection that has begun pairing is never closed to make room
(the one attempt the code allows). What was closed or refused is logged at most once a minute, as counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection

from meshpos.ops.limits import EveryMinute, descriptor_bound

log = logging.getLogger("meshpos.trust")

MAX_CLIENTS = 64  # one device pairs at a time: a few retries and a neighbour's, never thousands
GRACE = 1.0  # seconds a connection may take to begin pairing before a newcomer may push it out


def default_max_clients() -> int:
    """:data:`MAX_CLIENTS`, or fewer where the process has few file descriptors (``ops.limits``)."""
    return descriptor_bound(MAX_CLIENTS, 4)


class PairingSlots:
    """The connections held: waiting (not begun pairing: insertion-ordered, the oldest first, with
    when they came) and pairing."""

    def __init__(self, max_clients: int | None = None, grace: float = GRACE) -> None:
        self.max_clients = default_max_clients() if max_clients is None else max(1, max_clients)
        self.grace = grace
        self._waiting: dict[ServerConnection, float] = {}
        self._pairing: set[ServerConnection] = set()
        self._pushed = self._refused = 0
        self._every_minute = EveryMinute()

    def __len__(self) -> int:
        return len(self._waiting) + len(self._pairing)

    def admit(self, conn: ServerConnection) -> bool:
        """A new connection: True to hold it, False to close it (every slot is young or pairing)."""
        now = time.monotonic()
        if len(self) >= self.max_clients:
            oldest = next(iter(self._waiting), None)
            if oldest is None or now - self._waiting[oldest] < self.grace:
                self._refused += 1
                self._note()
                return False
            self.done(oldest)
            oldest.transport.abort()  # its handler ends (ConnectionClosed), its handshake quietly
            self._pushed += 1
            self._note()
        self._waiting[conn] = now
        return True

    def pairing(self, conn: ServerConnection) -> None:
        """The connection sent its first message: from here it is never closed to make room."""
        if self._waiting.pop(conn, None) is not None:
            self._pairing.add(conn)

    def done(self, conn: ServerConnection) -> None:
        self._waiting.pop(conn, None)
        self._pairing.discard(conn)

    def _note(self) -> None:
        if not self._every_minute.due():
            return
        log.warning(
            "pairing: at its limit of %d connections: closed %d that had not begun pairing and "
            "refused %d while none could go (a client opening connections it does not use?); counts "
            "since the last such line, at most one a minute",
            self.max_clients,
            self._pushed,
            self._refused,
        )
        self._pushed = self._refused = 0


def slotted(slots: PairingSlots) -> type[ServerConnection]:
    """The server's connection class (``serve(create_connection=...)``): held within ``slots``."""

    class Slotted(ServerConnection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # (its handler task: the handshake ends quietly)
            if not slots.admit(self):
                self.transport.abort()

        def connection_lost(self, exc: Any) -> None:
            slots.done(self)
            super().connection_lost(exc)

    return Slotted
