"""The synchronizer: documents x peers, presence and election, driven by bytes and ``tick(now)``.

* Live updates: a change to a document (local, or applied from a peer) is sent to every other session
  past the hello except the one it came from, and reported as :class:`DocumentChanged` so the node can
  commit it to the store. The console drains :meth:`Synchronizer.events_received` (and commits) before
  :meth:`Synchronizer.data_to_send`, so a received update is durable before it is forwarded. A node
  (``forward_before_commit``) forwards an update a peer sent at once, its author committed it before it
  left; while anything is uncommitted, everything else waits in its session until the engine says the
  drain that takes it is committed
  (:class:`~meshpos.sync._commits.Commits`, :meth:`mark_committed`), so no step 1, heartbeat or reply
  tells a peer this device holds what it has not committed.
* Anti-entropy: every ``anti_entropy_interval`` each session gets a digest (a hash of each document's
  state, ``_digest``) and answers with a sync step 1 for each document whose hash differs; a peer without
  the feature (N−1) gets a sync step 1 for every document. The step 2 replies repair updates stuck
  behind a missing predecessor.
* Sync step 1 replies are bounded per peer, and received updates are checked against the write rules
  before anything is applied: see ``_exchange``. A later step 1, outside the reply interval, is answered in
  full as always (a peer that cleared its cache gets everything again at its next anti-entropy at the latest).
* Presence, the relay election and what the console holds travel in heartbeats: see ``_heartbeats``.
* Client ids: the synchronizer has one CRDT client id for this process run (all its documents use it). A
  peer that announces it, or an update that carries structs of it we never wrote, raises
  :class:`ClientIdAlarm` and is rejected.
* Shared documents: by default the synchronizer creates its own documents. A node whose domain model owns
  them (``meshpos.model.Replica``) passes ``doc_factory=replica.doc`` and ``client_id=replica.client_id``,
  so model and synchronizer share one ``Doc`` per name. Only documents opened here (``open_doc``, ``load``,
  or on a peer's request) are observed: the node opens a document before writing to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Subscription, TransactionEvent

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.documents import valid_document_name
from meshpos.model.roles import ROLES
from meshpos.model.tally import Tally
from meshpos.sync._anti_entropy import Digests
from meshpos.sync._budget import TokenBucket
from meshpos.sync._claims import ClaimRefusals
from meshpos.sync._closed import ClosedDays, _ClosedDoc
from meshpos.sync._commits import Commits
from meshpos.sync._config import SOFTWARE, SyncConfig
from meshpos.sync._deadlines import Deadlines
from meshpos.sync._events import (
    DocumentChanged,
    LocalWriteRefused,
    PeerClosed,
    PeerGone,
    PeerLive,
    SyncEvent,
)
from meshpos.sync._exchange import Exchange, _Loading, _Stored
from meshpos.sync._forwarding import Forwarding
from meshpos.sync._heartbeats import Heartbeats
from meshpos.sync._held import HeldTable
from meshpos.sync._joining import Joining
from meshpos.sync._lingering import Lingering
from meshpos.sync._messages import (
    AwarenessUpdate,
    Hello,
    SyncStep1,
)
from meshpos.sync._passing import ConsoleSent, PassingOn
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._rules import may_deliver, may_write
from meshpos.sync._session import Session
from meshpos.sync._spread import Spread
from meshpos.sync._stalls import Stalls
from meshpos.sync._states import (
    EXCHANGING,
    DigestReceived,
    DocReceived,
    HeartbeatReceived,
    HelloReceived,
    SessionClosed,
    State,
    SyncCompleted,
)
from meshpos.sync._updates import EMPTY_UPDATE
from meshpos.sync._yjs import Rooms

log = logging.getLogger("meshpos.sync")


class Synchronizer(
    ClosedDays,
    Exchange,
    Joining,
    Forwarding,
    Lingering,
    Spread,
    PassingOn,
    Heartbeats,
    Deadlines,
    Digests,
    Stalls,
):
    """Documents x peers for one node or the console; its parts are in ``_exchange`` (step 1 replies,
    received updates), ``_joining`` (sessions made, hellos checked, the first sync),
    ``_heartbeats`` (presence, election, the console's state), ``_closed``
    (closed business days), ``_forwarding`` (a change sent on along its author's tree),
    ``_spread`` (the bounded topology: links wanted, presence beyond them)
    ``_passing`` (the console's state passed on beyond the links), ``_attesting`` (attestations), ``_deadlines``
    (when ``tick`` is next due) and ``_anti_entropy`` (the round: digests, or step 1s)."""

    def __init__(
        self,
        *,
        venue: str,
        node_id: str,
        role: str,
        client_id: int,
        priority: int = 100,
        software: str = SOFTWARE,
        config: SyncConfig | None = None,
        doc_factory: Callable[[str], Doc[Any]] | None = None,
        forward_before_commit: bool = False,
    ) -> None:
        """``doc_factory(name)`` supplies the document for ``name`` (default: a new empty ``Doc`` with
        ``client_id``); every document it returns must use ``client_id``. ``forward_before_commit``:
        see the module docstring (the caller then reports its commits with :meth:`mark_committed`)."""
        if role not in ROLES:
            raise LocalProtocolError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        if not 1 <= client_id <= MAX_VAR_UINT:
            raise LocalProtocolError(f"client id {client_id} out of range")
        self.config = config or SyncConfig()
        self.hello = Hello(venue, node_id, role, software, client_id)
        self.priority = priority
        self._doc_factory = doc_factory
        self._docs: dict[str, Doc[Any]] = {}
        self._closed: dict[str, _ClosedDoc] = {}  # closed business days (``_closed``)
        self.parked_dropped = 0  # updates parked for a closed day, dropped over its bound
        self._parked_total = 0  # bytes parked for every closed day together
        self._opened_for: dict[str, str] = {}  # closed day opened on a peer's behalf -> the device
        self._reordered: dict[str, dict[int, int]] = {}  # (``_order_notes``: reordered)
        self._past_holes: dict[str, dict[int, bytes]] = {}  # (``_order_notes``: _report_past_holes)
        self._taken: dict[str, dict[bytes, None]] = {}  # (``_exchange``: _took)
        self._rejections_logged: set[tuple[str, str, str]] = set()  # (``_exchange``: _reject)
        self._reopen_rates: dict[str, TokenBucket] = {}  # device -> the days it made us open
        self._closed_asked: dict[str, dict[str, float]] = {}  # (``_closed``: heartbeats)
        self._subscriptions: dict[str, Subscription] = {}
        self._sessions: dict[str, Session] = {}
        self._events: list[SyncEvent] = []
        self._authors: dict[int, str] = {client_id: role}
        # client id -> the device that announced it ("" when two did): who wrote an acknowledgement
        self._author_devices: dict[int, str] = {client_id: node_id}
        self._stock_authors: set[int] = set()  # (``_exchange``: ids learnt from stock Yjs clients)
        self._applying: str | _Loading | _Stored | None = None
        self._presence = PresenceTable(
            self.config.heartbeat_interval * self.config.missed_heartbeats
        )
        self._far = FarTable()  # (``_spread``) every node, as the heartbeats' summaries tell it
        self._discovered: frozenset[str] = frozenset()
        self._rotation = 0
        self._news: dict[str, int | None] = {}  # far records to pass on at once (``_spread``)
        self._console_sent: dict[
            str, ConsoleSent
        ] = {}  # (``_passing``: the console's state passed on)
        self.claim_refusals = ClaimRefusals()  # peers' claims refused for a bound (``_claims``)
        self._welcomed: dict[str, int] = {}  # (``_passing``: far records sent to a new link)
        self._trigger = False  # news to pass on in a heartbeat at once (``_spread``)
        self._triggered_at = float("-inf")
        self._live_since: dict[str, float] = {}
        self._wanted_for: tuple[object, frozenset[str]] = (None, frozenset())
        self._refuted_seq = -1
        self._heard_candidates = False  # a topology peer named the best candidates (``_spread``)
        self._graph_for: tuple[object, dict[str, frozenset[str]]] = (None, {})
        self._trees: dict[str, tuple[str | None, frozenset[str]]] = {}  # (``_forwarding``)
        self._sends: dict[tuple[str | None, int | None], tuple[Session, ...]] = {}  # (_forwarding)
        self._sends_for: tuple[int, int, int, frozenset[str], int, int] | None = None
        self._clients_for: tuple[object, dict[int, str]] = (None, {})
        self._roles_for: tuple[object, dict[str, str]] = (None, {})
        self._shape_for: tuple[object, tuple[frozenset[str], frozenset[str]]] = (
            None,
            (frozenset(), frozenset()),
        )
        self._uplink = False
        self._relay_claim = False
        self._relay: str | None = None
        self._console_sv: dict[str, dict[int, int]] = {}
        self._console_rose = 0  # (``_heartbeats``, ``_passing``) rises of the console's state
        self._problem = ""  # why this node has no working console link (sent in heartbeats)
        self._console_live = False  # the relay's console link is in sync (``set_console_live``)
        self._unreported: tuple[int, str] = (0, "")  # the console's: records not in its reports
        self._reports: dict[str, Tally] = {}  # ledger document -> what the console's reports hold
        self._owed: dict[str, int] = {}  # our own records not in the console's reports, per kind
        # node -> document -> the state vector its latest sync step 1 said it holds (committed: a node
        # sends step 1s only after committing what it received); kept after the node goes away
        self._attested = HeldTable()  # (``_held``) what nodes beyond the links hold
        self._held_by = self._attested.step_ones  # (their moves counted with the attestations')
        self._attested_at: tuple[int, frozenset[str]] = (-1, frozenset())
        self._attested_again_at = -float("inf")  # (``_passing``) own attestations last re-sent
        self._now: float | None = None
        self.clock: Callable[[], float] | None = None  # (``_deadlines``)
        self.on_moved: Callable[[], None] | None = None  # (``_deadlines``)
        self._moved_for = (0, 0, 0)  # the status version last nudged for (``_deadlines``)
        self._said = 0  # (``_heartbeats``: ``status_version``)
        self._pending_for: dict[str, tuple[bytes, int, int]] = {}  # (``_heartbeats``: pending)
        self._elected_for: tuple[object, ...] = ()  # what the election last ran on (``_elect``)
        self._elected_at = float("-inf")  # and when
        self._started_at: float | None = None
        self._next_heartbeat = 0.0
        self._next_anti_entropy = 0.0
        self._hashes: dict[
            str, tuple[Doc[Any], bytes]
        ] = {}  # (``_anti_entropy``) by document, until it changes
        self._seq = 0
        self._opening_for_content = False  # open_doc for arriving content: ask peers after applying
        self._catching_up: str | None = None  # the session whose initial sync the others wait for
        self._held: dict[str, float] = {}  # sessions whose initial step 1s wait, since when
        self._reply_budgets: dict[
            str, TokenBucket
        ] = {}  # by device (certified ids: one per device)
        self._rooms = Rooms()  # stock Yjs clients' awareness, per document (``_yjs``)
        self.commits = Commits() if forward_before_commit else None
        self._lingering = {}  # (``_lingering``) our updates that may wait, by document
        self._depths = {}  # (``_exchange``, ``_depth``) how deep each document's types lie
        self._lazy = {}  # (``_lingering``) ... and those that wait on their own (a number's mark)

    # --- identity ---------------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.hello.node

    @property
    def role(self) -> str:
        return self.hello.role

    @property
    def client_id(self) -> int:
        return self.hello.client_id

    # --- documents --------------------------------------------------------------------------------

    @property
    def docs(self) -> dict[str, Doc[Any]]:
        return dict(self._docs)

    def open_doc(self, name: str) -> Doc[Any]:
        """The document ``name``, created empty (with our client id) or taken from ``doc_factory``.
        A closed business day is opened with :meth:`reopen` (from the store), never created empty."""
        doc = self._docs.get(name)
        if doc is None:
            if name in self._closed:
                raise LocalProtocolError(f"document {name!r} is closed: reopen it from the store")
            if not valid_document_name(name):
                raise LocalProtocolError(f"document name {name!r}: not a known document")
            if self._doc_factory is None:
                doc = Doc(client_id=self.client_id)
            else:
                doc = self._doc_factory(name)
                if name in self._docs:  # the factory's own hook opened it through us already
                    return self._docs[name]
                if doc.client_id != self.client_id:
                    raise LocalProtocolError(
                        f"document {name!r} uses client id {doc.client_id}, "
                        f"not the synchronizer's {self.client_id}"
                    )
            self._docs[name] = doc
            self.depths_of(name).feed(doc.get_update(), name)  # (a replica's: what it held)
            self._subscriptions[name] = doc.observe(lambda event: self._on_change(name, event))
            if not self._opening_for_content:
                for session in self._exchanging():
                    session.send(SyncStep1(name, doc.get_state()))
        return doc

    def drop_doc(self, name: str) -> None:
        """Forget ``name`` (clear cache): stop observing it; the next ``open_doc`` starts empty and
        asks every peer for it. A closed document is forgotten too (its parked messages with it)."""
        self.release_lingering()  # (``_lingering``) ours, committed: sent before it goes
        self._forget_closed(name)
        self._reordered.pop(name, None)
        self._past_holes.pop(name, None)
        self._taken.pop(name, None)
        self._hashes.pop(name, None)  # (it holds the document)
        self._pending_for.pop(name, None)
        self._depths.pop(name, None)
        doc = self._docs.pop(name, None)
        subscription = self._subscriptions.pop(name, None)
        if doc is not None and subscription is not None:
            doc.unobserve(subscription)

    def _on_change(self, name: str, event: TransactionEvent) -> None:
        self._hashes.pop(name, None)
        update = event.update
        origin = self._applying
        if update == EMPTY_UPDATE or isinstance(origin, _Loading):
            return
        if isinstance(origin, _Stored):
            self._events.append(DocumentChanged(name, update, None, stored=True))
            origin = None  # ours in every sense but the commit: sent to every session
        else:
            self._events.append(DocumentChanged(name, update, origin))
            if self.commits is not None:
                self.commits.undrained += 1  # what leaves from now on waits for its commit
        if origin is None and self._applying is None:  # a local write
            if not may_write(self.role, name):
                log.error("local write to %s refused: a %s may not write it", name, self.role)
                self._events.append(LocalWriteRefused(name, self.role))
                return
            self._took(name, update)  # an echo of it from a peer applies nothing
            self.depths_of(name).feed(update, name)  # (what a peer's items may name)
            if may_deliver(self.role, name) and (out := self._outgoing(name, update)) is not None:
                self._forward(name, out, None)  # (``_lingering``: or held, to leave merged)
            return
        if may_deliver(self.role, name):
            self._forward(name, update, origin)

    # --- sessions: the transport's surface --------------------------------------------------------

    def receive_data(self, peer: str, data: bytes) -> None:
        session = self._session(peer)
        if self.clock is not None:  # ticks are sparse (``_deadlines``): stamp arrivals with now
            self._now = self._resumed(self.clock())  # (``_stalls``: and its own stall)
            session.tick(self._now)
        session.receive_data(data)
        self._process(peer, session)
        self._nudge_if_moved(session)

    def receive_eof(self, peer: str) -> None:
        session = self._session(peer)
        session.receive_eof()
        self._process(peer, session)
        self._nudge_if_moved(session)

    def close(self, peer: str, reason: str = "closing") -> None:
        session = self._session(peer)
        session.close(reason)
        self._process(peer, session)
        self._nudge_if_moved(session)

    def data_to_send(self, peer: str) -> list[bytes]:
        """Messages for ``peer``; ``b""`` means close the transport. [] once a closed session is drained."""
        session = self._sessions.get(peer)
        if session is None:
            return []
        out = session.data_to_send()
        if session.state is State.CLOSED and not session.holding:
            del self._sessions[peer]
        return out

    def outgoing(self) -> list[str]:  # sessions :meth:`data_to_send` has anything for (or closed)
        return [peer for peer, session in self._sessions.items() if session.has_output]

    def send_awareness(self, doc: str, update: bytes) -> None:
        """Send a y-protocols awareness update for ``doc`` to every session past the hello."""
        for session in self._exchanging():
            session.send(AwarenessUpdate(doc, update))

    def events_received(self) -> list[SyncEvent]:
        """Drain the events (with ``forward_before_commit``: one more drain, :class:`Commits`)."""
        events, self._events = self._events, []
        if events:
            self._nudge_drained()  # the status hooks look at what it reports (``_deadlines``)
        commits = self.commits
        if commits is not None:
            commits.drained += 1
            if commits.undrained or any(
                isinstance(e, DocumentChanged) and not e.stored for e in events
            ):  # (changes reported past a hole come without an observer's call)
                commits.holding_drain = commits.drained
            commits.undrained = 0
        return events

    @property
    def has_events(self) -> bool:
        """Events wait for :meth:`events_received` (the engine pumps only then, or for a commit)."""
        return bool(self._events)

    @property
    def drained(self) -> int:
        """How many times :meth:`events_received` drained (0 without ``forward_before_commit``)."""
        return 0 if self.commits is None else self.commits.drained

    def mark_committed(self, drain: int, *, synced: bool = True) -> None:
        """Drain ``drain`` and all before are committed (``synced``: fsync'd too, what waits may go)."""
        if (commits := self.commits) is not None:
            commits.committed = max(commits.committed, drain)
            commits.synced = max(commits.synced, drain) if synced else commits.synced

    @property
    def sessions(self) -> dict[str, Session]:
        return dict(self._sessions)

    def _session(self, peer: str) -> Session:
        session = self._sessions.get(peer)
        if session is None:
            raise LocalProtocolError(f"no session {peer!r}")
        return session

    def _exchanging(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.state in EXCHANGING]

    def _process(self, peer: str, session: Session) -> None:
        while events := session.events_received():
            for event in events:
                if isinstance(event, SessionClosed):
                    node = session.peer.node if session.peer else None
                    self._events.append(PeerClosed(peer, node, event.reason, event.error))
                    self._held.pop(peer, None)
                    self._live_since.pop(peer, None)
                    if peer == self._catching_up:
                        self._release_held()
                    self._link_lost(session, event)
                    continue
                if session.state is State.CLOSED:
                    continue  # aborted while handling an earlier event of this batch
                try:
                    self._handle(peer, session, event)
                except RemoteProtocolError as exc:
                    session.abort(exc)
        if self._now is not None and self._should_trigger(self._now):
            self._send_beats()

    def _send_beats(self) -> None:
        beat = self._heartbeat()  # one for every session: pending counts are not free
        for session in self._exchanging():
            session.send(self._addressed(beat, session))

    def _handle(self, peer: str, session: Session, event: object) -> None:
        if isinstance(event, HelloReceived):
            self._on_hello(peer, session, event.hello)
        elif isinstance(event, DocReceived):
            self._on_doc(peer, session, event)
        elif isinstance(event, HeartbeatReceived):
            self._on_heartbeat(event.heartbeat)
        elif isinstance(event, DigestReceived):
            self._on_digest(session, event.digest)
        elif isinstance(event, SyncCompleted):
            assert session.peer is not None
            self._events.append(PeerLive(peer, session.peer.node))
            if peer == self._catching_up:
                self._release_held()

    # --- time ---------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance time: session timeouts, presence expiry, election, heartbeats, anti-entropy."""
        if self._started_at is None:
            self._started_at = now
            self._next_heartbeat = now
            self._next_anti_entropy = self._first_round(now)
        self._now = self._resumed(now)  # (``_stalls``: its own stall is not its peers' death)
        if self._linger_due is not None and now >= self._linger_due:
            self.release_due(now)
        for peer, session in list(self._sessions.items()):
            session.tick(now)
            self._process(peer, session)
            if session.replies and session.state in EXCHANGING:
                try:
                    self._reply_waiting(peer, session)
                except RemoteProtocolError as exc:
                    session.abort(exc)
                    self._process(peer, session)
        consoles = {n for n, beat in self._presence.beats().items() if beat.role == "console"}
        for node in self._presence.expire(now):
            self._events.append(PeerGone(node))
            if node not in consoles:
                self._declare_gone(node)  # silent: tell everyone, as a closed link would
        if self._held and now - min(self._held.values()) > 2 * self.config.heartbeat_interval:
            self._release_held()  # the first peer is slow to answer: ask everyone
        self._elect(now, beating=now >= self._next_heartbeat)
        if now >= self._next_heartbeat:
            self._next_heartbeat = self._beat_after(now)
            self._trigger = False
            self._expire_far(now)
            self._prune(now)
            self._send_beats()
        elif self._should_trigger(now):
            self._send_beats()
        if now >= self._next_anti_entropy:
            self._next_anti_entropy = self._round_after(now)
            self._anti_entropy()
