"""A stock Yjs client's session: plain y-protocols for one document, no hello (docs/architecture.md (Wire)).

A y-websocket provider (or any client of the y-protocols sync and awareness messages) opens
``/yjs/<document>`` on a node's mesh port (``meshpos.net.yjs`` authenticates it); the engine gives it a
:class:`YjsSession` in the synchronizer beside the mesh's sessions, so everything the mesh does to a
document (write rules, commit before forwarding, live forwarding, anti-entropy, closed days) applies to it
unchanged. What differs, and why:

* **No envelope, no hello, no heartbeats, no election.** Messages are the bare y-protocols ones
  (``0`` sync, ``1`` awareness, ``2`` auth, ``3`` query awareness). The session is live from the start
  and is not a peer: it joins no presence, is no device in the durability count (``stock``) and never
  reports :class:`~meshpos.sync.PeerLive` (a stock client with an empty document is not where a register
  learns its receipt numbers). It has no idle timeout (y-websocket sends nothing while nobody types);
  instead it sends an empty awareness update after :data:`KEEPALIVE` seconds of silence, because a
  y-websocket provider that hears nothing for 30 s drops the connection and reconnects.
* **No chunking towards the client.** y-websocket handles each websocket message as one y-protocols
  message, so a reply goes whole, however large.
* **Write rules by what the role may author.** A mesh peer may deliver what it may forward (a register
  carries the console's catalog); a stock client is not a relay, so it may send only what its role may
  write (:meth:`YjsSession.delivers`), and only to a node that carries the document on (a kds node
  forwards no ledger: a register's client writing one there would be stranded on it), never the
  deny-list (its entries are the venue authority's, pushed with ``meshpos revoke``). Anything else is refused as a mesh peer's would be (counted,
  logged once) and answered with the y-protocols permission-denied message; a client that may not write
  the document is never asked for it (a sync step 1's reply would carry its delete set, refused each time).
* **Client ids learnt from updates.** A stock client has no hello to announce its Yjs client id, and Yjs
  picks a new one when it meets a clash. A live update whose one author is new to the document (its
  first clock is 0) was written by that client: its id is learnt for the session's role
  (:meth:`YjsSession.learn`, at most :data:`MAX_CLIENT_IDS` per connection), so the authorship rule
  applies to it from then on.
* **Closes carry a websocket close code**: :func:`close_message` is an out-of-band message the network
  side turns into the close frame (4400 for a malformed message: y-websocket does not reconnect after
  4400-4499; 1008 past the budget and 1001 when the node stops, after which it does).
* **Awareness** is the y-websocket server's: each update goes to every client of the document on this
  node, the sender included; a newcomer gets the states known; a client's states are removed for the
  others when it leaves (:class:`Rooms`). Awareness does not cross the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshpos.errors import PeerAbusive, ProtocolError, RemoteProtocolError
from meshpos.lib0 import Reader, write_var_bytes, write_var_string, write_var_uint
from meshpos.model.documents import DENYLIST
from meshpos.sync._codec import Y_AWARENESS, Y_SYNC, decode_y_payload, encode_y_payload
from meshpos.sync._messages import (
    AwarenessUpdate,
    Digest,
    DocMessage,
    Heartbeat,
    Hello,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
)
from meshpos.sync._rules import may_deliver, may_write
from meshpos.sync._session import Session, SessionConfig
from meshpos.sync._states import DocReceived, SessionClosed, State, Trigger
from meshpos.sync._updates import EMPTY_UPDATE

Y_AUTH, Y_QUERY_AWARENESS = 2, 3
PERMISSION_DENIED = 0
#: the first byte of :func:`close_message`: no y-protocols message starts with it
CLOSE = 0xFF
#: seconds of silence after which a stock client is sent an empty awareness update (y-websocket drops a
#: connection that says nothing for 30 s)
KEEPALIVE = 10.0
#: client ids one connection may teach this node (Yjs changes its id only on a clash)
MAX_CLIENT_IDS = 16
#: awareness states one document's room keeps (beyond: forwarded, not kept for newcomers)
MAX_AWARENESS_STATES = 256
#: one awareness update (a user's name, colour and cursor is a few hundred bytes)
MAX_AWARENESS_BYTES = 64 * 2**10
#: close codes (y-websocket reconnects after any but 4400-4499)
CLOSE_MALFORMED = 4400
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001
STOCK_SOFTWARE = "yjs"  # what a stock client's session calls its software (it has no hello)
_EMPTY_AWARENESS = bytes([Y_AWARENESS]) + write_var_bytes(write_var_uint(0))


def close_message(code: int, reason: str) -> bytes:
    """Tell the network side to close with ``code`` and ``reason`` (never sent as a message)."""
    return bytes([CLOSE]) + code.to_bytes(2, "big") + reason.encode("utf-8")[:120]


def read_close(message: bytes) -> tuple[int, str] | None:
    """The (code, reason) of a :func:`close_message`, None for anything else."""
    if len(message) < 3 or message[0] != CLOSE:
        return None
    return int.from_bytes(message[1:3], "big"), message[3:].decode("utf-8", "replace")


def permission_denied(reason: str) -> bytes:
    """The y-protocols auth message ``permission denied`` (y-websocket logs its reason)."""
    return write_var_uint(Y_AUTH) + write_var_uint(PERMISSION_DENIED) + write_var_string(reason)


@dataclass
class _Room:
    """One document's stock clients on this node and the awareness states they published."""

    sessions: list[YjsSession] = field(default_factory=list)
    states: dict[int, tuple[int, str]] = field(default_factory=dict)  # client -> (clock, JSON)
    owner: dict[int, YjsSession] = field(default_factory=dict)  # client -> who published it


class Rooms:
    """Awareness among the stock clients of each document (y-websocket's server does the same)."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def join(self, session: YjsSession) -> None:
        """``session`` joins its document's room (again: a query for the states) and gets the states."""
        room = self._rooms.setdefault(session.doc, _Room())
        if session not in room.sessions:
            room.sessions.append(session)
        if room.states:
            session.send_raw(_awareness(room.states))

    def publish(self, session: YjsSession, update: bytes) -> None:
        """``update`` (validated by the codec) from ``session``: kept, and sent to every client."""
        room = self._rooms.get(session.doc)
        if room is None:
            return
        reader = Reader(update)
        for _ in range(reader.read_var_uint("awareness entry count")):
            client = reader.read_var_uint("awareness client id")
            clock = reader.read_var_uint("awareness clock")
            state = reader.read_var_string("awareness state")
            known = room.states.get(client)
            if known is not None and known[0] >= clock:
                continue
            if state == "null":
                room.states.pop(client, None)
                room.owner.pop(client, None)
            elif client in room.states or len(room.states) < MAX_AWARENESS_STATES:
                room.states[client] = (clock, state)
                room.owner[client] = session
        message = bytes([Y_AWARENESS]) + write_var_bytes(update)
        for other in room.sessions:
            other.send_raw(message)

    def leave(self, session: YjsSession) -> None:
        """``session`` closed: the others see its clients' states removed (y-websocket's server)."""
        room = self._rooms.get(session.doc)
        if room is None or session not in room.sessions:
            return
        room.sessions.remove(session)
        gone = {c: (room.states[c][0] + 1, "null") for c, s in room.owner.items() if s is session}
        for client in gone:
            del room.states[client], room.owner[client]
        if gone:
            for other in room.sessions:
                other.send_raw(_awareness(gone))
        if not room.sessions:
            del self._rooms[session.doc]


def _awareness(states: dict[int, tuple[int, str]]) -> bytes:
    body = write_var_uint(len(states)) + b"".join(
        write_var_uint(c) + write_var_uint(clock) + write_var_string(state)
        for c, (clock, state) in states.items()
    )
    return bytes([Y_AWARENESS]) + write_var_bytes(body)


class YjsSession(Session):
    """A stock Yjs client on one document (see the module docstring). ``name`` says who it is in
    logs and refusals (never a node id: it holds a ':'), ``role`` what it may write."""

    stock = True

    def __init__(
        self,
        local_hello: Hello,
        *,
        doc: str,
        name: str,
        role: str,
        rooms: Rooms,
        config: SessionConfig | None = None,
    ) -> None:
        super().__init__(local_hello, expected_role=role, config=config)
        self.doc = doc
        self.name = name
        self.role = role
        # what its role may author, on a node that carries it on (a kds node keeps no ledger); never
        # the deny-list, whose entries the venue's authority signs (``meshpos revoke`` pushes them)
        authors = may_write(role, doc) and doc != DENYLIST
        self.writable = authors and may_deliver(local_hello.role, doc)
        self.denied = (
            f"a {role} Yjs client may not write {doc}: nothing was changed"
            if not authors
            else f"this node is a {local_hello.role}, which does not carry {doc}: nothing was "
            "changed (connect to a register)"
        )
        self.client_ids: set[int] = set()  # learnt from its updates
        self._rooms = rooms
        self._last_out: float | None = None

    # --- the session surface ----------------------------------------------------------------------

    def open(self) -> None:
        """Live at once: the client speaks first (its sync step 1) and announces nothing."""
        self._move(Trigger.OPEN, remote=False)
        self._move(Trigger.HELLO_RECEIVED, remote=False)
        self._move(Trigger.SYNCED, remote=False)  # no SyncCompleted: it is not a peer (no PeerLive)
        self.peer = Hello(self.local_hello.venue, self.name, self.role, STOCK_SOFTWARE, 0)
        self._rooms.join(self)

    def delivers(self, doc: str) -> bool:
        return doc == self.doc and self.writable

    def learn(self, client: int, first_clock: int) -> bool:
        """Whether an update of ``client`` alone, starting at ``first_clock``, teaches this
        connection's client id (new to the document, within :data:`MAX_CLIENT_IDS`)."""
        if client in self.client_ids:
            return True
        if first_clock != 0 or len(self.client_ids) >= MAX_CLIENT_IDS:
            return False
        self.client_ids.add(client)
        return True

    def receive_data(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        self._received_since_tick = True
        try:
            self._charge(self._messages, "messages")
            self._stock_message(data)
        except RemoteProtocolError as exc:
            self.abort(exc)

    def receive_eof(self) -> None:
        was = self.state
        super().receive_eof()
        if was is not State.CLOSED:
            self._rooms.leave(self)

    def close(self, reason: str = "closing") -> None:
        if self.state is State.CLOSED:
            return
        self._move(Trigger.CLOSE, remote=False)
        self._held.clear()  # a client gets everything again when it reconnects
        self._out.append(close_message(CLOSE_GOING_AWAY, reason))
        self._events.append(SessionClosed(reason))
        self._rooms.leave(self)

    def abort(self, error: ProtocolError) -> None:
        if self.state is State.CLOSED:
            return
        self.error = error
        self._move(Trigger.CLOSE, remote=False)
        code = CLOSE_POLICY if isinstance(error, PeerAbusive) else CLOSE_MALFORMED
        self._held.clear()
        self._out.append(close_message(code, error.message))
        self._events.append(SessionClosed(error.message, error=error))
        self._rooms.leave(self)

    def tick(self, now: float) -> None:
        """No idle timeout (see the module docstring): keep the client's watchdog fed."""
        self._now = now
        if self._last_out is None:
            self._last_out = now
        elif self.state is State.LIVE and now - self._last_out >= KEEPALIVE:
            self._out.append(_EMPTY_AWARENESS)

    def data_to_send(self) -> list[bytes]:
        out = super().data_to_send()
        if out and self._now is not None:
            self._last_out = self._now
        return out

    def send(self, message: DocMessage | Heartbeat | Digest, *, free: bool = False) -> None:
        """Only this document's messages, bare and whole; a reader is never asked (sync step 1).
        What waits for a commit waits here too (``Session.send``)."""
        if isinstance(message, Heartbeat | Digest) or message.doc != self.doc:
            return
        if isinstance(message, SyncStep1) and not self.writable:
            return
        self._check_can_send(type(message).__name__)
        if free:
            self._out.append(encode_y_payload(message))
        else:
            self._queue(encode_y_payload(message))

    def send_raw(self, message: bytes) -> None:
        """A y-protocols message built elsewhere (awareness from :class:`Rooms`)."""
        if self.state is State.LIVE:
            self._out.append(message)

    # --- receiving --------------------------------------------------------------------------------

    def _stock_message(self, data: bytes) -> None:
        if len(data) > self.config.max_payload_size:
            raise RemoteProtocolError(
                f"message: {len(data)} bytes exceeds the limit of {self.config.max_payload_size}"
            )
        reader = Reader(data)
        kind = reader.read_var_uint("y-protocols message type")
        if kind in (Y_SYNC, Y_AWARENESS):
            self._doc_message(decode_y_payload(self.doc, data))
        elif kind == Y_QUERY_AWARENESS:
            reader.expect_end("query awareness")
            self._charge(self._awareness, "awareness updates")
            self._rooms.join(self)  # sends what the room knows
        elif kind != Y_AUTH:  # a client's auth message means nothing to a server: ignored
            raise RemoteProtocolError(f"y-protocols message type: unknown type {kind}")

    def _doc_message(self, message: DocMessage) -> None:
        if isinstance(message, AwarenessUpdate):
            self._charge(self._awareness, "awareness updates")
            if len(message.update) > MAX_AWARENESS_BYTES:  # kept for newcomers: bounded
                raise RemoteProtocolError(
                    f"awareness update: {len(message.update)} bytes exceeds {MAX_AWARENESS_BYTES}"
                )
            self._rooms.publish(self, message.update)
            return
        if isinstance(message, SyncStep2 | SyncUpdate):
            self._charge(self._update_bytes, "bytes of updates", len(message.update))
            if message.update != EMPTY_UPDATE and not self.writable:
                self._out.append(permission_denied(self.denied))
        self._events.append(DocReceived(message))
