"""Server-sent events: pages learn that something changed without reloading or polling the API themselves.

The node has no change callback for the web layer, so each open stream polls a cheap fingerprint (the state
vector of every loaded document plus the status line) every ``INTERVAL`` seconds and sends one small
``changed`` event when it moves; the page then refetches what it shows. A state vector grows with every
update, local or received, so no change is missed, and a burst of changes costs one event per interval.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from meshpos.web.http import Response
from meshpos.web.routes import Call, Route

if TYPE_CHECKING:
    from meshpos.node import Node

INTERVAL = 0.15
KEEPALIVE = (
    15.0  # a comment line now and then keeps proxies and idle timers from closing the stream
)


def summary(node: Node) -> dict[str, Any]:
    """The part of the status a sync indicator shows."""
    s = node.status()
    return {
        "colour": s.colour,
        "pending": s.pending,
        "message": s.message,
        "label": s.label,  # the badge: the page shows it as the node words it
        "peers": s.peers,
        "relay": s.relay,
        "is_relay": s.is_relay,
        "node": s.node,
        "role": s.role,
    }


def fingerprint(node: Node) -> tuple[Any, ...]:
    replica = node.replica
    return tuple((name, replica.doc(name).get_state()) for name in replica.names())


async def changes(node: Node, interval: float = INTERVAL) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"  # reconnect after a second if the node restarts
    last: tuple[Any, ...] | None = None
    quiet_since = time.monotonic()
    while True:
        status = summary(node)
        now = (fingerprint(node), json.dumps(status, sort_keys=True))
        if now != last:
            last = now
            quiet_since = time.monotonic()
            yield b"event: changed\ndata: " + json.dumps(status).encode() + b"\n\n"
        elif time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield b": keepalive\n\n"
        await asyncio.sleep(interval)


async def events(c: Call) -> Response:
    return Response(
        200,
        content_type="text/event-stream",
        stream=changes(c.node),
        headers={"X-Accel-Buffering": "no"},
    )


ROUTES = (
    Route(
        "GET",
        "/api/events",
        events,
        "Server-sent events: `changed` whenever the node's data or sync status changes",
        None,
        tag="system",
        content_type="text/event-stream",
        description=(
            "Each `changed` event's data is the sync indicator's status (colour, pending, message, "
            "peers, relay). Browsers' EventSource cannot send headers, so this route also takes the "
            "token as `?token=`. The first event comes at once; refetch what you show on each one."
        ),
    ),
)
