"""The synchronizer's forwarding of a change to its other sessions (docs/architecture.md (Links)).

An update of one author whose node is known crosses each edge of the breadth-first tree from that node
over the topology (``_topology.tree``) once: a node that got it from its parent in that tree sends it to
its children there. Whenever the views may differ (it did not come from our parent, a child has no live
link, the author is not known yet) the node floods it to its other sessions instead, except those its
source is linked to; a copy that arrives twice applies nothing and goes no further.

**Changed** (issue 18, tail): in a venue of up to ``_topology.FULL_MESH`` devices (a full mesh) a
node linked to a ``topology1`` peer of the release before (no ``mesh6``: it keeps the bounded graph at six,
so it may not be linked to the author) floods each update to the peers its source is not linked to
(tests/sync/test_sync_topology.py); with none, the tree is the author's star and nothing is passed on.
(Flooding always sent copies on while the source's heartbeats had not yet said whom it links:
``tests/bench/test_receive_parts.py``, 5.33 update messages a receipt in a mesh of three instead of 4.)

Each node's place in each author's tree (its parent, its children) is kept until the graph changes
(``_spread._graph``). A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the
state named below.

**Changed** (issue 18, forward; the twenty-first session): the sessions a change goes to are kept per
(origin session, author) while everything the choice reads stays (``_sends_of``: the presence table's
nodes and the links their heartbeats name, the far records, discovery's list, the sessions and their
states), not only the tree's answer: a received update costs one look-up here, and one that goes
nowhere (every update but its author's own in a venue of six) returns at once; its author is the one
``_exchange._apply`` read off its header (``_received``), not read again. Before, each update built the
list of live sessions and walked it with a tree and link check per session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from meshpos.errors import RemoteProtocolError
from meshpos.sync._codec import encode_doc_message
from meshpos.sync._config import SyncConfig
from meshpos.sync._messages import SyncUpdate
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._session import Session
from meshpos.sync._states import EXCHANGING
from meshpos.sync._topology import FULL_MESH_FEATURE, TOPOLOGY_FEATURE, tree
from meshpos.sync._updates import header_start

log = logging.getLogger("meshpos.sync")

#: (origin, author) answers kept at most (:meth:`Forwarding._sends_of`)
MAX_TARGETS = 1024


class Forwarding:
    """A change sent on along its author's tree, or flooded (a mixin of ``Synchronizer``)."""

    _sessions: dict[str, Session]
    _presence: PresenceTable
    _trees: dict[str, tuple[str | None, frozenset[str]]]  # origin -> (our parent, our children)
    _far: FarTable
    _discovered: frozenset[str]
    # (origin session, author) -> the sessions a change goes to, while ``_sends_for`` holds
    _sends: dict[tuple[str | None, int | None], tuple[Session, ...]]
    _sends_for: tuple[int, int, int, frozenset[str], int, int] | None
    #: the update ``_apply`` is applying and its author (None: several or none), read off its header
    _received: tuple[bytes, int | None] = (b"", None)
    _tree_failed = False  # logged once
    config: SyncConfig

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        def _graph(self) -> dict[str, frozenset[str]]: ...

        def _client_nodes(self) -> dict[int, str]: ...

        def _shape(self) -> tuple[frozenset[str], frozenset[str]]: ...

    def _forward(self, name: str, update: bytes, origin: str | None) -> None:
        """Send a change on: to our children in its author's tree when it came from our parent in
        it, else to every other session (``_spread``); to the sessions :meth:`_sends_of` keeps."""
        sender = self._sessions.get(origin) if origin is not None else None
        author = None
        if sender is not None and sender.peer is not None:
            received, author = self._received  # read off its header by ``_apply``: not again
            if update is not received and update != received:  # (pycrdt's bytes: equal, not same)
                try:
                    start = header_start(update)
                except RemoteProtocolError:
                    start = None
                author = start[0] if start is not None else None
        sends = self._sends_of(origin, sender, author)
        if not sends:
            return  # (a venue of six: every update but the author's own)
        # a peer's update, committed by its author, goes on before we commit it (a stock Yjs
        # client's waits: ours is its only durable copy)
        free = sender is not None and not sender.stock
        message = SyncUpdate(name, update)
        encoded: dict[int, list[bytes]] = {}  # by max_message_size: encoded once, not per link
        for session in sends:
            if session.stock:  # a stock Yjs client speaks plain y-protocols: its session encodes
                session.send(message, free=free)
                continue
            size = session.config.max_message_size
            data = encoded.get(size)
            if data is None:
                data = encoded[size] = encode_doc_message(message, size)
            session.send_encoded(data, free=free)

    def _sends_of(
        self, origin: str | None, sender: Session | None, author: int | None
    ) -> tuple[Session, ...]:
        """The sessions a change from ``origin`` (None: ours) of ``author`` (None: several, none, or
        not asked) goes to, kept per (origin, author) while everything the choice reads stays: the
        presence table's nodes and their links, the far records, discovery's list, the sessions and
        their states (``Session.moves``). **Changed** (issue 18, forward): decided once per such
        change, not per update: a node of a venue of six (a full mesh) knows at once that an
        update from its author goes nowhere (before: its live sessions, its tree targets and a
        skip per link, every update, ~9 % of ``receive_data``)."""
        presence = self._presence
        basis = (
            presence.version,
            presence.links_version,
            self._far.version,
            self._discovered,
            len(self._sessions),
            Session.moves,
        )
        if self._sends_for != basis:
            self._sends, self._sends_for = {}, basis
        key = (origin, author)
        sends = self._sends.get(key)
        if sends is None:
            source = sender.peer.node if sender is not None and sender.peer is not None else None
            sends, sure = self._choose_sends(origin, source, author)
            if sure:  # (a fault in the tree: flooded, and asked again next time)
                if len(self._sends) >= MAX_TARGETS:  # (a peer picks the authors)
                    self._sends.clear()
                self._sends[key] = sends
        return sends

    def _choose_sends(
        self, origin: str | None, source: str | None, author: int | None
    ) -> tuple[tuple[Session, ...], bool]:
        """(the live sessions but ``origin``'s that a change from ``source`` (a node; None: ours)
        goes to, whether that is the tree's answer or a flood for a fault in it)."""
        live = [s for p, s in self._sessions.items() if p != origin and s.state in EXCHANGING]
        children, sure = None, True
        if source is not None and live:
            try:
                children = self._children_for(
                    source, None if author is None else frozenset({author}), live
                )
            except Exception:  # this runs in a pycrdt observer: flood, say so
                sure = False
                if not self._tree_failed:
                    log.exception("forwarding along the tree failed; flooding instead")
                    self._tree_failed = True
        sends: list[Session] = []
        for session in live:
            peer = session.peer
            if children is not None and peer is not None and self._in_tree(session):
                if peer.node not in children:
                    continue  # (``_spread``) another node's child, or no child at all
            elif source is not None and self._linked(source, session):
                continue  # the source sends it to that peer itself; anti-entropy covers a loss
            sends.append(session)
        return tuple(sends), sure

    def _children_for(
        self, source: str, authors: frozenset[int] | None, live: list[Session]
    ) -> frozenset[str] | None:
        """This node's children in the breadth-first tree from the node of ``authors`` (one author's
        update) over the topology when it came from ``source`` (each tree edge carries it once,
        instead of every link). None (send it on every link, a duplicate stops where it applies
        nothing) whenever the views may differ: the update did not come from our parent in that
        tree, or a child has no live link to us (``live``: the sessions it may go to)."""
        if authors is None or len(authors) != 1:
            return None
        (author,) = authors
        children = self._tree_children(source, author)
        if not children:
            return children
        linked = {s.peer.node for s in live if s.peer is not None}
        return children if children <= linked else None

    def _tree_children(self, source: str, author: int) -> frozenset[str] | None:
        """Our children in the tree from ``author``'s node when ``source`` is our parent in it; None
        when it is not, or the node is unknown or ours."""
        origin = self._client_nodes().get(author)
        if origin is None or origin == self.node_id:
            return None
        links = self._graph()
        if len(links) <= self.config.full_mesh and self._linked_to_bounded_peer():
            # a small venue's full mesh: every node is the author's child, so none would pass it on;
            # but a node of the release before links on the bounded graph (``_topology``), so flood,
            # skipping the peers the source is linked to (its heartbeats say)
            return None
        place = self._trees.get(origin)
        if place is None:  # kept until the graph changes (``_graph``)
            place = self._trees[origin] = self._place_in_tree(links, origin)
        parent, children = place
        return children if parent == source else None

    def _linked_to_bounded_peer(self) -> bool:
        """Is a live link's peer a topology node of the release before the six-device full mesh?"""
        return any(
            TOPOLOGY_FEATURE in session.peer_features
            and FULL_MESH_FEATURE not in session.peer_features
            for session in self._sessions.values()
        )

    def _place_in_tree(
        self, links: dict[str, frozenset[str]], origin: str
    ) -> tuple[str | None, frozenset[str]]:
        """(our parent, our children) in the tree from ``origin``; no parent when either is not in
        the graph."""
        if origin not in links or self.node_id not in links:
            return None, frozenset()
        parents = tree(links, origin, self._shape()[1])
        mine = self.node_id
        return parents.get(mine), frozenset(n for n in links[mine] if parents.get(n) == mine)

    def _in_tree(self, session: Session) -> bool:
        """Does ``session`` follow the trees (a topology peer; not the console, not N−1)?"""
        peer = session.peer
        return (
            peer is not None
            and peer.role != "console"
            and TOPOLOGY_FEATURE in session.peer_features
        )

    def _linked(self, source: str, session: Session) -> bool:
        """Does ``source`` have a live session with ``session``'s peer, as their heartbeats say?"""
        target = session.peer.node if session.peer is not None else None
        if target is None:
            return False
        live = self._presence.live
        return (source in live and target in live[source].peers) or (
            target in live and source in live[target].peers
        )
