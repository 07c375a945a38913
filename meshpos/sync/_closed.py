"""Closed business days: documents the node keeps in its store, not in memory.

A closed ``ledger/<day>`` or ``kitchen/<day>`` is remembered only by its state vector and its delete set
(``doc.get_update(doc.get_state())``: no structs), a few hundred bytes. It costs no anti-entropy step 1, no
heartbeat field and no status tally; peers that hold the same content agree it is closed instead of
reopening it, and content it lacks still reaches it (docs/architecture.md (Documents)):

* a sync step 1 whose state vector equals ours is answered with a step 2 of our deletions; nothing opens;
* a step 1 that covers ours and has more gets the same step 2 and our own step 1 (what we hold), so the
  peer sends what we lack; that update reopens the document;
* a step 1 that lacks something we hold is parked until the document is open, and :class:`ReopenWanted`
  asks the node to open it (its store has the content);
* a non-empty update (live or step 2) is parked the same way; at most ``MAX_PARKED_BYTES`` per document
  (beyond that the parked updates are dropped and counted: anti-entropy sends them again once it is open).

Any enrolled device may send that for any day, and a day costs memory while it is open, so opening days for
peers is bounded (``SyncConfig.reopens``, :class:`~meshpos.sync._budget.ReopenBudget`): days open on
peers' behalf at once (from the ask until the day closes again), per device, and a rate per device, and the
bytes parked for all closed days together. A message past the budget is not kept (a step 1 that lacks
something gets our deletions only, and nobody is asked for more): :class:`ClosedDayDeferred` says which
bound and whose message, and the content comes again with anti-entropy once a day closes again (the
node's rule) and frees its place. A legitimate late register thus gets its days in a few at a time.

The node opens the document (``reopen``) with its stored update; what was parked is then handled as if it
had just arrived, in arrival order, for the sessions still exchanging (the write rules apply then).

What this cannot see: a state vector counts structs, not deletions, so a peer that differs from a closed
day only by a deletion it made (no new struct) gets our deletions but does not send its own until the day
opens here. A live update carries such a deletion and reopens the day; only a lost one leaves that gap,
and the next open of the day (a read) closes it.

What the console and the relay say of closed days in heartbeats and in the console's signed
statement is ``_closed_said`` (:class:`~meshpos.sync._closed_said.ClosedSaid`, a base of this mixin:
split out, nineteenth session, robust; behaviour unchanged).

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.model.documents import (
    is_kitchen,
    is_ledger,
    valid_document_name,
)
from meshpos.model.replica import decode_state_vector, encode_state_vector
from meshpos.sync._budget import TokenBucket
from meshpos.sync._closed_said import ClosedSaid
from meshpos.sync._config import SyncConfig
from meshpos.sync._dropped import answer_dropped, on_dropped_update
from meshpos.sync._events import (
    AwarenessReceived,
    ClosedDayDeferred,
    ReopenWanted,
    SyncEvent,
)
from meshpos.sync._exchange import _Loading, _Stored
from meshpos.sync._held import StepOnes
from meshpos.sync._messages import AwarenessUpdate, DocMessage, SyncStep1, SyncStep2
from meshpos.sync._rules import may_deliver
from meshpos.sync._session import Session
from meshpos.sync._states import EXCHANGING, DocReceived
from meshpos.sync._updates import EMPTY_UPDATE

#: updates parked for one closed document at most; beyond it they are dropped (and asked for again)
MAX_PARKED_BYTES = 4 * 2**20


@dataclass(slots=True)
class _ClosedDoc:
    state_vector: bytes
    deletions: bytes
    clocks: dict[int, int]
    parked: list[tuple[str, DocMessage]] = field(default_factory=list)  # (session, message)
    parked_bytes: int = 0
    wanted: bool = False  # ReopenWanted was emitted in this closed period
    dropped: bool = False  # its content is gone (``_dropped``): it never opens again


def _covers(theirs: dict[int, int], ours: dict[int, int]) -> bool:
    """Does ``theirs`` hold everything ``ours`` does (each client's clock at least as high)?"""
    return all(theirs.get(client, 0) >= clock for client, clock in ours.items())


def _holding(clocks: dict[int, int]) -> dict[int, int]:
    """A state vector without the clients it names at clock 0 (they hold nothing)."""
    return {client: clock for client, clock in clocks.items() if clock > 0}


class ClosedDays(ClosedSaid):
    """Closed documents: what is answered for them, what is parked (a mixin of ``Synchronizer``)."""

    _docs: dict[str, Doc[Any]]
    _events: list[SyncEvent]
    _sessions: dict[str, Session]
    _closed: dict[str, _ClosedDoc]
    _held_by: StepOnes
    _applying: str | _Loading | _Stored | None
    _opening_for_content: bool
    _now: float | None
    _parked_total: int
    _opened_for: dict[str, str]
    _reopen_rates: dict[str, TokenBucket]
    config: SyncConfig
    parked_dropped: int
    dropped_passed: int = 0  # updates for dropped days passed on to the console (``_dropped``)

    if TYPE_CHECKING:

        @property
        def role(self) -> str: ...

        def open_doc(self, name: str) -> Doc[Any]: ...

        def drop_doc(self, name: str) -> None: ...

        def apply_loaded(self, name: str, doc: Doc[Any], update: bytes) -> None: ...

        def _exchanging(self) -> list[Session]: ...

        def _on_doc(self, peer: str, session: Session, event: DocReceived) -> None: ...

        def _process(self, peer: str, session: Session) -> None: ...

        def _reject(self, peer: str, node: str, doc: str, reason: str) -> None: ...

    @property
    def closed_docs(self) -> frozenset[str]:
        return frozenset(self._closed)

    def is_closed(self, name: str) -> bool:
        return name in self._closed

    def reopen_failed(self, name: str) -> None:
        """The node could not open ``name`` (its store failed): the next message that needs its
        content asks again (:class:`ReopenWanted`)."""
        closed = self._closed.get(name)
        if closed is not None:
            closed.wanted = False
            self._opened_for.pop(name, None)  # its place in the reopen budget is free again

    def parked_bytes(self, name: str) -> int:
        """Bytes of updates parked for the closed ``name`` (at most ``MAX_PARKED_BYTES``)."""
        closed = self._closed.get(name)
        return closed.parked_bytes if closed is not None else 0

    @property
    def parked_total(self) -> int:
        """Bytes of updates parked for every closed day (at most ``config.reopens.parked_bytes``)."""
        return self._parked_total

    @property
    def opened_for_peers(self) -> dict[str, str]:
        """Closed days asked for, being opened or open on a peer's behalf, until they close again
        (day -> the device), within ``config.reopens``."""
        return dict(self._opened_for)

    def close_doc(self, name: str) -> tuple[bytes, bytes]:
        """Unload the open business day ``name`` and answer for it from now on from its state vector
        and deletions, which are returned (the node keeps them in its store)."""
        doc = self._docs.get(name)
        if doc is None:
            raise LocalProtocolError(f"cannot close {name!r}: it is not open")
        state_vector = doc.get_state()
        deletions = doc.get_update(state_vector)
        self.drop_doc(name)
        self.mark_closed(name, state_vector, deletions)
        for session in self._sessions.values():
            last = session.replies.get(name)
            if last is not None and last.waiting is None:  # (a waiting ask is answered closed)
                del session.replies[name]
        return state_vector, deletions

    def mark_closed(self, name: str, state_vector: bytes, deletions: bytes) -> None:
        """Record ``name`` as closed with its stored summary (at start-up, before anything opens)."""
        if not (is_ledger(name) or is_kitchen(name)) or not valid_document_name(name):
            raise LocalProtocolError(f"{name!r} is not a business day's document: it cannot close")
        if name in self._docs:
            raise LocalProtocolError(f"cannot mark {name!r} closed: it is open")
        try:
            clocks = _holding(decode_state_vector(state_vector))
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"closed {name!r}: stored {exc}") from None
        self._closed[name] = _ClosedDoc(state_vector, deletions, clocks)
        self._closed_moved += 1
        self._held_by.drop(name)  # held_by covers open documents only

    def mark_dropped(self, name: str) -> None:
        """The closed ``name``'s content is gone (``_dropped``): it never opens, nothing is parked."""
        closed = self._closed.get(name)
        if closed is None:
            raise LocalProtocolError(f"cannot mark {name!r} dropped: it is not closed")
        closed.dropped, closed.wanted = True, True  # (wanted: no ReopenWanted is ever emitted)
        self._parked_total -= closed.parked_bytes
        closed.parked, closed.parked_bytes = [], 0
        self._opened_for.pop(name, None)

    def closed_state(self, name: str) -> bytes | None:
        """The closed ``name``'s state vector, as it is answered for (None if it is not closed)."""
        closed = self._closed.get(name)
        return None if closed is None else closed.state_vector

    def is_dropped(self, name: str) -> bool:
        closed = self._closed.get(name)
        return closed is not None and closed.dropped

    def reopen(self, name: str, update: bytes | None) -> None:
        """Open the closed ``name`` from its stored ``update`` (not a change: nothing is sent or
        reported for it), answer what was parked, and ask every peer for what it holds beyond it."""
        closed = self._closed.pop(name, None)
        if closed is None or closed.dropped:
            if closed is not None:
                self._closed[name] = closed
            raise LocalProtocolError(f"cannot reopen {name!r}: it is not closed, or dropped")
        self._closed_moved += 1
        self._parked_total -= closed.parked_bytes
        self._opening_for_content = True
        try:
            doc = self.open_doc(name)
        finally:
            self._opening_for_content = False
        if update is not None:
            self.apply_loaded(name, doc, update)
        for peer, message in closed.parked:
            session = self._sessions.get(peer)
            if session is None or session.state not in EXCHANGING:
                continue  # gone: its node asks again (its step 1s) when it comes back
            try:
                self._on_doc(peer, session, DocReceived(message))
            except RemoteProtocolError as exc:
                session.abort(exc)
                self._process(peer, session)
        for session in self._exchanging():
            session.send(SyncStep1(name, doc.get_state()))

    def _on_closed_doc(self, peer: str, session: Session, message: DocMessage) -> None:
        """A message for a closed document (see the module docstring)."""
        name = message.doc
        closed = self._closed[name]
        if isinstance(message, AwarenessUpdate):
            self._events.append(AwarenessReceived(peer, name, message.update))
        elif isinstance(message, SyncStep1):
            try:
                asked = _holding(decode_state_vector(message.state_vector))
            except Exception as exc:
                raise RemoteProtocolError(f"sync step 1 for {name}: unusable ({exc})") from None
            if session.peer is not None and session.peer.role != "console" and not session.stock:
                now = self._now if self._now is not None else 0.0
                self._closed_asked.setdefault(session.peer.node, {})[name] = now
            self._answer_closed(peer, session, closed, asked, message)
        elif message.update != EMPTY_UPDATE and closed.dropped:
            assert not isinstance(message, SyncStep1 | AwarenessUpdate)
            on_dropped_update(self, peer, session, message)
        elif message.update != EMPTY_UPDATE:
            assert session.peer is not None
            if not session.delivers(name):  # refused at once, as when it is open
                reason = f"a {session.peer.role} may not write {name}"
                self._reject(peer, session.peer.node, name, reason)
                return
            node = session.peer.node
            refusal = None if closed.wanted else self._refusal(node)
            if refusal is not None:
                self._defer(peer, node, name, *refusal)
                return
            self._park(name, closed, peer, node, message, len(message.update))

    def _answer_closed(
        self, peer: str, session: Session, closed: _ClosedDoc, asked: dict[int, int], ask: SyncStep1
    ) -> None:
        name = ask.doc
        if closed.dropped:
            summary = closed.state_vector, closed.deletions, closed.clocks
            answer_dropped(self, session, summary, asked, name)
            return
        node = session.peer_name
        refusal = None if closed.wanted else self._refusal(node)
        if not _covers(asked, closed.clocks):  # the peer lacks something only our content holds
            if refusal is None:
                closed.parked = [(p, m) for p, m in closed.parked if not _same_ask(p, m, peer)]
                self._park(name, closed, peer, node, ask, 0)
                return
            self._defer(peer, node, name, *refusal)  # what we can give without it: deletions
        deletions = closed.deletions if may_deliver(self.role, name) else EMPTY_UPDATE
        if not session.may_reply():  # a flood of step 1s for closed days: the usual budget
            session.charge_repeated_step1()
        session.send(SyncStep2(name, deletions))
        session.spent_on_reply(len(deletions))
        if asked != closed.clocks and not closed.wanted and refusal is None:
            session.send(SyncStep1(name, closed.state_vector))  # the peer holds more: ask for it
            # (the answer reopens it; once that is under way, asking again would only park copies,
            # and past the reopen budget the answer would be deferred: asked again next round)

    def _answer_waiting(
        self, peer: str, session: Session, name: str, asked: dict[int, int]
    ) -> None:
        """A coalesced step 1 for a document closed since it arrived: answered as if it came now."""
        ask = SyncStep1(name, encode_state_vector(asked))
        self._answer_closed(peer, session, self._closed[name], _holding(asked), ask)

    def _park(
        self, name: str, closed: _ClosedDoc, peer: str, node: str, message: DocMessage, size: int
    ) -> None:
        """Keep ``message`` until ``name`` opens (within the parked bounds), and ask for it to open
        (on ``node``'s behalf: the caller checked the reopen budget)."""
        budget = self.config.reopens.parked_bytes
        if size and self._parked_total + size > budget:  # the day still opens: it asks again then
            self._defer(
                peer,
                node,
                name,
                "parked",
                f"{self._parked_total} bytes are parked for closed days (at most {budget})",
            )
        else:
            closed.parked.append((peer, message))
            closed.parked_bytes += size
            self._parked_total += size
        if closed.parked_bytes > MAX_PARKED_BYTES:
            kept: list[tuple[str, DocMessage]] = [
                (p, m) for p, m in closed.parked if isinstance(m, SyncStep1)
            ]
            dropped = len(closed.parked) - len(kept)
            self.parked_dropped += dropped
            self._parked_total -= closed.parked_bytes
            closed.parked, closed.parked_bytes = kept, 0
            reason = f"updates parked for {name} over {MAX_PARKED_BYTES} bytes dropped"
            self._defer(peer, node, name, "parked", reason, dropped)
        if not closed.wanted:
            bucket = self._reopen_rates.get(node)
            if bucket is None:
                bucket = self._reopen_rates[node] = TokenBucket(self.config.reopens.device_rate)
            bucket.take(self._now or 0.0)
            self._opened_for[name] = node
            closed.wanted = True
            self._events.append(ReopenWanted(name))

    def _refusal(self, node: str) -> tuple[str, str] | None:
        """Why ``node`` may not have one more closed day opened now (cause, in words), or None."""
        budget = self.config.reopens
        opened = len(self._opened_for)
        if opened >= budget.at_once:
            return "days", f"{opened} closed days are open for peers (at most {budget.at_once})"
        mine = sum(1 for device in self._opened_for.values() if device == node)
        if mine >= budget.per_device:
            return "device", f"{mine} closed days are open for it (at most {budget.per_device})"
        bucket = self._reopen_rates.get(node)
        if bucket is not None and bucket.refill(self._now or 0.0) < 1:
            rate = bucket.allowance
            return "device_rate", (
                f"it had {rate.burst:g} closed days opened lately (then one per {1 / rate.rate:g} s)"
            )
        return None

    def _defer(
        self, peer: str, node: str, name: str, cause: str, reason: str, count: int = 1
    ) -> None:
        """A message for the closed ``name`` is not kept (anti-entropy brings it again)."""
        self._events.append(ClosedDayDeferred(peer, node, name, cause, reason, count))

    def _forget_closed(self, name: str) -> None:
        """``name`` is dropped: what closing kept of it goes (its parked messages, its place in
        the reopen budget)."""
        closed = self._closed.pop(name, None)
        if closed is not None:
            self._parked_total -= closed.parked_bytes
            self._closed_moved += 1
        self._opened_for.pop(name, None)


def _same_ask(parked_peer: str, message: DocMessage, peer: str) -> bool:
    """A parked step 1 of ``peer``: its newer one replaces it (one ask per session is enough)."""
    return parked_peer == peer and isinstance(message, SyncStep1)
