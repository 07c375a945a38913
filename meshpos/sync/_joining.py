"""The synchronizer's part of a peer joining: its session made, its hello checked, its first sync.

docs/architecture.md (Wire). A connection becomes a :class:`~meshpos.sync._session.Session`
(or a stock Yjs client's :class:`~meshpos.sync._yjs.YjsSession`); the peer's hello is checked against
the client ids we know (one CRDT client id per device and role, else :class:`ClientIdAlarm`), and it
shares its device's reply budget. The initial sync catches up from one peer first: the others are
asked once it is done (or slow), with what we hold by then, so they send only what it lacked.

Kept apart from ``_synchronizer`` (documents, the transport's surface, time) so each reads in one
sitting. A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.model.documents import valid_document_name
from meshpos.sync._budget import TokenBucket
from meshpos.sync._commits import Commits
from meshpos.sync._config import SyncConfig
from meshpos.sync._events import ClientIdAlarm, PeerJoined, SyncEvent
from meshpos.sync._messages import Heartbeat, Hello, SyncStep1
from meshpos.sync._session import Session
from meshpos.sync._states import EXCHANGING
from meshpos.sync._yjs import Rooms, YjsSession


class Joining:
    """Sessions made, hellos checked, the initial sync from one peer first (a mixin of
    ``Synchronizer``)."""

    config: SyncConfig
    hello: Hello
    commits: Commits | None
    _docs: dict[str, Doc[Any]]
    _sessions: dict[str, Session]
    _events: list[SyncEvent]
    _now: float | None
    _rooms: Rooms
    _authors: dict[int, str]
    _author_devices: dict[int, str]
    _reply_budgets: dict[str, TokenBucket]
    _catching_up: str | None
    _held: dict[str, float]

    if TYPE_CHECKING:

        @property
        def client_id(self) -> int: ...

        def _heartbeat(self) -> Heartbeat: ...

        def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat: ...

    def connect(
        self,
        peer: str,
        *,
        expected_role: str | None = None,
        expected_node: str | None = None,
        features: frozenset[str] = frozenset(),
    ) -> Session:
        """Start a session for a new connection named ``peer`` (any string unique per connection);
        ``features``: what the peer announced it can take (empty: N−1, sync/_features.py)."""
        if peer in self._sessions:
            raise LocalProtocolError(f"session {peer!r} already exists")
        session = Session(
            self.hello,
            expected_role=expected_role,
            expected_node=expected_node,
            config=self.config.session,
            peer_features=features,
        )
        self._sessions[peer] = session
        session.open()  # the hello goes at once: it claims nothing
        session.commits = self.commits
        if self._now is not None:
            session.tick(self._now)
        return session

    def connect_yjs(self, peer: str, *, doc: str, name: str, role: str) -> Session:
        """Start the session of a stock Yjs client on ``doc`` (``_yjs``): no hello, live at once,
        asked for ``doc`` like a peer that just said hello (unless ``doc`` is closed: its sync
        step 1 is answered from the closed day)."""
        if peer in self._sessions:
            raise LocalProtocolError(f"session {peer!r} already exists")
        if not valid_document_name(doc):
            raise LocalProtocolError(f"document name {doc!r}: not a known document")
        session = YjsSession(
            self.hello, doc=doc, name=name, role=role, rooms=self._rooms, config=self.config.session
        )
        self._sessions[peer] = session
        session.open()
        session.commits = self.commits
        if self._now is not None:
            session.tick(self._now)
        held = self._docs.get(doc)
        if held is not None:
            session.send(SyncStep1(doc, held.get_state()))
        return session

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
        device = self._author_devices.get(cid)
        self._author_devices[cid] = hello.node if device in (None, hello.node) else ""
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
