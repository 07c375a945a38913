"""The synchronizer: documents x peers, presence and election, driven by bytes and ``tick(now)``.

* Live updates: a change to a document (local, or applied from a peer) is sent to every other session
  past the hello except the one it came from, and reported as :class:`DocumentChanged` so the node can
  commit it to the store. The node drains :meth:`Synchronizer.events_received` (and commits) before
  :meth:`Synchronizer.data_to_send`, so a received update is durable before it is forwarded.
* Anti-entropy: every ``anti_entropy_interval`` each session gets a sync step 1 for every document; the
  step 2 replies repair updates stuck behind a missing predecessor.
* Sync step 1 replies are bounded per peer: at most one step 2 per document per ``reply_interval``. A
  step 1 arriving sooner is coalesced into the next reply (each client's lowest clock) and counted against
  the peer's budget (see ``_session``); that reply, sent from ``tick``, leaves out what the last one already
  carried (the stream is ordered: the peer holds it once the earlier reply arrives), so a flood of step 1s
  costs one reply, not one each. A later step 1, outside the interval, is answered in full as always (a
  peer that cleared its cache gets everything again at its next anti-entropy at the latest).
* Write rules (see ``_rules``): checked before anything is applied; a rejected update is logged, reported as
  :class:`UpdateRejected` and leaves the document unchanged.
* Client ids: the synchronizer has one CRDT client id for this process run (all its documents use it). A
  peer that announces it, or an update that carries structs of it we never wrote, raises
  :class:`ClientIdAlarm` and is rejected.
* Shared documents: by default the synchronizer creates its own documents. A node whose domain model owns
  them (``meshpos.model.Replica``) passes ``doc_factory=replica.doc`` and ``client_id=replica.client_id``,
  so model and synchronizer share one ``Doc`` per name. Only documents opened here (``open_doc``, ``load``,
  or on a peer's request) are observed: the node opens a document before writing to it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pycrdt import Doc, Subscription, TransactionEvent

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.documents import valid_document_name
from meshpos.model.replica import decode_state_vector, encode_state_vector
from meshpos.model.roles import ROLES
from meshpos.model.tally import Tally
from meshpos.sync._codec import (
    AwarenessUpdate,
    Heartbeat,
    Hello,
    PeerSummary,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
)
from meshpos.sync._election import Candidate, elect
from meshpos.sync._events import (
    AwarenessReceived,
    ClientIdAlarm,
    DocumentChanged,
    LocalWriteRefused,
    PeerClosed,
    PeerGone,
    PeerJoined,
    PeerLive,
    RelayChanged,
    SyncEvent,
    UpdateRejected,
)
from meshpos.sync._presence import PresenceTable
from meshpos.sync._rules import may_deliver, may_write
from meshpos.sync._session import (
    EXCHANGING,
    DocReceived,
    HeartbeatReceived,
    HelloReceived,
    ReplyState,
    Session,
    SessionClosed,
    SessionConfig,
    State,
    SyncCompleted,
    TokenBucket,
)
from meshpos.sync._updates import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    clear_of_structs_from,
    has_structs_from,
    header_authors,
    split_by_author,
)

log = logging.getLogger("meshpos.sync")

SOFTWARE = "meshpos/0.1.0"
REPORTED_DAYS = (
    14  # ledger days whose console reports a heartbeat carries (a few hundred bytes each)
)
# A step 2 this many clocks (about 100 kB of a day's records) behind, spread over several authors, goes as
# one update per author: the receiver checks each one's author from its header instead of decoding it all
# an extra time (tests/sync/test_sync_catchup.py).
SPLIT_STEP2_CLOCKS = 1000


@contextlib.contextmanager
def _invalid_update(what: str) -> Iterator[None]:
    """A peer's update that pycrdt (or our header reader) cannot decode: the peer's error, named."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException
        raise RemoteProtocolError(f"{what}: not a valid Yjs update ({exc})") from None


def _lowest(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """The state vector both ``a`` and ``b`` hold: each client's lower clock (absent: 0)."""
    return {c: min(n, b[c]) for c, n in a.items() if c in b}


def _highest(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """The state vector of ``a`` and ``b`` together: each client's higher clock."""
    return {c: max(a.get(c, 0), b.get(c, 0)) for c in a.keys() | b.keys()}


class _Loading:
    """Origin marker while documents are restored from the store: nothing is sent or reported."""


_LOADING = _Loading()


@dataclass(frozen=True, slots=True)
class SyncConfig:
    heartbeat_interval: float = 1.0
    missed_heartbeats: float = 2.5  # a peer is gone after this many heartbeat periods of silence
    anti_entropy_interval: float = 5.0
    settle_heartbeats: float = 2.0  # after start, listen this long before claiming the relay role
    session: SessionConfig = field(default_factory=SessionConfig)

    @classmethod
    def paced(cls, heartbeat_interval: float, max_message_size: int) -> SyncConfig:
        """Timeouts that scale with the heartbeat, as nodes and the console use them."""
        hb = heartbeat_interval
        return cls(
            heartbeat_interval=hb,
            anti_entropy_interval=5 * hb,
            session=SessionConfig(
                max_message_size=max_message_size,
                hello_timeout=max(10 * hb, 5.0),
                idle_timeout=max(5 * hb, 2.0),
                reply_interval=hb,
            ),
        )

    def __post_init__(self) -> None:
        if self.heartbeat_interval <= 0 or self.anti_entropy_interval <= 0:
            raise LocalProtocolError("intervals must be positive")
        if self.missed_heartbeats < 1 or self.settle_heartbeats < 0:
            raise LocalProtocolError("missed_heartbeats must be >= 1, settle_heartbeats >= 0")


class Synchronizer:
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
    ) -> None:
        """``doc_factory(name)`` supplies the document for ``name`` (default: a new empty ``Doc`` with
        ``client_id``); every document it returns must use ``client_id``."""
        if role not in ROLES:
            raise LocalProtocolError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        if not 1 <= client_id <= MAX_VAR_UINT:
            raise LocalProtocolError(f"client id {client_id} out of range")
        self.config = config or SyncConfig()
        self.hello = Hello(venue, node_id, role, software, client_id)
        self.priority = priority
        self._doc_factory = doc_factory
        self._docs: dict[str, Doc[Any]] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._sessions: dict[str, Session] = {}
        self._events: list[SyncEvent] = []
        self._authors: dict[int, str] = {client_id: role}
        self._applying: str | _Loading | None = None
        self._presence = PresenceTable(
            self.config.heartbeat_interval * self.config.missed_heartbeats
        )
        self._uplink = False
        self._relay_claim = False
        self._relay: str | None = None
        self._console_sv: dict[str, dict[int, int]] = {}
        self._problem = ""  # why this node has no working console link (sent in heartbeats)
        self._unreported: tuple[int, str] = (0, "")  # the console's: records not in its reports
        self._reports: dict[str, Tally] = {}  # ledger document -> what the console's reports hold
        self._owed: dict[str, int] = {}  # our own records not in the console's reports, per kind
        # node -> document -> the state vector its latest sync step 1 said it holds (committed: a node
        # sends step 1s only after committing what it received); kept after the node goes away
        self._held_by: dict[str, dict[str, dict[int, int]]] = {}
        self._now: float | None = None
        self._started_at: float | None = None
        self._next_heartbeat = 0.0
        self._next_anti_entropy = 0.0
        self._seq = 0
        self._opening_for_content = False  # open_doc for arriving content: ask peers after applying
        self._catching_up: str | None = None  # the session whose initial sync the others wait for
        self._held: dict[str, float] = {}  # sessions whose initial step 1s wait, since when
        self._reply_budgets: dict[
            str, TokenBucket
        ] = {}  # by device (certified ids: one per device)

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
        """The document ``name``, created empty (with our client id) or taken from ``doc_factory``."""
        doc = self._docs.get(name)
        if doc is None:
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
            self._subscriptions[name] = doc.observe(lambda event: self._on_change(name, event))
            if not self._opening_for_content:
                for session in self._exchanging():
                    session.send(SyncStep1(name, doc.get_state()))
        return doc

    def drop_doc(self, name: str) -> None:
        """Forget ``name`` (clear cache): stop observing it; the next ``open_doc`` starts empty and
        asks every peer for it."""
        doc = self._docs.pop(name, None)
        subscription = self._subscriptions.pop(name, None)
        if doc is not None and subscription is not None:
            doc.unobserve(subscription)

    def load(self, name: str, update: bytes) -> None:
        """Restore ``name`` from the durable store (not sent, not reported as a change).

        A shared ``Replica`` still captures the loaded update (as local): the node discards that capture.
        """
        doc = self.open_doc(name)
        self._applying = _LOADING
        try:
            doc.apply_update(update)
        finally:
            self._applying = None

    def _on_change(self, name: str, event: TransactionEvent) -> None:
        update = event.update
        origin = self._applying
        if update == EMPTY_UPDATE or isinstance(origin, _Loading):
            return
        self._events.append(DocumentChanged(name, update, origin))
        if origin is None and not may_write(self.role, name):
            log.error("local write to %s refused: a %s may not write it", name, self.role)
            self._events.append(LocalWriteRefused(name, self.role))
            return
        if may_deliver(self.role, name):
            source = self._peer_node(origin) if isinstance(origin, str) else None
            for peer, session in self._sessions.items():
                if peer == origin or session.state not in EXCHANGING:
                    continue
                if source is not None and self._linked(source, session):
                    continue  # the source sends it to that peer itself; anti-entropy covers a loss
                session.send(SyncUpdate(name, update))

    # --- sessions: the transport's surface --------------------------------------------------------

    def connect(
        self, peer: str, *, expected_role: str | None = None, expected_node: str | None = None
    ) -> Session:
        """Start a session for a new connection named ``peer`` (any string unique per connection)."""
        if peer in self._sessions:
            raise LocalProtocolError(f"session {peer!r} already exists")
        session = Session(
            self.hello,
            expected_role=expected_role,
            expected_node=expected_node,
            config=self.config.session,
        )
        self._sessions[peer] = session
        session.open()
        if self._now is not None:
            session.tick(self._now)
        return session

    def receive_data(self, peer: str, data: bytes) -> None:
        session = self._session(peer)
        session.receive_data(data)
        self._process(peer, session)

    def receive_eof(self, peer: str) -> None:
        session = self._session(peer)
        session.receive_eof()
        self._process(peer, session)

    def close(self, peer: str, reason: str = "closing") -> None:
        session = self._session(peer)
        session.close(reason)
        self._process(peer, session)

    def data_to_send(self, peer: str) -> list[bytes]:
        """Messages for ``peer``; ``b""`` means close the transport. [] once a closed session is drained."""
        session = self._sessions.get(peer)
        if session is None:
            return []
        out = session.data_to_send()
        if session.state is State.CLOSED:
            del self._sessions[peer]
        return out

    def send_awareness(self, doc: str, update: bytes) -> None:
        """Send a y-protocols awareness update for ``doc`` to every session past the hello."""
        for session in self._exchanging():
            session.send(AwarenessUpdate(doc, update))

    def events_received(self) -> list[SyncEvent]:
        events, self._events = self._events, []
        return events

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
                    if peer == self._catching_up:
                        self._release_held()
                    continue
                if session.state is State.CLOSED:
                    continue  # aborted while handling an earlier event of this batch
                try:
                    self._handle(peer, session, event)
                except RemoteProtocolError as exc:
                    session.abort(exc)

    def _handle(self, peer: str, session: Session, event: object) -> None:
        if isinstance(event, HelloReceived):
            self._on_hello(peer, session, event.hello)
        elif isinstance(event, DocReceived):
            self._on_doc(peer, session, event)
        elif isinstance(event, HeartbeatReceived):
            self._on_heartbeat(event.heartbeat)
        elif isinstance(event, SyncCompleted):
            assert session.peer is not None
            self._events.append(PeerLive(peer, session.peer.node))
            if peer == self._catching_up:
                self._release_held()

    def _on_hello(self, peer: str, session: Session, hello: Hello) -> None:
        cid = hello.client_id
        if cid == self.client_id:
            self._events.append(ClientIdAlarm(peer, hello.node, None, cid, "announced in hello"))
            raise RemoteProtocolError(f"hello: field 'client' is our own client id {cid}")
        known = self._authors.get(cid)
        if known is not None and known != hello.role:
            self._authors[cid] = ""  # two roles claim it: attribute it to none
            self._events.append(ClientIdAlarm(peer, hello.node, None, cid, "claimed by two roles"))
            raise RemoteProtocolError(f"hello: field 'client' {cid} is already used by a {known}")
        self._authors[cid] = hello.role
        bucket = self._reply_budgets.get(hello.node)
        if bucket is None:
            bucket = TokenBucket(self.config.session.budget.reply_bytes)
            self._reply_budgets[hello.node] = bucket
        session.share_reply_budget(bucket)
        self._events.append(PeerJoined(peer, hello.node, hello.role))
        state_vectors = {name: doc.get_state() for name, doc in self._docs.items()}
        if self._catching_up is None or hello.role == "console":
            if hello.role != "console":
                self._catching_up = peer
            session.begin_sync(state_vectors)
        else:  # catch up from one peer first: the others then send only what it lacked
            session.begin_sync(state_vectors, ask=False)
            self._held[peer] = self._now if self._now is not None else 0.0
        if session.state in EXCHANGING:
            session.send(self._addressed(self._heartbeat(), session))

    def _on_doc(self, peer: str, session: Session, event: DocReceived) -> None:
        message = event.message
        name = message.doc
        if isinstance(message, SyncStep1):
            doc = self._docs.get(name)
            if doc is None:
                # Nothing to give; ask back, and open the document only when content arrives. Opening
                # every name a peer mentions would let one peer make the whole mesh hold (and advertise
                # in every heartbeat) thousands of empty days.
                session.send(SyncStep2(name, EMPTY_UPDATE))
                session.send(SyncStep1(name, EMPTY_STATE_VECTOR))
                return
            try:  # the codec validated it; pycrdt's reader is stricter about nothing we know of
                asked = decode_state_vector(message.state_vector)
            except Exception as exc:
                raise RemoteProtocolError(f"sync step 1 for {name}: unusable ({exc})") from None
            if session.peer is not None and session.peer.role != "console":
                self._held_by.setdefault(session.peer.node, {})[name] = asked  # documents we hold
            last = session.replies.get(name)
            if last is not None and (
                last.waiting is not None
                or session.now - last.at < self.config.session.reply_interval
            ):
                session.charge_repeated_step1()
                last.waiting = asked if last.waiting is None else _lowest(last.waiting, asked)
            elif session.may_reply():
                self._reply(session, name, doc, asked, message.state_vector)
            else:  # the reply-bytes budget is spent: wait for it, like a repeated step 1
                session.replies[name] = ReplyState(-float("inf"), None, asked)
        elif isinstance(message, AwarenessUpdate):
            self._events.append(AwarenessReceived(peer, name, message.update))
        else:
            what = "sync step 2 update" if isinstance(message, SyncStep2) else "sync update"
            self._apply(peer, session, name, message.update, what)

    def _reply(
        self,
        session: Session,
        name: str,
        doc: Doc[Any],
        asked: dict[int, int],
        state_vector: bytes | None = None,
    ) -> None:
        """Send the sync step 2 for ``asked`` (its bytes when the peer sent them as they are)."""
        ours = decode_state_vector(doc.get_state())
        deliver = may_deliver(self.role, name)
        pieces = [EMPTY_UPDATE]
        if deliver:  # always a diff, even for a state vector like ours: it carries our deletions
            try:
                pieces = self._diff(doc, state_vector or encode_state_vector(asked))
            except Exception as exc:
                raise RemoteProtocolError(f"sync step 1 for {name}: unusable ({exc})") from None
        for piece in pieces[:-1]:
            session.send(SyncUpdate(name, piece))
        session.send(SyncStep2(name, pieces[-1]))  # last: the peer is in sync once it arrives
        session.spent_on_reply(sum(map(len, pieces)))
        session.replies[name] = ReplyState(session.now, ours if deliver else None)

    def _reply_waiting(self, session: Session) -> None:
        """Answer the coalesced step 1s whose interval is over, while the reply budget has room."""
        interval = self.config.session.reply_interval
        for name, last in list(session.replies.items()):
            if last.waiting is None or session.now - last.at < interval:
                continue
            if not session.may_reply():
                return
            doc = self._docs.get(name)
            if doc is None:  # dropped meanwhile (clear cache): nothing to give
                session.send(SyncStep2(name, EMPTY_UPDATE))
                del session.replies[name]
                continue
            # what the last reply carried, the peer holds once it arrives: leave it out
            asked = _highest(last.waiting, last.sent) if last.sent is not None else last.waiting
            self._reply(session, name, doc, asked)

    @staticmethod
    def _diff(doc: Doc[Any], state_vector: bytes) -> list[bytes]:
        """What a peer lacks: one update, or one per author when several wrote much (a catch-up)."""
        theirs = decode_state_vector(state_vector)
        clocks = decode_state_vector(doc.get_state())
        behind = {c: n - theirs.get(c, 0) for c, n in clocks.items() if n > theirs.get(c, 0)}
        if len(behind) > 1 and sum(behind.values()) >= SPLIT_STEP2_CLOCKS:
            return split_by_author(doc, theirs, behind, clocks)
        return [doc.get_update(state_vector)]

    def _apply(self, peer: str, session: Session, name: str, update: bytes, what: str) -> None:
        if update == EMPTY_UPDATE:
            return
        assert session.peer is not None
        node, role = session.peer.node, session.peer.role
        if not may_deliver(role, name):
            self._reject(peer, node, name, f"a {role} may not write {name}")
            return
        forbidden = {c: 0 for c, r in self._authors.items() if not may_write(r, name)}
        held = self._docs.get(name)
        clocks = decode_state_vector(held.get_state()) if held else {}
        ours = clocks.get(self.client_id, 0)
        checked = {**forbidden, self.client_id: ours}
        with _invalid_update(what):
            authors = header_authors(update)
        if held is not None and authors is not None and authors.isdisjoint(checked):
            self._open_and_apply(peer, name, update, what)  # the usual case: no decode before apply
            return
        with _invalid_update(
            what
        ):  # one decode: validates (before a new document opens), clears most
            clear = clear_of_structs_from(update, checked, self._authors.keys() | clocks.keys())
        if clear or not has_structs_from(update, checked):
            self._open_and_apply(peer, name, update, what)  # a client never seen: two more decodes
            return
        if has_structs_from(update, forbidden):
            self._reject(
                peer, node, name, "carries changes authored by a role that may not write it"
            )
            return
        if has_structs_from(update, {self.client_id: ours}):
            self._events.append(ClientIdAlarm(peer, node, name, self.client_id, "in an update"))
            self._reject(peer, node, name, "carries changes under our own client id")
            return
        self._open_and_apply(peer, name, update, what)

    def _open_and_apply(self, peer: str, name: str, update: bytes, what: str) -> None:
        new = name not in self._docs
        self._opening_for_content = new
        try:
            doc = self.open_doc(name)
        finally:
            self._opening_for_content = False
        self._applying = peer
        try:
            with _invalid_update(
                what
            ):  # pycrdt decodes the whole update before it changes anything
                doc.apply_update(update)
        finally:
            self._applying = None
        if new:
            # Ask for the rest only now: a step 1 sent when the document opened would carry an empty
            # state vector, and the peer that just delivered the whole day would send it all again.
            for session in self._exchanging():
                session.send(SyncStep1(name, doc.get_state()))

    def _release_held(self) -> None:
        """The first peer's initial sync is done (or gone): ask the others, with what we hold now."""
        self._catching_up = None
        held, self._held = self._held, {}
        if held:
            state_vectors = {name: doc.get_state() for name, doc in self._docs.items()}
            for peer in held:
                session = self._sessions.get(peer)
                if session is not None:
                    session.ask(state_vectors)

    def _peer_node(self, key: str) -> str | None:
        session = self._sessions.get(key)
        return session.peer.node if session is not None and session.peer is not None else None

    def _linked(self, source: str, session: Session) -> bool:
        """Does ``source`` have a live session with ``session``'s peer, as their heartbeats say?"""
        target = session.peer.node if session.peer is not None else None
        if target is None:
            return False
        live = self._presence.live
        return (source in live and target in live[source].peers) or (
            target in live and source in live[target].peers
        )

    def _reject(self, peer: str, node: str, doc: str, reason: str) -> None:
        log.warning("rejected update for %s from %s (%s): %s", doc, node, peer, reason)
        self._events.append(UpdateRejected(peer, node, doc, reason))

    # --- presence, election, console state --------------------------------------------------------

    def set_uplink(self, ok: bool) -> None:
        """Whether this node can reach the console right now (told by the relay layer)."""
        self._uplink = ok

    def set_console_state(self, doc: str, sv: dict[int, int]) -> None:
        """The console's state vector for ``doc`` (the relay learns it from the console)."""
        merged = self._console_sv.setdefault(doc, {})
        for client, clock in sv.items():
            merged[client] = max(clock, merged.get(client, 0))

    def set_problem(self, text: str) -> None:
        """Why this node has no working link to the console ("" when it has, or needs none): every
        peer gets it in the heartbeats, so every register can show the reason it is not green."""
        self._problem = text

    @property
    def problem(self) -> str:
        return self._problem

    def set_console_report(self, count: int, reason: str) -> None:
        """The console only: how many records it holds but cannot put in its reports, and why."""
        self._unreported = (count, reason) if count > 0 else (0, "")

    @property
    def console_report(self) -> tuple[int, str]:
        """Records at the console that are not in its reports, and why, as last told by the console
        or a relay ((0, "") when none). Kept when the relay changes: the next relay passes it on."""
        return self._unreported

    def set_console_reports(self, doc: str, reports: Tally) -> None:
        """What the console's reports hold of ``doc`` per register and kind (the console sets its own;
        everyone else learns it from the relay's heartbeats). Counts only grow: records are insert-only,
        so an older report passed on late never lowers them."""
        merged = self._reports.setdefault(doc, {})
        for register, counts in reports.items():
            mine = merged.setdefault(register, {})
            for kind, n in counts.items():
                mine[kind] = max(n, mine.get(kind, 0))

    def console_reports(self, doc: str) -> Tally:
        return self._reports.get(doc, {})

    def held_by(self, doc: str) -> dict[str, dict[int, int]]:
        """Per peer node, the state vector of ``doc`` it last said it holds (its anti-entropy and
        initial sync step 1s): what a receipt's durability on other devices is computed from."""
        return {node: docs[doc] for node, docs in self._held_by.items() if doc in docs}

    def console_state(self, doc: str) -> dict[int, int]:
        return dict(self._console_sv.get(doc, {}))

    def set_owed(self, owed: dict[str, int]) -> None:
        """Our own records the console's reports lack, per kind: told to every peer in our heartbeats."""
        self._owed = {kind: n for kind, n in owed.items() if n > 0}

    def pending(self, doc: str) -> int:
        """Clock units of ``doc`` this replica holds and the console does not (0: all at the console).

        Only documents this node's role can author count: a register's catalog came from the console,
        so it is never the register's pending change."""
        held = self._docs.get(doc)
        if held is None or not may_write(self.role, doc):
            return 0
        console = self._console_sv.get(doc, {})
        return sum(
            max(0, k - console.get(c, 0)) for c, k in decode_state_vector(held.get_state()).items()
        )

    @property
    def relay(self) -> str | None:
        """The relay in this node's current view."""
        return self._relay

    @property
    def is_relay(self) -> bool:
        return self._relay_claim

    @property
    def presence(self) -> dict[str, Heartbeat]:
        return self._presence.live

    def _on_heartbeat(self, heartbeat: Heartbeat) -> None:
        self._presence.observe(heartbeat, self._now if self._now is not None else 0.0)
        if heartbeat.relay or heartbeat.role == "console":
            for doc, sv in heartbeat.console.items():
                if doc in self._docs:  # a peer naming new days in every beat must not grow us
                    self.set_console_state(doc, sv)
            if self.role != "console":
                self._unreported = (heartbeat.unreported, heartbeat.unreported_reason)
            for doc, reports in heartbeat.reports.items():
                if doc in self._docs:  # (the next beat brings a day we open later)
                    self.set_console_reports(doc, reports)

    def _heartbeat(self) -> Heartbeat:
        self._seq += 1
        # the console tells what it cannot report; a relay passes it on; the others say nothing
        speaks = self.role == "console" or self._relay_claim
        unreported, reason = self._unreported if speaks else (0, "")
        return Heartbeat(
            node=self.node_id,
            role=self.role,
            priority=self.priority,
            uplink=self._uplink,
            relay=self._relay_claim,
            seq=self._seq,
            console=self._console_view(),
            pending={name: n for name in self._docs if (n := self.pending(name))},
            peers=tuple(sorted({s.peer.node for s in self._exchanging() if s.peer is not None})),
            problem=self._problem,
            unreported=unreported,
            unreported_reason=reason,
            reports=self._reports_view(),
            owed=dict(self._owed),
        )

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` as ``session`` gets it: to the console only (the relay's link), with each linked
        node's role and pending count, so the console can show every register."""
        peer = session.peer
        if peer is None or peer.role != "console" or self.role == "console":
            return beat
        mesh = {
            node: PeerSummary(hb.role, min(sum(hb.pending.values()), MAX_VAR_UINT))
            for node, hb in self._presence.live.items()
            if hb.role != "console" and node != self.node_id
        }
        return replace(beat, mesh=mesh)

    def _console_view(self) -> dict[str, dict[int, int]]:
        """What we tell peers the console holds: the console tells its own state, the relay
        passes on what the console told it, everyone else says nothing."""
        if self.role == "console":
            return {n: decode_state_vector(d.get_state()) for n, d in self._docs.items()}
        if self._relay_claim:
            return {d: dict(sv) for d, sv in self._console_sv.items()}
        return {}

    def _reports_view(self) -> dict[str, Tally]:
        """The console's reports as we pass them on (like :meth:`_console_view`): the latest
        ``REPORTED_DAYS`` ledger days, which cover every day a register still has open."""
        if self.role != "console" and not self._relay_claim:
            return {}
        latest = sorted(self._reports)[-REPORTED_DAYS:]
        return {doc: self._reports[doc] for doc in latest if self._reports[doc]}

    def _elect(self, now: float) -> None:
        assert self._started_at is not None
        settle = self.config.settle_heartbeats * self.config.heartbeat_interval
        if now - self._started_at < settle:
            return  # still learning who is out there: no opinion, no claim
        view = [
            Candidate(node, hb.priority, hb.uplink, hb.relay)
            for node, hb in self._presence.live.items()
            if node != self.node_id
        ]
        view.append(Candidate(self.node_id, self.priority, self._uplink, self._relay_claim))
        relay = elect(view)
        self._relay_claim = relay == self.node_id
        if relay != self._relay:
            self._relay = relay
            self._events.append(RelayChanged(relay, self._relay_claim))

    # --- time ---------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance time: session timeouts, presence expiry, election, heartbeats, anti-entropy."""
        if self._started_at is None:
            self._started_at = now
            self._next_heartbeat = now
            self._next_anti_entropy = now + self.config.anti_entropy_interval
        self._now = now
        for peer, session in list(self._sessions.items()):
            session.tick(now)
            self._process(peer, session)
            if session.replies and session.state in EXCHANGING:
                try:
                    self._reply_waiting(session)
                except RemoteProtocolError as exc:
                    session.abort(exc)
                    self._process(peer, session)
        for node in self._presence.expire(now):
            self._events.append(PeerGone(node))
        if self._held and now - min(self._held.values()) > 2 * self.config.heartbeat_interval:
            self._release_held()  # the first peer is slow to answer: ask everyone
        self._elect(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = max(self._next_heartbeat + self.config.heartbeat_interval, now)
            beat = self._heartbeat()  # one for every session: pending counts are not free
            for session in self._exchanging():
                session.send(self._addressed(beat, session))
        if now >= self._next_anti_entropy:
            self._next_anti_entropy = max(
                self._next_anti_entropy + self.config.anti_entropy_interval, now
            )
            for session in self._exchanging():
                for name, doc in self._docs.items():
                    session.send(SyncStep1(name, doc.get_state()))
