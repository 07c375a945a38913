"""The synchronizer's part of the bounded topology: which links it wants, and presence beyond them.

docs/architecture.md (Links), docs/architecture.md (Relay and console). With links only to its neighbours (``_topology``), a node
hears heartbeats from a few peers; the rest of the venue reaches it summarised:

* Every heartbeat to a ``topology1`` peer carries ``far``: this node's own record, the best relay
  candidates, the news (a node new here, or one whose role, priority, uplink, relay claim or problem
  changed) and a window that rotates through every other known node — at most :data:`FAR_PER_BEAT`
  records whatever N. Each node keeps every record (``FarTable``); a record is replaced only by one
  with a higher seq (the node's own count, which starts higher on every run).
* ``gone``: a node that loses its link to a peer (the process died: the link closed without a
  "not a neighbour" goodbye) or stops hearing it says so at once, with the last seq it heard, in an
  immediate heartbeat; every node passes news of it on at once, so the whole mesh drops a dead relay
  from the election and elects again within a few message delays, not heartbeat periods (failover
  in under a second). A node that is alive proves it with its next, higher seq.
  **Changed** (issue 18, gone): a notice is any linked peer's unsigned word, so it only marks the
  node "not reachable now" (``FarTable.gone``): out of the election's candidates and the topology's
  members, still counted in :attr:`presence` (the "n" of "on k of n devices") until its record times
  out, and as of the seq held here, not the notice's; the node's next record takes the mark back.
  **Changed** (issue 18, notice): on a node that checks devices' words (every real node) only a notice
  signed by a node linked to the named one marks it (``_notices``); the unsigned ``gone`` then only
  asks a node linked to the named one to answer it, and serves N−1 peers.
* :attr:`presence` (``_far_out``, with this node's record and what its beats pass on) is the direct heartbeats plus a heartbeat made from each far record: the election,
  the status colour and the relay's summary to the console see every node, as with a full mesh.
  **Changed** (issue 18, farsign): on a node that checks devices' words a far record's said fields
  (role, priority, uplink, relay claim, problem) are its node's own signed ones (``_far_signing``):
  a forged record of the relay moved every far node's election; one with none signed is no candidate.

Links: a node wants its neighbours among the members: the nodes it knows alive (itself, its peers'
heartbeats, the far records) and those discovery lists that are not known gone (so every node starts
from the same list, a newcomer links at once, and two parts that do not know each other link: a
partition heals), and the listed nodes it holds gone that would be its neighbours (each side of a split
holds the other gone: :meth:`links_wanted`). A link to a ``topology1`` peer that neither end wants (in
this node's view) is closed once it has been live for a while; an N−1 peer (no ``topology1``) keeps
today's full mesh: it dials everyone, and is never pruned.

What rides the heartbeats for the rest of the venue (attestations, the console's state, a new link's
welcome) is in ``_passing``. A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns
the state named below.

**Changed** (issue 18, stall; the twenty-first session): a link the peer closed saying it timed this
node out (``peer_timeout``) is forgotten, not its peer declared gone: the peer was alive to say it
(``_stalls.timed_us_out``; a node that stalled found every peer's goodbye waiting and signed them gone).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from meshpos.sync._bodies import MAX_FAR
from meshpos.sync._claims import MAX_FAR_NODES, ClaimRefusals
from meshpos.sync._config import SyncConfig
from meshpos.sync._election import Candidate
from meshpos.sync._events import PeerGone, SyncEvent
from meshpos.sync._far_out import CANDIDATES_PER_BEAT, FAR_PER_BEAT, FarOut
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._notices import SignedNotices
from meshpos.sync._presence import CLAIM_LAPSE_TIMEOUTS, FarTable, PresenceTable
from meshpos.sync._rules import forwards_everything
from meshpos.sync._session import Session
from meshpos.sync._stalls import timed_us_out
from meshpos.sync._states import EXCHANGING, SessionClosed, State
from meshpos.sync._topology import (
    FULL_MESH_FEATURE,
    TOPOLOGY_FEATURE,
    graph,
    neighbours,
)

if TYPE_CHECKING:
    from meshpos.sync._passing import ConsoleSent

log = logging.getLogger("meshpos.sync")

#: the goodbye a node says on a link it closes because neither end needs it: not a departure
NOT_A_NEIGHBOUR = "not a neighbour"
#: seconds between heartbeats sent at once for news (a gone node, a relay change), at most
TRIGGER_SPACING = 0.05


class Spread(SignedNotices, FarOut):
    """Links wanted, far presence and gone notices (a mixin of ``Synchronizer``; the signed
    notices' part in ``_notices``)."""

    config: SyncConfig
    hello: Hello
    priority: int
    _presence: PresenceTable
    _far: FarTable
    _discovered: frozenset[str]
    _sessions: dict[str, Session]
    _events: list[SyncEvent]
    _now: float | None
    _started_at: float | None
    _seq: int
    _uplink: bool
    _relay_claim: bool
    _problem: str
    _rotation: int
    _triggered_at: float
    _trigger: bool
    _live_since: dict[str, float]
    _wanted_for: tuple[object, frozenset[str]]
    _refuted_seq: int
    _heard_candidates: bool
    _graph_for: tuple[object, dict[str, frozenset[str]]]
    _trees: dict[str, tuple[str | None, frozenset[str]]]  # origin -> (our parent, our children)
    _clients_for: tuple[object, dict[int, str]]
    _roles_for: tuple[object, dict[str, str]]
    _shape_for: tuple[object, tuple[frozenset[str], frozenset[str]]]
    _console_sent: dict[str, ConsoleSent]  # peer node -> the console's state last passed on to it
    _welcomed: dict[
        str, int
    ]  # peer node -> far records sent to it since it linked (``_with_welcome``)
    _news: dict[str, int | None]  # node -> the beat seq its news first went out in (None: not yet)
    claim_refusals: ClaimRefusals  # (``_claims``)

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        def _exchanging(self) -> list[Session]: ...

        def close(self, peer: str, reason: str = "closing") -> None: ...

    # --- membership and links ---------------------------------------------------------------------

    def set_members(self, nodes: Iterable[str]) -> None:
        """The venue's devices as discovery lists them (a crashed one stays listed for minutes)."""
        self._discovered = frozenset(nodes) - {self.node_id}

    @property
    def members(self) -> frozenset[str]:
        """The nodes known alive: this one, the peers heard directly and every far record."""
        return frozenset(self._roles())

    def _roles(self) -> dict[str, str]:
        """Every node known alive and its role (the console is no member of the mesh's topology);
        kept until a node comes, goes or changes role."""
        key = (self._presence.version, self._far.version)
        if self._roles_for[0] != key:
            roles = self._far.roles()
            roles.update(
                (n, b.role) for n, b in self._presence.beats().items() if b.role != "console"
            )
            roles[self.node_id] = self.hello.role
            self._roles_for = (key, roles)
        return self._roles_for[1]

    def _shape(self) -> tuple[frozenset[str], frozenset[str]]:
        """(the topology's members, those that do not forward every document: its leaves).

        Members: every node heard of (directly or in far records) and every node discovery lists
        that is not known gone, so every node starts from the same list at once (far records take
        a while to reach everyone in a large venue). A node discovery lists but nobody heard of is
        taken as a register until its role is known; a dead one the links cannot reach is no
        longer listed (``net.links``)."""
        roles = self._roles()
        key = (roles, self._discovered, self._far.version)
        if self._shape_for[0] != key:
            gone = self._far.gone_nodes()
            members = frozenset(roles) | (self._discovered - gone)
            leaves = frozenset(n for n, role in roles.items() if not forwards_everything(role))
            self._shape_for = (key, (members, leaves))
        return self._shape_for[1]

    def links_wanted(self) -> frozenset[str]:
        """The peers this node dials and keeps (``_topology``): its neighbours among the members
        (:meth:`_shape`), about DEGREE; more only while views differ.

        Plus the nodes discovery still lists but we hold gone whose place in the graph of everyone
        listed is next to ours: a gone notice keeps a node out of the members for a long while
        (``FarTable.expire``'s memory, minutes in a large venue), and after a partition each side
        holds the other gone and hears nothing of it (no link crosses, so no far record does):
        without a dial to them the two sides would link only once the notes are forgotten. A dial
        that reaches one opens a link whose heartbeat, a newer seq, takes the notice back (then it
        is a member again); one that reaches nobody drops it from discovery's list (``net.links``),
        so a dead node costs no links."""
        known, leaves = self._shape()
        key = (known, leaves, self._discovered)
        if self._wanted_for[0] != key:
            wanted = self._neighbours(known, self.node_id, leaves)
            lost = self._discovered - known  # listed, but known gone
            if lost:
                listed = self._neighbours(known | lost, self.node_id, leaves)
                wanted |= listed & lost
            self._wanted_for = (key, wanted)
        return self._wanted_for[1]

    def candidates(self) -> list[Candidate]:
        """Every other node known alive as the election sees it (direct heartbeats win); a far record
        counts only while it is fresh: refreshed within twice a direct heartbeat's timeout (the best
        candidates ride in every beat, a hop at a time, so their refreshes arrive less evenly; a dead
        one is dropped at once by the gone notices, this only drops the silent part of a split), and
        a far relay claimant seen renewing its signed word only while it does (``FarTable.uplinks``)."""
        direct = self._presence.beats()
        view = [Candidate(n, b.priority, b.uplink, b.relay) for n, b in direct.items()]
        now = self._now if self._now is not None else 0.0
        timeout = self._presence.timeout
        view.extend(
            Candidate(r.node, r.priority, r.uplink, r.relay)
            for r in self._far.uplinks(now, 2 * timeout, CLAIM_LAPSE_TIMEOUTS * timeout)
            if r.node not in direct and r.node != self.node_id
        )
        return view

    def _neighbours(
        self, members: frozenset[str], node: str, leaves: frozenset[str]
    ) -> frozenset[str]:
        return neighbours(members, node, self.config.degree, leaves, self.config.full_mesh)

    def wants_link(self, node: str, features: frozenset[str] | None = None) -> bool:
        """Should this node link to ``node``? ``features``: what it announced when it last linked
        (None: never linked). An N−1 peer is always wanted: it keeps the full mesh. **Changed** (issue
        18, tail): a ``topology1`` peer without ``mesh6`` only where the bounded graph wants it."""
        if features is not None and TOPOLOGY_FEATURE not in features:
            return True
        if node not in self.links_wanted():
            return False
        if features is None or FULL_MESH_FEATURE in features:
            return True
        # a topology peer of the release before the small venue's full mesh (``_topology``): it
        # closes a link only that mesh wants (``_prune``), so dial it where its graph wants one
        known, leaves = self._shape()
        return node not in known or node in neighbours(
            known, self.node_id, self.config.degree, leaves, full_mesh=0
        )

    def _prune(self, now: float) -> None:
        """Close live links to topology peers that neither end wants (held a while: views settle)."""
        wanted = self.links_wanted()
        known, leaves = self._shape()
        hold = 3 * self.config.heartbeat_interval
        if self.hello.role == "console":
            return  # its relays' links are no mesh links
        for key, session in list(self._sessions.items()):
            peer = session.peer
            if (
                peer is None
                or session.state is not State.LIVE
                or TOPOLOGY_FEATURE not in session.peer_features
                or peer.role == "console"
            ):
                continue
            since = self._live_since.setdefault(key, now)
            if now - since < hold or peer.node in wanted:
                continue
            if self.node_id in self._neighbours(known, peer.node, leaves):
                continue
            self._live_since.pop(key, None)
            self.close(key, NOT_A_NEIGHBOUR)

    # --- the graph and its nodes (forwarding along its trees: ``_forwarding``) -------------------

    def _graph(self) -> dict[str, frozenset[str]]:
        """The whole topology as this node sees it (kept until the membership changes)."""
        known, leaves = self._shape()
        if self._graph_for[0] != (known, leaves):
            shape = (self.config.degree, leaves, self.config.full_mesh)
            self._graph_for = ((known, leaves), graph(known, *shape))
            self._trees = {}
        return self._graph_for[1]

    def _client_nodes(self) -> dict[int, str]:
        """CRDT client id -> node, from the far records and the hellos of our links; kept while the
        far records, the sessions and their states stay (a hello moves its session's state: keyed on
        the number of sessions alone, one that came after its session was added was missing until the
        far records moved, and that author's updates were flooded; the twenty-first session)."""
        key = (self._far.version, len(self._sessions), Session.moves)
        if self._clients_for[0] != key:
            clients = {r.client: n for n, r in self._far.records.items() if r.client}
            for session in self._sessions.values():
                if session.peer is not None and not session.stock:
                    clients[session.peer.client_id] = session.peer.node
            self._clients_for = (key, clients)
        return self._clients_for[1]

    # --- far presence (what this node says and reads of it: ``_far_out``) ---------------------------

    def _far_timeout(self) -> float:
        """How long a far record lasts unrefreshed: the rotation reaches every record only every
        ceil(n / window) beats per hop."""
        hb = self.config.heartbeat_interval
        rounds = math.ceil(len(self._far) / max(1, FAR_PER_BEAT - CANDIDATES_PER_BEAT - 1))
        return hb * self.config.missed_heartbeats * 2 + 3 * hb * rounds

    def _learn_far(self, beat: Heartbeat) -> None:
        """Take the far records and gone notices of a topology peer's heartbeat. **Changed**
        (twentieth session, seqforge): the peer's own record is its word (the link authenticates
        it) and a hop's record of a node linked here is not taken (``FarTable.learn``)."""
        now = self._now if self._now is not None else 0.0
        if beat.role == "console" or self.hello.role == "console":
            return  # the console is no member of the mesh's topology
        self._heard_candidates = True  # every beat's far records lead with the best candidates
        checks = self._checks_notices()
        self._far.vouching = checks  # (said fields read only signed where words are checked)
        full = 0  # records and notices of nodes new here refused: the table is full (``_claims``)
        linked = self._presence.heard  # (a hop's record of one of them is not taken)
        for record in beat.far:
            if record.node == self.node_id or record.role == "console":
                continue
            if self._no_room_for(record.node):
                full += 1
                continue
            if self._far.learn(record, now, record.node == beat.node, linked):  # news: pass it on
                self._news.setdefault(record.node, None)
                self._trigger = True
        self._taken_back()  # signers whose notices a record proved wrong (``_notices``)
        for node, seq in beat.gone.items():
            if node == self.node_id:
                if seq > self._refuted_seq:  # we live: our next beat, a higher seq, says so
                    self._refuted_seq = seq
                    self._trigger = True
                continue
            if self._linked_to(node):
                # we hear it ourselves, it lives: say so now (its record, newer than the notice)
                if self._far.refute(node, seq, now):
                    self._trigger = True
                continue
            if checks:  # only a signed notice moves anything here (``_notices``)
                continue
            if self._no_room_for(node):
                full += 1
                continue
            if self._far.gone(node, seq, now):
                self._presence.forget(node)
                self._events.append(PeerGone(node))
                self._trigger = True
        self.claim_refusals.refuse(
            beat.node,
            "far_nodes_full",
            f"far records or gone notices of nodes new here: {MAX_FAR_NODES} nodes kept already",
            full,
        )

    def _no_room_for(self, node: str) -> bool:
        """A node new here while the far table is full (``_claims.MAX_FAR_NODES``): refused."""
        return not self._far.knows(node) and self._far.size() >= MAX_FAR_NODES

    def _linked_to(self, node: str) -> bool:
        return any(
            s.peer is not None and s.peer.node == node and s.state in EXCHANGING
            for s in self._sessions.values()
        )

    def _link_lost(self, session: Session, closed: SessionClosed) -> None:
        """A session ended: unless it was pruned, or this node closed it (its own stop), or another
        link to the node remains, the node is gone (a process that died closes its links at once):
        tell every peer now. **Changed** (issue 18, notices): a stopping node's goodbyes ended its
        links and it signed each peer gone, alive as they were (the notices left behind the
        goodbyes; a far node took the venue's new relay out of the election till its records came)."""
        peer = session.peer
        if peer is not None:
            self._console_sent.pop(peer.node, None)  # a new link gets the console's state anew
            self._welcomed.pop(peer.node, None)  # and every far record
        if peer is None or peer.role == "console" or session.stock or self._linked_to(peer.node):
            return  # (a stock Yjs client is no device of the mesh)
        ours = not closed.by_peer and closed.error is None  # (a timeout or bad input: an error)
        if ours or closed.reason.endswith(NOT_A_NEIGHBOUR) or timed_us_out(closed):
            self._presence.forget(peer.node)  # alive: its far record goes on (not its silence)
            return
        self._declare_gone(peer.node)

    def _declare_gone(self, node: str) -> None:
        now = self._now if self._now is not None else 0.0
        seq = self._far.seq(node)
        self._presence.forget(node)
        if seq is not None:  # our own word, signed, moves the election beyond our links
            self._sign_notice(node, seq, now)
        if self._far.gone(node, seq if seq is not None else 0, now):
            self._events.append(PeerGone(node))
            self._trigger = True

    def _expire_far(self, now: float) -> None:
        timeout = self._far_timeout()
        for node in self._far.expire(now, timeout, remember=2 * timeout):
            if node not in self._presence.live:
                self._events.append(PeerGone(node))

    def _gone_out(self, now: float) -> dict[str, int]:
        """The nodes gone lately, at most MAX_FAR a beat (the decoder's bound: a beat naming more
        was refused and its link closed, so that many nodes gone at once, a switch of a large
        venue or a hostile device's notices, closed the mesh's links one by one); past that, a
        window that moves on every beat, so each still goes out within the few beats it is news."""
        gone = self._far.recently_gone(now, self.config.heartbeat_interval * 3)
        if len(gone) <= MAX_FAR:
            return gone
        nodes = list(gone)
        start = (self._seq * MAX_FAR) % len(nodes)
        return {n: gone[n] for n in (nodes[start:] + nodes[:start])[:MAX_FAR]}

    def _should_trigger(self, now: float) -> bool:
        """A heartbeat now for news (at most one per TRIGGER_SPACING)."""
        if not self._trigger or now - self._triggered_at < TRIGGER_SPACING:
            return False
        self._trigger = False
        self._triggered_at = now
        return True
