"""The synchronizer's document exchange: what peers send (step 1s, answered in ``_replies``; updates).

* Received updates are checked against the write rules (``_rules``) and the authors announced in hellos
  before anything is applied; a rejected update leaves the document unchanged.
* An update of one author that arrives ahead of its author's order (its first clock beyond what the
  document holds, read off its header) is not applied: the peer is asked (sync step 1) for what we lack
  and sends it in order (:meth:`Exchange._ahead_of_order` says why). A catch-up of several authors that
  the document does not hold whole in order once applied is noted (``_order_notes``: ``reordered``): pycrdt
  misses some nested changes after such a delivery, so a live count of the document (``model.tally``) is
  checked afresh after that only, not after every change.
* **Changed** (outside, attacker, the twenty-third session): before any of that, the update's shape is
  read (``_shape.check_update``): a value nested deeper than 64 closes the link, since pycrdt decodes
  it recursively on the native stack and one such update of 60 kB killed the process (SIGSEGV) here,
  where no error can be caught. **Changed** (deep, the twenty-fourth session): then the document's
  depth index (``_depth``): yrs deletes nested shared types recursively too, so an update that would
  put a shared type deeper than 64, with what the document holds, closes the link; what it read is kept
  once the update is applied. Loads, reopened days, another console process's updates and our own
  writes feed it as well (:meth:`Exchange.depths_of`).

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pycrdt import Doc, get_update

from meshpos.errors import RemoteProtocolError
from meshpos.model.documents import is_kitchen
from meshpos.model.kitchen import HELD, held_device
from meshpos.model.replica import decode_state_vector
from meshpos.sync._config import SyncConfig
from meshpos.sync._depth import Depths, Staged
from meshpos.sync._events import (
    AwarenessReceived,
    ClientIdAlarm,
    DocumentChanged,
    SyncEvent,
    UpdateRejected,
)
from meshpos.sync._held import StepOnes
from meshpos.sync._messages import AwarenessUpdate, DocMessage, SyncStep1, SyncStep2
from meshpos.sync._order_notes import OrderNotes
from meshpos.sync._replies import Replies, _lowest
from meshpos.sync._rules import may_write
from meshpos.sync._session import ReplyState, Session
from meshpos.sync._shape import check_update
from meshpos.sync._states import DocReceived
from meshpos.sync._structs import new_keys_by_author
from meshpos.sync._updates import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    TOO_MANY_CLIENTS,
    clear_of_structs_from,
    clients_past_bound,
    has_structs_from,
    header_authors,
    header_start,
    held_state,
    new_authors,
)

log = logging.getLogger("meshpos.sync")

#: updates kept per document that it took whole, to drop a copy of one unapplied (:meth:`Exchange._took`)
MAX_TAKEN = 64
MAX_TAKEN_BYTES = 65536  # a live update's size, not a catch-up's
#: refusals logged once each (device, kind of document, reason); beyond, only counted
MAX_LOGGED_REJECTIONS = 1024
SKIP_INFO = 10  # a Yjs v1 skip struct's info byte: an update without the byte holds no skip


class _invalid_update:  # (lower case: used as the function it was)
    """A peer's update that pycrdt (or our header reader) cannot decode: the peer's error, named. A
    class, not a ``contextlib`` generator: two of these per received update (issue 18, receive)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            return  # (an interrupt goes on as it was)
        # pyo3 panics derive from BaseException
        raise RemoteProtocolError(f"{self.what}: not a valid Yjs update ({exc})") from None


class _Loading:
    """Origin marker while documents are restored from the store: nothing is sent or reported."""


_LOADING = _Loading()


class _Stored:
    """Origin marker for an update another process committed to the store this one shares (the
    console's PostgreSQL): sent on like a received update, reported as already durable."""


_STORED = _Stored()


class Exchange(OrderNotes, Replies):
    """Sync step 1 replies and received updates (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    _docs: dict[str, Doc[Any]]
    _events: list[SyncEvent]
    _authors: dict[int, str]  # client id -> the role of the peer that announced it
    _stock_authors: set[int]  # those of them learnt from a stock Yjs client's update
    _author_devices: dict[
        int, str
    ]  # client id -> the device that announced or was learnt to use it
    _applying: str | _Loading | _Stored | None
    _opening_for_content: bool
    _held_by: StepOnes
    _received: tuple[bytes, int | None]  # (``_forwarding``: the author read once)
    _taken: dict[str, dict[bytes, None]]  # doc -> the last updates it took whole (``_took``)
    _rejections_logged: set[tuple[str, str, str]]  # (device, kind of document, reason) logged once
    _depths: dict[str, Depths]  # doc -> how deep its shared types lie (``_depth``)

    if TYPE_CHECKING:

        @property
        def role(self) -> str: ...

        @property
        def client_id(self) -> int: ...

        def open_doc(self, name: str) -> Doc[Any]: ...

        def _exchanging(self) -> list[Session]: ...

        def is_closed(self, name: str) -> bool: ...

        def _on_closed_doc(self, peer: str, session: Session, message: DocMessage) -> None: ...

        def _answer_waiting(
            self, peer: str, session: Session, name: str, asked: dict[int, int]
        ) -> None: ...

    def _on_doc(self, peer: str, session: Session, event: DocReceived) -> None:
        message = event.message
        name = message.doc
        if self.is_closed(name):
            self._on_closed_doc(peer, session, message)
        elif isinstance(message, SyncStep1):
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
            if session.peer is not None and session.peer.role != "console" and not session.stock:
                self._held_by.note(session.peer.node, name, asked)  # documents we hold
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

    def _apply(self, peer: str, session: Session, name: str, update: bytes, what: str) -> None:
        if update == EMPTY_UPDATE:
            return
        assert session.peer is not None
        node, role = session.peer.node, session.peer.role
        if not session.delivers(name):
            self._reject(peer, node, name, f"a {role} may not write {name}")
            return
        taken = self._taken.get(name)
        if taken is not None and update in taken and not session.stock:
            return  # a copy of an update the document took whole: it would apply nothing
        check_update(update, what)  # before any pycrdt call: what would crash it (``_shape``)
        depths = self.depths_of(name) if name in self._docs else Depths()
        staged = depths.check(update, what)  # a type nested too deep with what the doc holds
        held = self._docs.get(name)
        state, clocks = held_state(held) if held else (EMPTY_STATE_VECTOR, {})
        with _invalid_update(what):
            authors = header_authors(update)
            if clients_past_bound(update, clocks):  # (``_updates.MAX_DOC_CLIENTS``)
                return self._reject(peer, node, name, TOO_MANY_CLIENTS)
            start = header_start(update) if authors is not None and len(authors) == 1 else None
            self._received = (update, start[0] if start is not None else None)  # (``_forward``)
            if self._ahead_of_order(session, name, update, start, clocks):
                return
            news, news_start = authors, start  # who brings something new
            if authors is None and held is not None:  # a reply or a catch-up: mostly held already
                news, news_start = new_authors(update, state)
        self._note_order(name, news, news_start, clocks)
        # the usual case (authors read off the header, none of them us or a role that may not
        # write ``name``): told before a stock client's new id is learnt, and per author, not per
        # client id the venue ever announced (a 50-device venue's restarts: hundreds)
        usual = held is not None and authors is not None and self._may_author(authors, name)
        learnt = None
        if (
            session.stock
            and start is not None
            and start[0] not in self._authors
            and session.learn(*start)
        ):  # a stock client's new client id (``_yjs``): learnt
            learnt = start[0]
            self._authors[learnt] = role
            self._stock_authors.add(learnt)
            self._author_devices.setdefault(learnt, node)
        if session.stock and self._forges_a_device(update, clocks, what):
            self._reject(peer, node, name, "carries changes under another device's client id")
            return
        if is_kitchen(name) and self._acknowledges_for_another(update, what):
            self._reject(peer, node, name, "acknowledges a kitchen ticket for another screen")
            return
        if usual:
            self._open_and_apply(
                peer, name, update, what, authors, news, state, (depths, staged)
            )  # no decode first
            return
        forbidden = {
            c: 0 for c, r in self._authors.items() if c != learnt and not may_write(r, name)
        }
        ours = clocks.get(self.client_id, 0)
        checked = {**forbidden, self.client_id: ours}
        with _invalid_update(
            what
        ):  # one decode: validates (before a new document opens), clears most
            clear = clear_of_structs_from(update, checked, self._authors.keys() | clocks.keys())
        if clear or not has_structs_from(update, checked):
            self._open_and_apply(
                peer, name, update, what, authors, news, state, (depths, staged)
            )  # a client never seen: two more decodes
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
        self._open_and_apply(peer, name, update, what, authors, news, state, (depths, staged))

    def _may_author(self, authors: frozenset[int], name: str) -> bool:
        """None of ``authors`` is us, nor a client id announced by a role that may not write ``name``."""
        for author in authors:
            if author == self.client_id:
                return False
            role = self._authors.get(author)
            if role is not None and not may_write(role, name):
                return False
        return True

    def _acknowledges_for_another(self, update: bytes, what: str) -> bool:
        """True if ``update`` writes a new ``held/<ticket>/<screen>`` key under the client id of a
        device we know that is not that screen: a register or another screen telling registers a ticket
        is safe on a screen that never had it (``meshpos.sync._structs``). A client id nobody announced
        to us passes: the node that met its author checked it. Updates without the root name are not
        read (the cheap usual case)."""
        if HELD.encode() not in update:
            return False
        with _invalid_update(what):
            keys = new_keys_by_author(update, HELD)
        for client, key in keys:
            device = self._author_devices.get(client)
            if device and held_device(key) != device:
                return True
        return False

    def _forges_a_device(self, update: bytes, clocks: Mapping[int, int], what: str) -> bool:
        """True if a stock client's ``update`` holds structs we lack under a device's client id (one a
        hello announced). A client writes under its own ids only; structs it appended under a device's
        id would take clocks that device's next write takes too, and two writers of one client id
        diverge for good: that device's sales would vanish everywhere else (docs/architecture.md (Wire))."""
        devices = {
            c: clocks.get(c, 0)
            for c in self._authors
            if c != self.client_id and c not in self._stock_authors
        }
        with _invalid_update(what):
            return has_structs_from(update, devices)

    def _ahead_of_order(
        self,
        session: Session,
        name: str,
        update: bytes,
        start: tuple[int, int] | None,
        clocks: Mapping[int, int],
    ) -> bool:
        """True if ``update`` (one author, its first struct ``start``) starts beyond what ``name`` holds of its author: it is left
        unapplied and the peer is asked for what we lack, which it sends in order.

        pycrdt (yrs) integrates such structs at once when their parents are present, leaving a hole
        that the state vector stops at: the change is visible, yet its transaction's update omits it
        (nothing to store or send on) and our own writes into it depend on structs our store never
        gets. Reloaded from the store (a restart, a closed day reopened), those writes stay pending:
        acknowledged sales vanish, and peers sending them back raise the client id alarm."""
        if start is None or start[1] <= clocks.get(start[0], 0):
            return False
        # Left unapplied, it is still checked whole: a malformed update closes the link as always
        # (the caller turns pycrdt's error into a RemoteProtocolError), never waits as "out of order".
        get_update(update, EMPTY_STATE_VECTOR)
        if name not in session.awaiting:
            held = self._docs.get(name)
            session.send(SyncStep1(name, held.get_state() if held else EMPTY_STATE_VECTOR))
        return True

    def _open_and_apply(
        self,
        peer: str,
        name: str,
        update: bytes,
        what: str,
        authors: frozenset[int] | None,
        news: frozenset[int] | None,
        state: bytes,
        depth: tuple[Depths, Staged],
    ) -> None:
        """Apply ``update`` (of ``authors``, None: several) and report what it planted past a hole
        in the clocks of ``news``, the authors it brought anything new of (none: nothing to look
        for, a reply or a catch-up that carries only what arrived meanwhile). One author's update
        not taken whole (a copy, a step 2 with the day's deletions) is looked at only if it brought
        a struct past ``state``, the document's state vector before it. ``depth``: the document's
        depth index and what it read of ``update``, kept once applied."""

        def apply(doc: Doc[Any]) -> None:
            with _invalid_update(
                what
            ):  # pycrdt decodes the whole update before it changes anything
                doc.apply_update(update)
            depths, staged = depth
            opened = self._depths.get(name)  # (made by ``open_doc`` if it opened just now)
            if opened is not None and opened is not depths and opened.ranges:
                opened.feed(update, name)  # a shared replica's held more than was checked against
            else:
                depths.commit(staged)
                self._depths[name] = depths

        changes = len(self._events)
        self._apply_opening(peer, name, apply)
        if news is None and get_update(update, self._docs[name].get_state())[0] != 0:
            # several authors bring something new (a catch-up), not all held in order now (pending,
            # or past a hole): maybe reordered, nothing to wait for; one integrated whole is in order
            self._reordered.setdefault(name, {})
        if news == frozenset():
            return
        if self._applied_whole(name, update, authors, changes):
            self._took(name, update)
            if SKIP_INFO in update and get_update(update, self._docs[name].get_state())[0] != 0:
                # in order, then a skip: committed whole, a hole all the same (what lies past it is
                # past the state); the byte alone (a length, an id) is no skip: ~1/3 of live updates
                self._note_holes(name, authors)
            return
        if authors is not None:  # (a decode of ``update`` alone, not a diff of the whole day)
            news = new_authors(update, state)[0]
            if news == frozenset():
                return
        self._report_past_holes(peer, name, self._docs[name], news)

    def _took(self, name: str, update: bytes) -> None:
        """``name`` took ``update`` whole (the change it made is ``update`` itself): a copy of it
        arriving later (flooded while views differ, or an echo of our own write) would apply nothing,
        and :meth:`_apply` drops it at once, without the apply, its observers and the look for
        structs past a hole that an apply without a change costs (``past_holes``)."""
        if len(update) > MAX_TAKEN_BYTES:
            return
        taken = self._taken.setdefault(name, {})
        taken[update] = None
        if len(taken) > MAX_TAKEN:
            del taken[next(iter(taken))]  # the oldest: copies come within a few message delays

    def _applied_whole(
        self, name: str, update: bytes, authors: frozenset[int] | None, changes: int
    ) -> bool:
        """True if everything ``update`` (one author's) brought is in the change that gets committed,
        told without a diff: the change reported since ``changes`` events (its transaction's update)
        is ``update`` itself, byte for byte, so whatever pycrdt integrated of it, even past a hole, is
        committed with it. A live update's usual case; a duplicate (no change), an update led by a
        skip (its past-hole part left out of the change), a several authors' catch-up or a document
        with a hole reported before (to see it filled) is checked in full (``past_holes``: a diff of
        the whole day per author, ~0.03 ms on a 0.5 MB day, most of a received update's sync cost)."""
        if authors is None or len(authors) != 1 or name in self._past_holes:
            return False
        if len(self._events) != changes + 1:
            return False
        change = self._events[-1]
        return (
            isinstance(change, DocumentChanged) and change.doc == name and change.update == update
        )

    def _apply_opening(
        self, origin: str | _Stored, name: str, apply: Callable[[Doc[Any]], None]
    ) -> None:
        """Apply to ``name`` (opened for its content if new) with ``origin`` as the change's source."""
        new = name not in self._docs
        self._opening_for_content = new
        try:
            doc = self.open_doc(name)
        finally:
            self._opening_for_content = False
        self._applying = origin
        try:
            apply(doc)
        finally:
            self._applying = None
        if new:
            # Ask for the rest only now: a step 1 sent when the document opened would carry an empty
            # state vector, and the peer that just delivered the whole day would send it all again.
            for session in self._exchanging():
                session.send(SyncStep1(name, doc.get_state()))

    def load(self, name: str, update: bytes) -> None:
        """Restore ``name`` from the durable store (not sent, not reported as a change).

        A shared ``Replica`` still captures the loaded update (as local): the node discards that capture.
        """
        self.apply_loaded(name, self.open_doc(name), update)
        self._note_holes(name)

    def apply_loaded(self, name: str, doc: Doc[Any], update: bytes) -> None:
        """Apply ``update`` read from the store to ``doc`` (a load, a closed day reopened): not a
        change to report, and fed to the document's depth index (rebuilt from the store at every
        start: ``_depth``)."""
        depths = self.depths_of(name)
        self._applying = _LOADING
        try:
            doc.apply_update(update)
        finally:
            self._applying = None
        depths.feed(update, name)

    def apply_stored(self, name: str, update: bytes) -> None:
        """Apply an update another process committed to the store this one shares: sent to every
        session like a received update, reported as :class:`DocumentChanged` with ``stored`` (the
        engine does not commit it again). Our own store wrote it, so the peers' write rules do not
        apply; a new document asks the peers for the rest once it holds the update. It came in the
        order the other process received it: noted as maybe out of order (``reordered``)."""
        self._reordered.setdefault(name, {})
        depths = self.depths_of(name) if name in self._docs else None
        self._apply_opening(_STORED, name, lambda doc: doc.apply_update(update))
        (depths or self.depths_of(name)).feed(update, name)
        if get_update(update, self._docs[name].get_state())[0] != 0:  # not all held in order
            self._note_holes(name)

    def depths_of(self, name: str) -> Depths:
        """How deep the shared types of ``name`` lie (``_depth``): fed by every update it takes (made
        with the document: :meth:`open_doc` reads what a shared replica's held before)."""
        depths = self._depths.get(name)
        if depths is None:
            depths = self._depths[name] = Depths()
        return depths

    def _reject(self, peer: str, node: str, doc: str, reason: str) -> None:
        """Refuse an update: reported (the node counts and lists each one); logged once per device,
        kind of document and reason (a peer controls how many it sends), then at debug level."""
        kind = doc.partition("/")[0]
        key = (node, kind, reason.replace(doc, kind))
        if key in self._rejections_logged or len(self._rejections_logged) >= MAX_LOGGED_REJECTIONS:
            log.debug("rejected update for %s from %s (%s): %s", doc, node, peer, reason)
        else:
            self._rejections_logged.add(key)
            log.warning(
                "rejected update for %s from %s (%s): %s (more like it are counted, not logged)",
                doc,
                node,
                peer,
                reason,
            )
        self._events.append(UpdateRejected(peer, node, doc, reason))
