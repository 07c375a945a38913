"""What a node's mesh links are set up with, and what one link is (``net.links``, ``net.dialling``).

Kept apart from ``net.links`` (nineteenth session, robust) so that the dialers (``net.dialling``), a mixin
of ``Links``, read the settings without an import cycle; behaviour unchanged.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

from meshpos.net.channel import MAX_BACKLOG, Channel
from meshpos.net.port import LinkPeer
from meshpos.net.yjs import YjsSettings
from meshpos.sync import Allowance

#: new links one device may open to us: an honest one relinks after a restart or a dropped link, and its
#: dialer backs off to 5 s between tries
ACCEPTS = Allowance(rate=0.5, burst=8)


@dataclass(frozen=True, slots=True)
class LinkSettings:
    node_id: str
    venue_id: str
    host: str
    port: int
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    identify: Callable[[bytes], LinkPeer]  # parse a peer certificate; raises on a bad one
    hostname_for: Callable[[str], str]  # device id -> the name its certificate carries
    is_revoked: Callable[[str], bool]
    max_message_size: int
    grace: float = 3.0
    backoff_min: float = 0.2
    backoff_max: float = 5.0
    handshake_timeout: float = 5.0
    max_backlog: int = MAX_BACKLOG  # bytes queued for one peer that is not reading them
    accepts: Allowance = ACCEPTS
    # (node id, the features its last link announced or None) -> dial it? None: everyone (full mesh)
    wants: Callable[[str, frozenset[str] | None], bool] | None = None
    on_members: Callable[[frozenset[str]], None] | None = None  # discovery's list, on every change
    recheck: float = 1.0  # seconds between looks at whether an unwanted peer is wanted now
    # with bounded links (``wants``): an advertised peer no dial reached is dialled again after this
    # many seconds, twice as long after each miss up to ``probe_max`` (it may be back: a healed
    # partition, a restarted switch), so it rejoins the members without waiting to be advertised anew
    probe: float = 5.0
    probe_max: float = 60.0
    # stock Yjs clients on /yjs/<document> (net.yjs); None: the mesh's path only
    yjs: YjsSettings | None = None
    # with ``yjs``: a second listener on ``yjs_port`` (0: any free one) for token clients only, with
    # this context (no client certificate asked for: browsers, net.yjs); None: none
    token_context: ssl.SSLContext | None = None
    yjs_port: int = 0


class MeshLink(Channel):
    """A mesh link: a channel that remembers which side dialled (crossed links keep the lower id's)."""

    dialled_by = ""  # node id of the side that dialled

    def take_at_once(self) -> Callable[[list[bytes]], None] | None:
        """**Changed** (issue 18, latency; the twenty-third session): a peer's messages are handled
        in the read callback that read them, not a loop round later by the link's task, when the
        handler can take them without waiting (``messages_at_once``: a node's engine)."""
        at_once = getattr(self.handler, "messages_at_once", None)
        return at_once(self.key) if at_once is not None else None
