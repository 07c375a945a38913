"""The synchronizer's notes of what arrived out of its authors' order, and of what a document holds
past a hole in an author's clocks (docs/architecture.md (Wire)).

Split out of ``_exchange`` (the twenty-first session, part forward: that module was at its size bound;
behaviour unchanged). ``_exchange`` takes each received update and notes here what it may have
planted out of order; ``reordered`` tells the model when a live count of a document is worth checking
afresh (``model.tally``). A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer` (through
``_exchange``), which owns the state named below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pycrdt import Doc

from meshpos.sync._events import DocumentChanged, SyncEvent
from meshpos.sync._updates import held_clocks, past_holes

#: authors noted ahead of their order per document at most (beyond: the document is still noted)
MAX_REORDERED_CLIENTS = 64


class OrderNotes:
    """What arrived ahead of its order, and what is held past a hole (a mixin of ``Synchronizer``)."""

    _docs: dict[str, Doc[Any]]
    _events: list[SyncEvent]
    _reordered: dict[str, dict[int, int]]  # doc -> client -> a first clock that came ahead
    _past_holes: dict[str, dict[int, bytes]]  # doc -> author -> what was reported past its hole

    def reordered(self, name: str) -> bool | None:
        """Whether ``name`` took an update out of its author's order since :meth:`settle_reordered`:
        None if not; True while such an update still waits for what precedes it (pycrdt keeps it
        pending), False once everything before it arrived too (a count of it is worth checking now).

        False too, settled or not and waiting or not, while ``name`` holds something past a hole in
        an author's clocks (``_past_holes``): pycrdt reports no write into a type created past the hole
        (yrs takes a type whose item is at or past the transaction's state vector as made in that
        transaction), be the write this node's own or a peer's in order, until the hole fills (which
        notes the day again): a count of what is held is due after every change meanwhile."""
        if name in self._past_holes:
            return False
        ahead = self._reordered.get(name)
        if ahead is None:
            return None
        doc = self._docs.get(name)
        held = held_clocks(doc) if doc is not None else {}
        return any(held.get(client, 0) <= clock for client, clock in ahead.items())

    def settle_reordered(self, name: str) -> None:
        """The caller checked ``name`` after what arrived out of order: forget it."""
        self._reordered.pop(name, None)

    def _note_order(
        self,
        name: str,
        authors: frozenset[int] | None,
        start: tuple[int, int] | None,
        held: Mapping[int, int],
    ) -> None:
        """Note an update (one author's, from ``start``) if it may come ahead of its author's order
        (see the module docstring); one of several authors is noted once applied (``_open_and_apply``)."""
        if authors is None:
            return
        if start is None or start[1] <= held.get(start[0], 0):
            return  # no struct, or in order
        ahead = self._reordered.setdefault(name, {})
        if start[0] in ahead or len(ahead) < MAX_REORDERED_CLIENTS:  # (a peer picks the clients)
            ahead[start[0]] = max(ahead.get(start[0], 0), start[1])

    def _report_past_holes(
        self, peer: str, name: str, doc: Doc[Any], authors: frozenset[int] | None
    ) -> None:
        """Report (for the store, not for the peers) what pycrdt integrated past a hole in the clocks
        of ``authors`` (None: every author) (:func:`past_holes`): left out of the transaction's update
        (see :meth:`_ahead_of_order`), it would be in memory only. A catch-up of several authors can
        bring one (an earlier reply lost), and so can an update that starts in order but carries a skip
        (a diff or a relayed change from a document that holds a hole); each hole is reported once
        (again if what lies past it grew)."""
        pieces = past_holes(doc, authors)
        reported = self._past_holes.get(name, {})
        for client in list(reported):  # filled since: writes into what lay past it went unreported
            if client not in pieces and (authors is None or client in authors):
                del reported[client]
                self._reordered.setdefault(name, {})
        for client, piece in pieces.items():
            if reported.get(client) != piece:
                reported[client] = piece
                self._events.append(DocumentChanged(name, piece, peer))
        if reported:
            self._past_holes[name] = reported
        else:
            self._past_holes.pop(name, None)

    def _note_holes(self, name: str, authors: frozenset[int] | None = None) -> None:
        """What ``name`` holds past a hole in the clocks of ``authors`` (None: any) and the store holds
        already (a load, another process's commit, an update taken whole that carries a skip) is noted
        as reported, so that :meth:`reordered` says a count is worth checking until the hole fills."""
        pieces = past_holes(self._docs[name], authors)
        if pieces:
            self._past_holes[name] = {**self._past_holes.get(name, {}), **pieces}
