"""meshpos.sync: the sans-I/O sync core (no asyncio, sockets or clocks; time comes in as ``tick(now)``).

* :mod:`~meshpos.sync._codec` — the wire codec (hello, y-protocols sync/awareness per document, chunks,
  heartbeats, bye) with a size limit on every message; the messages are ``_messages`` (with the protocol
  version), the hello's and heartbeat's JSON ``_bodies``. See docs/architecture.md (Wire).
* :class:`Session` — one connection, an explicit state table ``connecting -> hello -> syncing -> live ->
  closed`` with the ``websockets`` sans-I/O surface (``receive_data`` / ``events_received`` /
  ``data_to_send`` / ``close`` / ``tick``); what a peer may make us do is its ``_budget``.
* :class:`Synchronizer` — documents x sessions: live forwarding, anti-entropy, write rules, client-id alarms;
  step 1 replies and received updates in ``_exchange``, presence and relay election in ``_heartbeats``,
  closed business days (answered from their state vector and deletions, unloaded) in ``_closed``.
* :class:`YjsSession` (``_yjs``) — a stock Yjs client on one document: plain y-protocols, no hello.
* :mod:`meshpos.sync.memory` — an in-memory network for tests and examples.

Roles, document names, client ids and the state-vector codec are the model's (``model.roles``,
``model.documents``, ``model.replica``): sync builds on them.

Write rules — the decision
--------------------------
An update is accepted only if both hold (anything else is logged, reported as ``UpdateRejected``, and the
document stays unchanged):

1. **Delivery, by the session's certified role.** The role the peer announced in its hello (which the
   transport checks against its certificate via ``expected_role``) must be allowed to *deliver* the
   document: a role delivers what it may write (``WRITE_RULES``: register -> ``ledger/*``, ``kitchen/*``,
   ``stoplist``; kds -> ``kitchen/*``, ``stoplist``; console -> ``catalog``, ``stoplist``), and a register
   may also forward ``catalog`` (``FORWARD_RULES``): registers are the relay candidates and carry the
   console's edits through the mesh, so a register that starts while the internet is down still gets the
   catalog from its neighbours. A kds can therefore never change ``ledger/*`` or ``catalog`` in any way,
   deletions included, whoever authored the content it sends; a kds never forwards those documents.
2. **Authorship, by CRDT client id.** Each hello carries the sender's client id for this run; the
   synchronizer remembers ``client id -> role`` for every peer it met. An update carrying any struct under a
   client id whose announced role may not *write* the document is rejected — so a register's own edit of
   ``catalog`` (a bug) is refused by every node that has met it, even though registers may forward catalog.
   The node that made such a local edit does not send it (``LocalWriteRefused``).

What this cannot do: Yjs deletions carry no author, and client ids are only known for peers met directly,
so a *malicious* register could still forge catalog changes; registers are trusted as relays by design (they
hold the money anyway). The boundary that matters — a kds writing ledger or catalog — is enforced
unconditionally by rule 1.
"""

from meshpos.sync._bodies import statement_body
from meshpos.sync._budget import Allowance, PeerBudget, ReopenBudget, TokenBucket
from meshpos.sync._closed_said import STATED_CLOSED_DAYS
from meshpos.sync._codec import (
    DEFAULT_MAX_MESSAGE_SIZE,
    decode,
    decode_y_payload,
    encode,
    encode_doc_message,
    encode_y_payload,
)
from meshpos.sync._config import REPORTED_DAYS, SyncConfig
from meshpos.sync._election import Candidate, elect
from meshpos.sync._events import (
    AwarenessReceived,
    ClientIdAlarm,
    ClosedDayDeferred,
    DocumentChanged,
    LocalWriteRefused,
    PeerClosed,
    PeerGone,
    PeerJoined,
    PeerLive,
    RelayChanged,
    ReopenWanted,
    SyncEvent,
    UpdateRejected,
)
from meshpos.sync._features import FEATURES, FEATURES_HEADER, features_header, parse_features
from meshpos.sync._held_signed import (
    HELD_SIGNED_FEATURE,
    HeldCheck,
    HeldSignatureRefused,
    HeldSigner,
    SignedHeld,
    SignerNotValidNow,
    word_kind,
)
from meshpos.sync._messages import (
    PROTOCOL_VERSION,
    AwarenessUpdate,
    Bye,
    Chunk,
    DocMessage,
    Heartbeat,
    Hello,
    Message,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
)
from meshpos.sync._presence import PresenceTable
from meshpos.sync._rules import (
    FORWARD_RULES,
    WRITE_RULES,
    may_deliver,
    may_write,
)
from meshpos.sync._session import Session, SessionConfig
from meshpos.sync._signed import (
    SIGNED_FEATURE,
    ConsoleCheck,
    ConsoleSignatureRefused,
    ConsoleSigner,
    ConsoleStatement,
    SignedConsole,
    SignedTick,
    epoch_body,
    tick_body,
    unbase64,
)
from meshpos.sync._states import (
    TRANSITIONS,
    DocReceived,
    HeartbeatReceived,
    HelloReceived,
    SessionClosed,
    SessionEvent,
    State,
    SyncCompleted,
    Trigger,
)
from meshpos.sync._synchronizer import Synchronizer
from meshpos.sync._yjs import YjsSession, read_close

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FEATURES",
    "FEATURES_HEADER",
    "FORWARD_RULES",
    "HELD_SIGNED_FEATURE",
    "PROTOCOL_VERSION",
    "REPORTED_DAYS",
    "SIGNED_FEATURE",
    "STATED_CLOSED_DAYS",
    "TRANSITIONS",
    "WRITE_RULES",
    "Allowance",
    "AwarenessReceived",
    "AwarenessUpdate",
    "Bye",
    "Candidate",
    "Chunk",
    "ClientIdAlarm",
    "ClosedDayDeferred",
    "ConsoleCheck",
    "ConsoleSignatureRefused",
    "ConsoleSigner",
    "ConsoleStatement",
    "DocMessage",
    "DocReceived",
    "DocumentChanged",
    "Heartbeat",
    "HeartbeatReceived",
    "HeldCheck",
    "HeldSignatureRefused",
    "HeldSigner",
    "Hello",
    "HelloReceived",
    "LocalWriteRefused",
    "Message",
    "PeerBudget",
    "PeerClosed",
    "PeerGone",
    "PeerJoined",
    "PeerLive",
    "PresenceTable",
    "RelayChanged",
    "ReopenBudget",
    "ReopenWanted",
    "Session",
    "SessionClosed",
    "SessionConfig",
    "SessionEvent",
    "SignedConsole",
    "SignedHeld",
    "SignedTick",
    "SignerNotValidNow",
    "State",
    "SyncCompleted",
    "SyncConfig",
    "SyncEvent",
    "SyncStep1",
    "SyncStep2",
    "SyncUpdate",
    "Synchronizer",
    "TokenBucket",
    "Trigger",
    "UpdateRejected",
    "YjsSession",
    "decode",
    "decode_y_payload",
    "elect",
    "encode",
    "encode_doc_message",
    "encode_y_payload",
    "epoch_body",
    "features_header",
    "may_deliver",
    "may_write",
    "parse_features",
    "read_close",
    "statement_body",
    "tick_body",
    "unbase64",
    "word_kind",
]
