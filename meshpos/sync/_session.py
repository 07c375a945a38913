"""Per-peer session: an explicit state table, bytes in, events and bytes out (no I/O, no clock).

The surface follows the ``websockets`` sans-I/O ``Protocol``: the transport calls :meth:`Session.receive_data`
with each whole websocket message and :meth:`Session.receive_eof` when the connection ends, then drains
:meth:`Session.events_received` and :meth:`Session.data_to_send` (an empty ``b""`` in the latter means "close
the transport now"). Time only enters through :meth:`Session.tick`.

Every session keeps its peer to a :class:`~meshpos.sync._budget.PeerBudget` (token buckets on ``tick``
time, see ``_budget``). A peer past one is aborted with :class:`~meshpos.errors.PeerAbusive` (logged once, as every abort is). The bytes of
sync step 2 replies have a budget too, per device (the Synchronizer shares one bucket among a device's
links), but spending it only makes further replies wait: an honest peer catching up on a large day is
slowed, never dropped.

States (``_states``) move only along :data:`TRANSITIONS` (``connecting -> hello -> syncing -> live -> closed``), in the
manner of h11: an illegal move raises :class:`LocalProtocolError` when we caused it and
:class:`RemoteProtocolError` when the peer did. A remote protocol error never escapes ``receive_data``: the
session closes (a ``Bye`` naming the error, then ``b""``) and reports a :class:`SessionClosed` carrying it.

A peer's chunked messages are reassembled by ``_chunks`` (**Changed** (issue 18, notices): moved there
from here, unchanged, when this module reached the structure test's 500 lines).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from meshpos.errors import (
    LocalProtocolError,
    PeerAbusive,
    PeerTimeout,
    ProtocolError,
    RemoteProtocolError,
)
from meshpos.sync._budget import PeerBudget, TokenBucket
from meshpos.sync._chunks import Reassembly
from meshpos.sync._codec import (
    BATCH,
    DEFAULT_MAX_MESSAGE_SIZE,
    HEARTBEAT,
    MIN_MAX_MESSAGE_SIZE,
    batch,
    decode,
    encode,
    encode_doc_message,
    unbatch,
)
from meshpos.sync._commits import Commits
from meshpos.sync._features import BATCH_FEATURE
from meshpos.sync._messages import (
    AwarenessUpdate,
    Bye,
    Chunk,
    Digest,
    DocMessage,
    Heartbeat,
    Hello,
    Message,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
)
from meshpos.sync._rules import may_deliver
from meshpos.sync._states import (
    EXCHANGING,
    TRANSITIONS,
    DigestReceived,
    DocReceived,
    HeartbeatReceived,
    HelloReceived,
    SessionClosed,
    SessionEvent,
    State,
    SyncCompleted,
    Trigger,
)

_HEARTBEAT_TYPE = bytes([HEARTBEAT])  # a heartbeat's first byte (``_codec``)
log = logging.getLogger("meshpos.sync")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE  # one websocket message, envelope included
    max_payload_size: int = 64 * 2**20  # one reassembled chunked y-protocols message
    hello_timeout: float = 10.0  # seconds from the first tick after open() to the peer's hello
    idle_timeout: float = 5.0  # seconds without any message (heartbeats arrive about every second)
    # at most one sync step 2 per document per this many seconds; step 1s in between are coalesced
    reply_interval: float = 1.0
    budget: PeerBudget = field(default_factory=PeerBudget)

    def __post_init__(self) -> None:
        if self.max_message_size < MIN_MAX_MESSAGE_SIZE:
            raise LocalProtocolError(f"max_message_size must be at least {MIN_MAX_MESSAGE_SIZE}")
        if self.max_payload_size < self.max_message_size:
            raise LocalProtocolError("max_payload_size must be at least max_message_size")
        if self.hello_timeout <= 0 or self.idle_timeout <= 0:
            raise LocalProtocolError("timeouts must be positive")
        if self.reply_interval < 0:
            raise LocalProtocolError("reply_interval must not be negative")


@dataclass(slots=True)
class ReplyState:
    """The last sync step 2 this session sent for one document, and the step 1s that arrived since (the
    Synchronizer's bookkeeping for coalescing; kept here so it ends with the session)."""

    at: float  # tick time it was sent
    # our state vector then: what the peer holds once it arrives (None: nothing was sent, we may not
    # deliver this document)
    sent: dict[int, int] | None
    waiting: dict[int, int] | None = None  # step 1s since, merged (each client's lowest clock)


class Session:
    """One connection to one peer. Create, :meth:`open`, then feed bytes and drain."""

    #: a stock Yjs client's session (``sync._yjs``): not a peer, and no device holding a copy
    stock = False
    #: state changes of every session in the process: what the synchronizer keeps per set of live
    #: sessions (``_forwarding``) holds while it stays (a count read with no call, not a scan)
    moves: ClassVar[int] = 0

    def __init__(
        self,
        hello: Hello,
        *,
        expected_role: str | None = None,
        expected_node: str | None = None,
        config: SessionConfig | None = None,
        peer_features: frozenset[str] = frozenset(),
    ) -> None:
        self.local_hello = hello
        # what the peer announced in the websocket upgrade (sync/_features.py); empty: an N−1 peer,
        # sent only what N−1 accepts
        self.peer_features = peer_features
        # the role and device id in the peer's certificate, when the transport knows them
        self.expected_role = expected_role
        self.expected_node = expected_node
        self.config = config or SessionConfig()
        self.peer: Hello | None = None
        self.error: ProtocolError | None = None
        self._state = State.CONNECTING
        self._events: list[SessionEvent] = []
        self._out: list[bytes] = []
        # (:class:`Commits`, set by the Synchronizer) messages waiting for a commit, with its drain
        self.commits: Commits | None = None
        self._held: collections.deque[tuple[int, bytes]] = collections.deque()
        self._awaiting_step2: set[str] = set()
        self._chunks = Reassembly(self.config.max_payload_size)
        budget = self.config.budget
        self._messages = TokenBucket(budget.messages)
        self._heartbeats = TokenBucket(budget.heartbeats)
        self._heartbeat_bytes = TokenBucket(budget.heartbeat_bytes)
        self._awareness = TokenBucket(budget.awareness)
        self._update_bytes = TokenBucket(budget.update_bytes)
        self._repeated_step1 = TokenBucket(budget.repeated_step1)
        self._reply_bytes = TokenBucket(budget.reply_bytes)
        self._words = TokenBucket(budget.signed_words)
        self.replies: dict[str, ReplyState] = {}  # by document: see ReplyState
        self._opened_at: float | None = None
        self._last_received: float | None = None
        self._received_since_tick = False
        self._now: float | None = None

    # --- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def _move(self, trigger: Trigger, *, remote: bool) -> None:
        new = TRANSITIONS.get((self._state, trigger))
        if new is None:
            error = RemoteProtocolError if remote else LocalProtocolError
            raise error(f"session: {trigger.value!r} is not allowed in state {self._state.value!r}")
        self._state = new
        Session.moves += 1

    # --- the websockets-shaped surface ------------------------------------------------------------

    def open(self) -> None:
        """Start: queue our hello. The transport calls this once its connection is up."""
        self._move(Trigger.OPEN, remote=False)
        self._out.append(encode(self.local_hello, self.peer_features))

    def still_reading(self) -> None:
        """The owner is still taking in what the peer sent (the console commits a relay's batch
        before it reads the next one): the peer is not silent, so the idle timeout waits."""
        self._received_since_tick = True

    def receive_data(self, data: bytes) -> None:
        """Feed one whole message. Never raises for anything the peer sent."""
        if self._state is State.CLOSED:
            return  # like websockets: data after the close is discarded
        if self._state is State.CONNECTING:
            raise LocalProtocolError("session: receive_data() before open()")
        self._received_since_tick = True
        limit = self.config.max_message_size
        try:
            batched = len(data) > 1 and data[0] == BATCH and len(data) <= limit
            for message in unbatch(data) if batched else (data,):  # each charged as if alone
                self._charge(self._messages, "messages")
                if message[:1] == _HEARTBEAT_TYPE:  # before it is decoded: its JSON is the cost
                    self._charge(self._heartbeat_bytes, "bytes of heartbeats", len(message))
                self._handle(decode(message, limit))  # (no hello or bye in a batch: unbatch)
        except RemoteProtocolError as exc:
            self.abort(exc)

    def receive_eof(self) -> None:
        """The connection ended without a Bye."""
        if self._state is State.CLOSED:
            return
        self._move(Trigger.CLOSE, remote=True)
        self._events.append(SessionClosed("connection lost", by_peer=True))
        self._held.clear()  # nowhere to send them
        self._out.append(b"")

    def events_received(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """What may leave now: everything queued, except what waits for a commit (:class:`Commits`)."""
        held, commits = self._held, self.commits
        if held and commits is not None:
            while held and held[0][0] <= commits.synced:
                self._out.append(held.popleft()[1])
        out, self._out = self._out, []
        if len(out) > 1 and BATCH_FEATURE in self.peer_features:
            return batch(out, self.config.max_message_size)  # one websocket message, not one each
        return out

    @property
    def has_output(self) -> bool:
        """Whether :meth:`data_to_send` may return anything now, or the session is closed (to be let
        go of): a flush asks each session this, not for its messages (issue 18, receive)."""
        if self._out or self._state is State.CLOSED:
            return True
        held, commits = self._held, self.commits
        return bool(held) and commits is not None and held[0][0] <= commits.synced

    @property
    def holding(self) -> bool:
        """Messages wait for a commit (a closed session is kept until they are out)."""
        return bool(self._held)

    def _queue(self, data: bytes) -> None:
        """Queue ``data`` to leave once what the documents took before it is committed, in order with
        every message queued so (a forwarded update alone may pass them: :meth:`send`)."""
        gate = 0 if self.commits is None else self.commits.hold()
        if gate == 0 and not self._held:
            self._out.append(data)
        else:
            self._held.append((gate, data))

    def close(self, reason: str = "closing") -> None:
        """Close from our side: queue a Bye and the end of the transport, behind what waits for a
        commit (a local write's update still goes out). Closing twice is a no-op."""
        if self._state is State.CLOSED:
            return
        self._move(Trigger.CLOSE, remote=False)
        self._queue(encode(Bye(reason)))
        self._queue(b"")
        self._events.append(SessionClosed(reason))

    def abort(self, error: ProtocolError) -> None:
        """Close because of a protocol error; the Bye tells the peer what was wrong."""
        if self._state is State.CLOSED:
            return
        log.warning("closing session with %s: %s", self.peer_name, error.message)
        self.error = error
        self._move(Trigger.CLOSE, remote=False)
        self._held.clear()  # a broken peer is told at once; it gets the rest when it syncs again
        self._out.append(encode(Bye(f"{error.code}: {error.message}")))
        self._out.append(b"")
        self._events.append(SessionClosed(error.message, error=error))

    def tick(self, now: float) -> None:
        """Advance time: enforce the hello and idle timeouts."""
        self._now = now
        if self._state is State.CLOSED or self._state is State.CONNECTING:
            return
        if self._opened_at is None:
            self._opened_at = now
        if self._received_since_tick or self._last_received is None:
            self._last_received = now if self._received_since_tick else self._opened_at
            self._received_since_tick = False
        if self._state is State.HELLO and now - self._opened_at > self.config.hello_timeout:
            self.abort(PeerTimeout(f"hello: none within {self.config.hello_timeout:g} s"))
        elif self._state in EXCHANGING and now - self._last_received > self.config.idle_timeout:
            self.abort(PeerTimeout(f"idle: nothing received for {self.config.idle_timeout:g} s"))

    def shift(self, since: float, stall: float) -> None:
        """This node's loop stalled ``stall`` seconds from ``since`` (``_stalls``): the hello and idle
        timeouts count the node's running time, not the time it read nothing because it did not run."""
        if self._opened_at is not None and self._opened_at <= since:
            self._opened_at += stall
        if self._last_received is not None and self._last_received <= since:
            self._last_received += stall

    # --- the peer's budget ------------------------------------------------------------------------

    def delivers(self, doc: str) -> bool:
        """May this peer send us updates of ``doc`` (the write rules' delivery, ``_rules``)?"""
        return self.peer is not None and may_deliver(self.peer.role, doc)

    def learn(self, client: int, first_clock: int) -> bool:
        """Whether an update of ``client`` alone teaches its client id: a peer's came in its hello."""
        return False

    @property
    def now(self) -> float:
        """The last ``tick`` time (0 before the first)."""
        return self._now if self._now is not None else 0.0

    def _charge(self, bucket: TokenBucket, what: str, amount: int = 1) -> None:
        if not bucket.take(self.now, amount):
            shape = bucket.allowance
            raise PeerAbusive(
                f"abusive: more {what} than the budget of {shape.burst:g} at once "
                f"and {shape.rate:g} a second"
            )

    def charge_repeated_step1(self) -> None:
        """Count a sync step 1 whose reply is still due; PeerAbusive past the budget (then abort)."""
        self._charge(self._repeated_step1, "repeated sync step 1s")

    def share_reply_budget(self, bucket: TokenBucket) -> None:
        """Spend the reply-bytes budget from ``bucket`` (one per device: relinking does not refill it)."""
        self._reply_bytes = bucket

    def may_reply(self) -> bool:
        """Whether the reply-bytes budget has room (a reply may overdraw it once)."""
        return self._reply_bytes.refill(self.now) > 0

    def spent_on_reply(self, size: int) -> None:
        self._reply_bytes.refill(self.now)
        self._reply_bytes.tokens -= size

    # --- sending ----------------------------------------------------------------------------------

    @property
    def peer_name(self) -> str:
        return self.peer.node if self.peer is not None else "(no hello yet)"

    def _check_can_send(self, what: str) -> None:
        if self._state not in EXCHANGING:
            raise LocalProtocolError(f"session: cannot send {what} in state {self._state.value!r}")

    def send(self, message: DocMessage | Heartbeat | Digest, *, free: bool = False) -> None:
        """Queue a document message (chunked if needed) or a heartbeat. ``free``: an update a peer
        sent, forwarded as it came, which leaves at once, before messages that wait for a commit
        (:class:`Commits`); anything else waits for the commit of what the documents took before it."""
        self._check_can_send(type(message).__name__)
        if isinstance(message, Heartbeat | Digest):
            data = [encode(message, self.peer_features)]
        else:
            data = encode_doc_message(message, self.config.max_message_size)
        if free:
            self._out.extend(data)  # a chunked message's chunks stay together in either queue
        else:
            for piece in data:
                self._queue(piece)

    def send_encoded(self, data: list[bytes], *, free: bool = False) -> None:
        """Queue a document message already encoded for this session (``encode_doc_message`` with its
        ``config.max_message_size``), as :meth:`send` would: a forwarded change is encoded once and
        the same bytes go to every link (``_forwarding``). Mesh sessions only: a stock Yjs client's
        session (``stock``) speaks plain y-protocols and is sent the message itself."""
        self._check_can_send("SyncUpdate")
        if free:
            self._out.extend(data)
        else:
            for piece in data:
                self._queue(piece)

    def begin_sync(self, state_vectors: Mapping[str, bytes], *, ask: bool = True) -> None:
        """Send the initial sync step 1 for every document; live once each has its step 2.

        ``ask=False`` opens the exchange but holds the step 1s back until :meth:`ask`: a node that
        catches up asks one peer first, then the others with what it has by then, so only one peer
        sends it the backlog. The session stays ``syncing`` (not in sync) until then."""
        self._check_can_send("the initial sync")
        for doc, sv in state_vectors.items():
            self._awaiting_step2.add(doc)
            if ask:
                self.send(SyncStep1(doc, sv))
        self._maybe_live()

    def ask(self, state_vectors: Mapping[str, bytes]) -> None:
        """Send the held-back initial step 1s (see :meth:`begin_sync`), with current state vectors."""
        if self._state is not State.SYNCING:
            return
        for doc in sorted(self._awaiting_step2):
            if doc in state_vectors:
                self.send(SyncStep1(doc, state_vectors[doc]))
            else:
                self._awaiting_step2.discard(doc)  # dropped meanwhile (clear cache)
        self._maybe_live()

    @property
    def awaiting(self) -> frozenset[str]:
        return frozenset(self._awaiting_step2)

    def device_peer(self, feature: str) -> Hello | None:
        """The peer's hello if it is a mesh device (not the console, not a stock Yjs client) that
        announced ``feature``: who the heartbeat's optional fields go to; else None."""
        peer = self.peer
        if (
            peer is None
            or peer.role == "console"
            or self.stock
            or feature not in self.peer_features
        ):
            return None
        return peer

    def _maybe_live(self) -> None:
        if self._state is State.SYNCING and not self._awaiting_step2:
            self._move(Trigger.SYNCED, remote=False)
            self._events.append(SyncCompleted())

    # --- receiving --------------------------------------------------------------------------------

    def _handle(self, message: Message) -> None:
        if isinstance(message, Hello):
            self._move(Trigger.HELLO_RECEIVED, remote=True)
            self._check_hello(message)
            self.peer = message
            self._events.append(HelloReceived(message))
            return
        if isinstance(message, Bye):
            self._move(Trigger.CLOSE, remote=True)
            self._events.append(SessionClosed(f"peer said bye: {message.reason}", by_peer=True))
            self._held.clear()  # it is leaving: it gets them when it syncs again
            self._out.append(b"")
            return
        if self._state not in EXCHANGING:
            raise RemoteProtocolError(
                f"session: {type(message).__name__} received before the peer's hello"
            )
        if isinstance(message, Heartbeat):
            assert self.peer is not None
            if message.node != self.peer.node or message.role != self.peer.role:
                raise RemoteProtocolError(
                    f"heartbeat: node/role {message.node}/{message.role} differ from the hello's "
                    f"{self.peer.node}/{self.peer.role}"
                )
            self._charge(self._heartbeats, "heartbeats")
            self._charge(self._words, "devices' signed attestations", message.signed_words)
            self._events.append(HeartbeatReceived(message))
        elif isinstance(message, Digest):  # one a period: it shares the heartbeats' budget
            self._charge(self._heartbeats, "heartbeats and digests")
            self._events.append(DigestReceived(message))
        elif isinstance(message, Chunk):
            whole = self._chunks.take(message)
            if whole is not None:
                self._doc_message(whole)
        else:
            self._doc_message(message)

    def _doc_message(self, message: DocMessage) -> None:
        if isinstance(message, AwarenessUpdate):
            self._charge(self._awareness, "awareness updates")
        elif isinstance(message, SyncStep2 | SyncUpdate):
            self._charge(self._update_bytes, "bytes of updates", len(message.update))
        self._events.append(DocReceived(message))
        if isinstance(message, SyncStep2):
            self._awaiting_step2.discard(message.doc)
            self._maybe_live()

    def _check_hello(self, hello: Hello) -> None:
        ours = self.local_hello
        if hello.venue != ours.venue:
            raise RemoteProtocolError(
                f"hello: field 'venue' is {hello.venue!r}, ours is {ours.venue!r}"
            )
        if hello.node == ours.node:
            raise RemoteProtocolError(f"hello: field 'node' is our own node id {ours.node!r}")
        if self.expected_node is not None and hello.node != self.expected_node:
            raise RemoteProtocolError(
                f"hello: field 'node' is {hello.node!r} but the certificate says {self.expected_node!r}"
            )
        if self.expected_role is not None and hello.role != self.expected_role:
            raise RemoteProtocolError(
                f"hello: field 'role' is {hello.role!r} but the certificate says {self.expected_role!r}"
            )
