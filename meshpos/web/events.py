"""Server-sent events: the node pushes what changed, in the page's terms, and the page fetches only that.

Each open stream subscribes to :meth:`meshpos.web.port.NodeAPI.changes` (published after every commit and
on every status change) and turns each change into one ``changed`` event naming its topics: a ledger day
holds orders, receipts and shifts, a kitchen day tickets, the catalog the menu, the stop list the stops;
``status`` when what the sync indicator shows moved, with that status as the event's data, so the
indicator needs no request at all. Nothing polls: the stream waits for the next change, and only sends a
keep-alive comment line when it has been quiet for a while. A reader slower than the changes gets them
merged (the subscription folds what it has not read yet into one), never a backlog.

The first event of every connection names every topic: a page (re)connecting may have missed anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from meshpos.httpapi.routes import Route
from meshpos.httpapi.schema import to_json
from meshpos.httpapi.server import Response
from meshpos.model.documents import CATALOG, STOPLIST, is_kitchen, is_ledger
from meshpos.node_status import indicator
from meshpos.web.port import NodeAPI
from meshpos.web.routes import Call

KEEPALIVE = (
    15.0  # a comment line after this much quiet keeps proxies and idle timers from closing it
)

ORDERS, RECEIPTS, SHIFT, TICKETS, MENU, STOPS, STATUS = (
    "orders",
    "receipts",
    "shift",
    "tickets",
    "menu",
    "stops",
    "status",
)
TOPICS = (ORDERS, RECEIPTS, SHIFT, TICKETS, MENU, STOPS, STATUS)
# what each document holds, in the page's terms (documents by name; a day's documents by kind)
BY_DOCUMENT = {CATALOG: {MENU}, STOPLIST: {STOPS}}
BY_KIND = ((is_ledger, {ORDERS, RECEIPTS, SHIFT}), (is_kitchen, {TICKETS}))


def topics(docs: Iterable[str]) -> set[str]:
    """What a page shows that changed with these documents (the deny-list and the like: nothing)."""
    found: set[str] = set()
    for name in docs:
        found |= BY_DOCUMENT.get(name, set())
        for holds, shown in BY_KIND:
            if holds(name):
                found |= shown
    return found


def event(changed: Iterable[str], status: dict[str, Any] | None) -> bytes:
    data: dict[str, Any] = {"changed": sorted(changed)}
    if status is not None:
        data["status"] = to_json(status)
    return b"event: changed\ndata: " + json.dumps(data).encode() + b"\n\n"


async def stream(node: NodeAPI, keepalive: float = KEEPALIVE) -> AsyncGenerator[bytes, None]:
    subscription = node.changes()  # before the first read: no change can fall in between
    try:
        yield b"retry: 1000\n\n"  # reconnect after a second if the node restarts
        shown = indicator(node.status())
        yield event(TOPICS, shown)
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    change = await subscription.next()
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            except StopAsyncIteration:
                return  # the node is stopping: the page reconnects to whatever comes next
            changed = topics(change.docs)
            now = indicator(node.status())
            if now != shown:
                shown = now
                changed.add(STATUS)
            if changed:
                yield event(changed, now if STATUS in changed else None)
    finally:
        subscription.close()


async def events(c: Call) -> Response:
    return Response(
        200,
        content_type="text/event-stream",
        stream=stream(c.node),
        headers={"X-Accel-Buffering": "no"},
    )


ROUTES = (
    Route(
        "GET",
        "/api/events",
        events,
        "Server-sent events: `changed`, naming what changed, whenever the node's data or sync status does",
        None,
        tag="system",
        content_type="text/event-stream",
        description=(
            'Each `changed` event\'s data is `{"changed": [topics], "status": {...}}`: the topics are '
            f"{', '.join(TOPICS)}; fetch only those. `status` (the sync indicator's colour, pending, "
            "message, peers, relay, latest sale) comes when `status` is among the topics. The first "
            "event of a connection names every topic. Browsers' EventSource cannot send headers, so "
            "this route also takes the token as `?token=`."
        ),
    ),
)
