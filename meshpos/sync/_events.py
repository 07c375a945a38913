"""Events the synchronizer reports to the node (drained with ``Synchronizer.events_received()``)."""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class PeerJoined:
    """A session received a valid hello."""

    peer: str
    node: str
    role: str


@dataclass(frozen=True, slots=True)
class PeerLive:
    """Every document's initial sync with this peer is done."""

    peer: str
    node: str


@dataclass(frozen=True, slots=True)
class PeerClosed:
    peer: str
    node: str | None
    reason: str
    error: ProtocolError | None


@dataclass(frozen=True, slots=True)
class PeerGone:
    """No heartbeat from ``node`` for a few periods."""

    node: str


@dataclass(frozen=True, slots=True)
class DocumentChanged:
    """``update`` changed ``doc``: commit it. ``peer`` is None for a local write. ``stored``: it came
    from the durable store shared with other processes (already committed: do not commit it again)."""

    doc: str
    update: bytes
    peer: str | None
    stored: bool = False


@dataclass(frozen=True, slots=True)
class UpdateRejected:
    """An update broke the write rules; the document is unchanged."""

    peer: str
    node: str
    doc: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClientIdAlarm:
    """Someone else uses a CRDT client id that must be unique (ours, or one claimed by two roles)."""

    peer: str
    node: str
    doc: str | None
    client_id: int
    detail: str


@dataclass(frozen=True, slots=True)
class LocalWriteRefused:
    """This node wrote a document its role may not write; the change is not sent to anyone."""

    doc: str
    role: str


@dataclass(frozen=True, slots=True)
class AwarenessReceived:
    peer: str
    doc: str
    update: bytes


@dataclass(frozen=True, slots=True)
class RelayChanged:
    relay: str | None
    is_self: bool


@dataclass(frozen=True, slots=True)
class ReopenWanted:
    """A peer sent content for a closed document, or asked for something only its content holds: the
    node should open it (its store has it); what was parked is answered then. Once per closed period."""

    doc: str


@dataclass(frozen=True, slots=True)
class ClosedDayDeferred:
    """A peer's message for a closed day was not kept: opening the day for it (or parking it) is past
    the reopen budget (``cause``: "days", "device", "device_rate", "parked"; ``reason`` says it in
    words). Nothing is lost: anti-entropy brings it again once there is room. ``count`` messages."""

    peer: str
    node: str
    doc: str
    cause: str
    reason: str
    count: int = 1


SyncEvent = (
    PeerJoined
    | PeerLive
    | PeerClosed
    | PeerGone
    | DocumentChanged
    | UpdateRejected
    | ClientIdAlarm
    | LocalWriteRefused
    | AwarenessReceived
    | RelayChanged
    | ReopenWanted
    | ClosedDayDeferred
)
