"""The one interface between a connection and the documents it carries (docs/architecture.md (Links)).

Every websocket this project opens — a mesh peer's link, the relay's link to the console, the console's
link from a relay, later a stock Yjs client — reaches the sync engine through :class:`LinkHandler`, with
who is at the other end (:class:`LinkPeer`, whose ``kind`` says what the session is) and a ``send``
callable for that connection. Nothing above the network tells sessions apart by their key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PeerKind(StrEnum):
    """What a connection is, which decides how the engine treats its session."""

    MESH = "mesh"  # another device of the venue
    CONSOLE = "console"  # the management console, seen from the relay
    RELAY = "relay"  # a venue's relay, seen from the console
    YJS = "yjs"  # a stock Yjs client on one document (no hello, heartbeats or election)


@dataclass(frozen=True, slots=True)
class LinkPeer:
    """Who is at the other end, as its certificate (or the console's token check) says."""

    device_id: str
    role: str
    venue_id: str
    kind: PeerKind = PeerKind.MESH
    # what the far end announced it can take in the websocket upgrade (meshpos/sync/_features.py);
    # empty: an N−1 peer, sent only what N−1 accepts
    features: frozenset[str] = frozenset()
    document: str = ""  # a stock Yjs client's (PeerKind.YJS) one document


#: hands a connection the messages to send, in order; never blocks (the link queues and bounds them)
Send = Callable[[list[bytes]], None]


class LinkHandler(Protocol):
    """What a link tells the engine. ``key`` names one connection for its whole life."""

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        """The connection is authenticated; ``send`` writes to it until :meth:`link_closed`."""

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        """Messages that arrived together, in order: handle them all, then commit once."""

    async def link_closed(self, key: str, reason: str) -> None:
        """The connection is gone (either side closed it, or it failed)."""

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        """The far end refused us for good (a wrong venue token, another venue): do not insist."""
