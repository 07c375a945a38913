"""A session's state table and the events it reports: what the synchronizer and the transport read.

docs/architecture.md (Wire). States move only along :data:`TRANSITIONS`
(``connecting -> hello -> syncing -> live -> closed``); a :class:`~meshpos.sync._session.Session`
reports what arrived as the events below, drained by the synchronizer. Kept apart from ``_session``
(bytes in and out, budgets, the commit gate) so each reads in one sitting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from meshpos.errors import ProtocolError
from meshpos.sync._messages import Digest, DocMessage, Heartbeat, Hello


class State(enum.Enum):
    CONNECTING = "connecting"
    HELLO = "hello"
    SYNCING = "syncing"
    LIVE = "live"
    CLOSED = "closed"

    # identity, as equality is: ``state in EXCHANGING`` runs for every session on every message, and
    # Enum's own ``__hash__`` is a Python call (hash of the name)
    __hash__ = object.__hash__


class Trigger(enum.Enum):
    OPEN = "open"  # we start the session and send our hello
    HELLO_RECEIVED = "hello received"  # the peer's valid hello arrived
    SYNCED = "synced"  # every initial sync step 1 we sent has been answered by a step 2
    CLOSE = "close"  # either side ends the session


TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.CONNECTING, Trigger.OPEN): State.HELLO,
    (State.HELLO, Trigger.HELLO_RECEIVED): State.SYNCING,
    (State.SYNCING, Trigger.SYNCED): State.LIVE,
    (State.CONNECTING, Trigger.CLOSE): State.CLOSED,
    (State.HELLO, Trigger.CLOSE): State.CLOSED,
    (State.SYNCING, Trigger.CLOSE): State.CLOSED,
    (State.LIVE, Trigger.CLOSE): State.CLOSED,
}

#: states in which document messages and heartbeats may be sent and received
EXCHANGING = frozenset({State.SYNCING, State.LIVE})


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HelloReceived:
    hello: Hello


@dataclass(frozen=True, slots=True)
class DocReceived:
    message: DocMessage


@dataclass(frozen=True, slots=True)
class DigestReceived:
    digest: Digest


@dataclass(frozen=True, slots=True)
class HeartbeatReceived:
    heartbeat: Heartbeat


@dataclass(frozen=True, slots=True)
class SyncCompleted:
    """Every document's initial sync step 1 was answered: the session is live."""


@dataclass(frozen=True, slots=True)
class SessionClosed:
    reason: str
    error: ProtocolError | None = None  # set when a protocol error (ours or the peer's) ended it
    by_peer: bool = False


SessionEvent = (
    HelloReceived | DocReceived | DigestReceived | HeartbeatReceived | SyncCompleted | SessionClosed
)
