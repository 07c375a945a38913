"""The messages of the sync protocol, as values: what a session sends and receives.

Their byte form is ``_codec`` (the envelope and the y-protocols part) and ``_bodies`` (the JSON of the hello
and the heartbeat); see docs/architecture.md (Wire).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshpos import __version__
from meshpos.sync._held_signed import SignedHeld
from meshpos.sync._signed import SignedConsole, SignedTick

PROTOCOL_VERSION = 1  # in the hello and the mDNS advert (net.discovery): the one place it is set
SOFTWARE = f"meshpos/{__version__}"  # in the hello: which release a peer runs


# --- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First message each side sends. ``client_id`` is the sender's CRDT client id for this process run."""

    venue: str
    node: str
    role: str
    software: str
    client_id: int
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class SyncStep1:
    doc: str
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    doc: str
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    doc: str
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    doc: str
    update: bytes  # the y-protocols awareness update (count, then client, clock, JSON state)


@dataclass(frozen=True, slots=True)
class Chunk:
    doc: str
    index: int
    total: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """What a relay tells the console about one node it is linked to (see :attr:`Heartbeat.mesh`)."""

    role: str
    pending: int  # the sum of that node's own heartbeat's ``pending``


@dataclass(frozen=True, slots=True)
class FarRecord:
    """What a node's own heartbeat says of it, passed on beyond its links (see :attr:`Heartbeat.far`):
    enough for the election, the status colour and the relay's summary to the console."""

    node: str
    role: str
    priority: int
    uplink: bool
    relay: bool
    seq: int  # the node's own heartbeat seq when it said this: a higher one replaces a lower one
    pending: int = 0  # the sum of its own heartbeat's ``pending``
    problem: str = ""
    client: int = 0  # its CRDT client id this run (0: not told): whose updates it authors


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Presence: sent about every heartbeat period on every connection past the hello.

    ``console`` holds the console's state vector per document ({client id: clock}) as far as the sender knows
    (the relay learns it from the console); ``pending`` holds, per document, how many clock units of the
    sender's replica the console does not hold yet.
    """

    node: str
    role: str
    priority: int
    uplink: bool
    relay: bool
    seq: int
    console: dict[str, dict[int, int]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    peers: tuple[
        str, ...
    ] = ()  # node ids the sender has live sessions with (to skip needless forwards)
    # optional, a relay to the console only: per linked node, its role and pending count. Left out of
    # the encoding when empty, so every other heartbeat is byte for byte what older nodes send.
    mesh: dict[str, PeerSummary] = field(default_factory=dict)
    # optional: why the sender has no working link to the console although it is configured for one, in
    # the venue's words ("the console refused R3: wrong venue token"); left out when there is none.
    problem: str = ""
    # optional, the console and the relay only: how many records the console holds but cannot put in
    # its reports, and why (the console tells the relay, the relay tells the mesh); left out when 0.
    unreported: int = 0
    unreported_reason: str = ""
    # optional: per ledger document, what the console's reports hold, per register and kind (the console
    # tells it, the relay passes it on); see meshpos.model.tally
    reports: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # optional: the sender's own records the console's reports do not hold yet, per kind
    owed: dict[str, int] = field(default_factory=dict)
    # optional, topology1 peers only (sync/_topology.py): a bounded summary of nodes beyond the sender's
    # links (the best relay candidates, the newest and a rotating few; never every node), and nodes the
    # sender knows are gone with the last seq heard of each, spread at once (relay failover)
    far: tuple[FarRecord, ...] = ()
    gone: dict[str, int] = field(default_factory=dict)
    # optional, held1 peers only (sync/_held.py): attestations on their way to the authors, per node,
    # ledger document and client: the clock below which that node holds the client's structs committed
    held: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)
    # optional, signed1 peers only (sync/_signed.py): the console's signed statement, passed on unchanged
    signed: SignedConsole | None = None
    # optional, tick1 peers only (sync/_tick.py): the console's signed tick naming that statement
    tick: SignedTick | None = None
    # optional, helds1 peers only (sync/_held_signed.py): devices' signed words of what they hold,
    # passed on unchanged
    helds: tuple[SignedHeld, ...] = ()
    # optional, gones1 peers only (sync/_notices.py): gone notices signed by the node that lost the
    # link, passed on unchanged
    gones: tuple[SignedHeld, ...] = ()
    # optional, saids1 peers only (sync/_far_signing.py): the said fields of the far records above,
    # signed by their nodes, passed on unchanged (each once per link and change)
    saids: tuple[SignedHeld, ...] = ()
    # optional, stalls1 peers only (sync/_stalls.py): nodes' own signed words that they did not run
    stalls: tuple[SignedHeld, ...] = ()
    # optional, epoch1 peers only (sync/_epoch.py): the console database's epoch, signed by the
    # console at its start, passed on unchanged (once per word and link)
    epoch: SignedConsole | None = None

    @property
    def signed_words(self) -> int:
        """Devices' signed words the beat carries, each a signature to check (``PeerBudget``)."""
        return len(self.helds) + len(self.saids) + len(self.stalls)


@dataclass(frozen=True, slots=True)
class Bye:
    reason: str


@dataclass(frozen=True, slots=True)
class Digest:
    """Anti-entropy by digest (issue 18, ``_digest``): a short hash of each document's state (its
    state vector and delete set), instead of a sync step 1 for every document every period."""

    hashes: tuple[tuple[str, bytes], ...]


DocMessage = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessUpdate
Message = Hello | DocMessage | Chunk | Heartbeat | Bye | Digest
