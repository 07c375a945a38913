"""Dropped business days: closed days a register let go of after its retention (``keep_days``).

docs/architecture.md (Documents). A dropped day stays a closed day to the
synchronizer (its state vector and deletions are kept, so nothing ever creates it empty and a peer that
holds the same gets the same answer), but its content is gone, so it never opens and nothing is parked
for it. The console, the venue's system of record, held all of it when it closed:

* a sync step 1 gets our deletions (what we can give); a peer that holds more (a register back after
  weeks offline with a late sale) is asked for it (our step 1) only by a node with a console link (the
  relay), which passes what comes on to the console, never to its own document;
* a non-empty update (live or step 2) goes on, as it came, to this node's console sessions (not back to
  a console it came from); a node without one does not keep it: :class:`ClosedDayDeferred` with cause
  ``dropped`` (counted, logged once per device) — the sender still holds it and shows it "not at the
  console", and it reaches the console through the relay's anti-entropy with that register.

What this cannot do: a register offline past the retention that is linked only to nodes that dropped
the day (a bounded mesh where the relay is not its neighbour) keeps its late sale until it is linked
to the relay or becomes the relay itself; nothing is lost and its status says the sale is not at the
console meanwhile.
"""

from __future__ import annotations

from typing import Protocol

from meshpos.model.documents import day_of
from meshpos.sync._messages import SyncStep1, SyncStep2, SyncUpdate
from meshpos.sync._rules import may_deliver
from meshpos.sync._session import Session
from meshpos.sync._states import EXCHANGING
from meshpos.sync._updates import EMPTY_UPDATE


class _Days(Protocol):
    """What this needs of the synchronizer (``_closed.ClosedDays``)."""

    _sessions: dict[str, Session]
    dropped_passed: int

    @property
    def role(self) -> str: ...

    def _reject(self, peer: str, node: str, doc: str, reason: str) -> None: ...

    def _defer(
        self, peer: str, node: str, name: str, cause: str, reason: str, count: int = 1
    ) -> None: ...


def _consoles(days: _Days, besides: Session) -> list[Session]:
    """This node's console sessions now exchanging (the relay's uplink), ``besides`` left out."""
    return [
        s
        for s in days._sessions.values()
        if s is not besides
        and s.state in EXCHANGING
        and s.peer is not None
        and s.peer.role == "console"
    ]


def answer_dropped(
    days: _Days,
    session: Session,
    summary: tuple[bytes, bytes, dict[int, int]],
    asked: dict[int, int],
    name: str,
) -> None:
    """A step 1 for the dropped ``name``: our deletions; a peer holding more is asked for it only
    when we can pass it to the console (and the peer is not the console)."""
    state_vector, deletions, clocks = summary  # what the day held when it was dropped
    if not may_deliver(days.role, name):
        deletions = EMPTY_UPDATE
    if not session.may_reply():  # a flood of step 1s for closed days: the usual budget
        session.charge_repeated_step1()
    session.send(SyncStep2(name, deletions))
    session.spent_on_reply(len(deletions))
    more = any(clock > clocks.get(client, 0) for client, clock in asked.items())
    peer = session.peer
    if more and peer is not None and peer.role != "console" and _consoles(days, session):
        session.send(SyncStep1(name, state_vector))


def on_dropped_update(
    days: _Days, peer: str, session: Session, message: SyncStep2 | SyncUpdate
) -> None:
    """A non-empty update for the dropped ``message.doc``: on to the console, or deferred."""
    assert session.peer is not None
    name, node = message.doc, session.peer.node
    if not session.delivers(name):  # refused at once, as when it is open
        days._reject(peer, node, name, f"a {session.peer.role} may not write {name}")
        return
    consoles = _consoles(days, session) if session.peer.role != "console" else []
    for console in consoles:
        console.send(SyncUpdate(name, message.update))
    if consoles:
        days.dropped_passed += 1
        return
    days._defer(
        peer,
        node,
        name,
        "dropped",
        f"business day {day_of(name)} was dropped here (kept at the console); it reaches the "
        "console through the relay",
    )
