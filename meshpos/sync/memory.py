"""An in-memory network for tests and examples: synchronizers connected with controllable delivery.

Every pair of nodes that can reach each other and that either node wants linked (``Synchronizer.wants_link``:
the bounded topology of ``_topology``, or everyone for a node announcing no ``topology1``, like N−1) gets one
connection (both sides open a session; the network redials after a connection ends). Every node is told
the whole membership each tick, as mDNS would list it. Messages travel with a delay and optional faults: drop, duplicate,
reorder (an extra random delay so later messages overtake), partitions and single cut links (a cable pull:
messages vanish, nothing tells either side). Time is simulated: :meth:`MemoryNetwork.advance` moves it on and
ticks every node; nothing sleeps.

The network drains each node's events (handing them to ``listener``) before it drains that node's outgoing
data, the same order a real node uses to commit a received update before forwarding it.

**Changed** (issue 18, stall; the twenty-first session): :meth:`MemoryNetwork.stall` holds a node's loop
(no tick, nothing read, what comes for it waits), as a GC pause or a starved process does (``_stalls``).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from meshpos.errors import LocalProtocolError
from meshpos.sync._codec import messages_in
from meshpos.sync._events import SyncEvent
from meshpos.sync._features import FEATURES
from meshpos.sync._synchronizer import Synchronizer
from meshpos.sync._topology import TOPOLOGY_FEATURE


@dataclass(slots=True)
class Faults:
    delay: float = 0.005  # seconds per message
    jitter: float = 0.0  # extra uniform random delay
    drop: float = 0.0  # probability a message is lost
    duplicate: float = 0.0  # probability a message is delivered twice
    reorder: float = 0.0  # probability a message is held back (up to ``reorder_delay``)
    reorder_delay: float = 0.05


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    connections: int = 0


@dataclass(slots=True)
class _Conn:
    a: str
    b: str
    key_a: str  # the session name on node a (for its peer b)
    key_b: str


@dataclass(order=True, slots=True)
class _Delivery:
    at: float
    seq: int
    node: str = field(compare=False)
    key: str = field(compare=False)
    data: bytes | None = field(compare=False)  # None: end of connection


Listener = Callable[[str, SyncEvent], None]
Tap = Callable[[str, str, bytes], None]


class MemoryNetwork:
    def __init__(
        self,
        rng: random.Random,
        *,
        faults: Faults | None = None,
        listener: Listener | None = None,
        redial_delay: float = 0.2,
        start: float = 0.0,
        tap: Tap | None = None,
    ) -> None:
        """``tap(sender, receiver, data)`` sees every message a node puts on the wire (before faults):
        what tests count (step 1s per document, heartbeats) without reaching into a node."""
        self.rng = rng
        self.faults = faults or Faults()
        self.listener = listener
        self.tap = tap
        self.redial_delay = redial_delay
        self.now = start
        self.stats = NetworkStats()
        self.events: list[tuple[str, SyncEvent]] = []  # kept only when there is no listener
        self.nodes: dict[str, Synchronizer] = {}
        self.features: dict[str, frozenset[str]] = {}  # what each node announces (empty: N−1)
        self._conns: dict[int, _Conn] = {}
        self._conns_of: dict[str, set[int]] = {}  # node -> ids of its connections
        self._listed: list[str] = []  # the membership last told to every node
        self._last_dial: dict[frozenset[str], float] = {}
        self._groups: dict[str, int] | None = None
        self._cut: set[frozenset[str]] = set()
        self._queue: list[_Delivery] = []
        self._stalled: dict[str, float] = {}  # node -> when its loop runs again (``stall``)
        self._waiting: dict[str, list[_Delivery]] = {}  # what came for it meanwhile, in order
        self._seq = itertools.count()
        self._conn_ids = itertools.count(1)

    # --- membership and topology ------------------------------------------------------------------

    def add(self, sync: Synchronizer, *, features: frozenset[str] = FEATURES) -> None:
        """Put ``sync`` on the network; ``features``: what it announces (``frozenset()``: an N−1 node,
        which links to everyone and reads no one's features)."""
        if sync.node_id in self.nodes:
            raise LocalProtocolError(f"node {sync.node_id!r} is already on the network")
        self.nodes[sync.node_id] = sync
        self.features[sync.node_id] = features
        sync.set_members(self.nodes)
        sync.tick(self.now)
        self._dial()

    def seen_features(self, a: str, b: str) -> frozenset[str]:
        """What ``a``'s session learns of ``b``: nothing when ``a`` is N−1 (it reads no header)."""
        return self.features[b] if self.features[a] else frozenset()

    def _wanted(self, a: str, names: list[str], legacy: set[str]) -> set[str]:
        """The peers ``a`` dials: everyone for an N−1 node or towards one (``legacy``), else its
        topology's."""
        if TOPOLOGY_FEATURE not in self.features[a]:
            return set(names) - {a}
        mine = self.nodes[a]  # (what its session would learn of each: ``wants_link``)
        wanted = {
            b
            for b in mine.links_wanted()
            if b not in self.features or mine.wants_link(b, self.seen_features(a, b))
        }
        return (wanted | legacy) - {a}

    def links(self) -> dict[str, set[str]]:
        """Node -> the nodes it has an open connection to (both ends' sessions exist)."""
        out: dict[str, set[str]] = {name: set() for name in self.nodes}
        for conn in self._conns.values():
            if self._open(conn.a, conn.key_a) and self._open(conn.b, conn.key_b):
                out[conn.a].add(conn.b)
                out[conn.b].add(conn.a)
        return out

    def crash(self, node: str, *, notify_peers: bool = False) -> Synchronizer:
        """Take ``node`` off the network at once, like a power cut (peers notice by timeout) or, with
        ``notify_peers``, like a killed process whose sockets the OS resets (peers see the end)."""
        sync = self.nodes.pop(node)
        self.features.pop(node, None)
        self._stalled.pop(node, None)
        self._waiting.pop(node, None)
        for conn in list(self._conns.values()):
            if node in (conn.a, conn.b) and notify_peers:
                other, key = (conn.b, conn.key_b) if conn.a == node else (conn.a, conn.key_a)
                self._schedule(other, key, None, self.faults.delay)
        self._queue = [d for d in self._queue if d.node != node]
        heapq.heapify(self._queue)
        return sync

    def partition(self, *groups: Iterable[str]) -> None:
        """Only nodes within one group reach each other; a node in no group reaches no one."""
        self._groups = {node: i for i, group in enumerate(groups) for node in group}

    def heal(self) -> None:
        """Undo partitions and cut links."""
        self._groups = None
        self._cut.clear()

    def cut(self, a: str, b: str) -> None:
        self._cut.add(frozenset((a, b)))

    def restore(self, a: str, b: str) -> None:
        self._cut.discard(frozenset((a, b)))

    def reachable(self, a: str, b: str) -> bool:
        if a not in self.nodes or b not in self.nodes or frozenset((a, b)) in self._cut:
            return False
        if self._groups is None:
            return True
        group = self._groups.get(a)
        return group is not None and group == self._groups.get(b)

    def stall(self, node: str, seconds: float) -> None:
        """``node``'s loop does not run for ``seconds`` from now (a GC pause, a slow disk, a laptop
        suspended): it is not ticked and reads nothing, what comes for it waits (as in its sockets)
        and nothing is dialled to it; its peers go on. It runs again with a tick first, then reads
        what waited (the order a node can least afford: ``sync/_stalls.py``)."""
        self._stalled[node] = self.now + seconds

    def _resume(self, node: str, sync: Synchronizer) -> None:
        del self._stalled[node]
        sync.tick(self.now)
        self.pump(node)
        for item in self._waiting.pop(node, []):
            self._deliver(item)

    # --- time -------------------------------------------------------------------------------------

    def advance(self, duration: float, step: float = 0.05) -> None:
        """Move simulated time on by ``duration``, ticking every node every ``step`` seconds."""
        end = self.now + duration
        while self.now < end - 1e-9:
            self.now = min(self.now + step, end)
            self._deliver_due()
            for name in list(self.nodes):
                sync = self.nodes.get(name)
                until = self._stalled.get(name)
                if sync is not None and until is not None:
                    if self.now >= until - 1e-9:
                        self._resume(name, sync)
                elif sync is not None:
                    sync.tick(self.now)
                    self.pump(name)
            self._dial()

    def pump(self, node: str) -> None:
        """Drain ``node``'s events (to the listener), then its outgoing data onto the wire."""
        sync = self.nodes.get(node)
        if sync is None:
            return
        for event in sync.events_received():
            if self.listener is not None:
                self.listener(node, event)
            else:
                self.events.append((node, event))
        for conn_id in sorted(self._conns_of.get(node, ())):
            conn = self._conns.get(conn_id)
            if conn is None:
                continue
            key, other, other_key = (
                (conn.key_a, conn.b, conn.key_b)
                if conn.a == node
                else (conn.key_b, conn.a, conn.key_a)
            )
            for data in sync.data_to_send(key):
                self._send(node, other, other_key, data)

    def _send(self, sender: str, to: str, key: str, data: bytes) -> None:
        f = self.faults
        if (
            not data
        ):  # the sender closed its end: the other end sees EOF (unless the cable is pulled)
            if self.reachable(sender, to):
                self._schedule(to, key, None, f.delay)
            return
        self.stats.sent += 1
        if self.tap is not None:
            for message in messages_in(data):  # a batch's messages one by one
                self.tap(sender, to, message)
        if not self.reachable(sender, to) or self.rng.random() < f.drop:
            self.stats.dropped += 1
            return
        copies = 1
        if self.rng.random() < f.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            delay = f.delay + (self.rng.uniform(0, f.jitter) if f.jitter else 0.0)
            if self.rng.random() < f.reorder:
                delay += self.rng.uniform(0, f.reorder_delay)
                self.stats.reordered += 1
            self._schedule(to, key, data, delay)

    def _schedule(self, node: str, key: str, data: bytes | None, delay: float) -> None:
        heapq.heappush(self._queue, _Delivery(self.now + delay, next(self._seq), node, key, data))

    def _deliver_due(self) -> None:
        while self._queue and self._queue[0].at <= self.now + 1e-12:
            item = heapq.heappop(self._queue)
            if item.node in self._stalled:
                self._waiting.setdefault(item.node, []).append(item)
            else:
                self._deliver(item)

    def _deliver(self, item: _Delivery) -> None:
        sync = self.nodes.get(item.node)
        if sync is None or item.key not in sync.sessions:
            return  # that connection is already gone on this side
        if item.data is None:
            sync.receive_eof(item.key)
        else:
            self.stats.delivered += 1
            sync.receive_data(item.key, item.data)
        self.pump(item.node)

    def _open(self, node: str, key: str) -> bool:
        sync = self.nodes.get(node)
        return sync is not None and key in sync.sessions

    def _dial(self) -> None:
        live: set[frozenset[str]] = set()
        for conn_id, conn in list(self._conns.items()):
            a_open, b_open = self._open(conn.a, conn.key_a), self._open(conn.b, conn.key_b)
            if not a_open and not b_open:
                del self._conns[conn_id]
                self._conns_of.get(conn.a, set()).discard(conn_id)
                self._conns_of.get(conn.b, set()).discard(conn_id)
            elif a_open and b_open:
                live.add(frozenset((conn.a, conn.b)))
        names = sorted(self.nodes)
        if names != self._listed:  # what mDNS lists changed: tell everyone
            self._listed = names
            for name in names:
                self.nodes[name].set_members(names)
        pairs: set[tuple[str, str]] = set()
        legacy = {n for n in names if not self.features[n]}
        for a in names:
            for b in self._wanted(a, names, legacy):
                if b in self.nodes:
                    pairs.add((min(a, b), max(a, b)))
        for a, b in sorted(pairs):
            pair = frozenset((a, b))
            if pair in live or not self.reachable(a, b) or self._stalled.keys() & pair:
                continue
            if self.now < self._last_dial.get(pair, -1e18) + self.redial_delay:
                continue
            self._last_dial[pair] = self.now
            n = next(self._conn_ids)
            conn = _Conn(a, b, f"{b}#{n}", f"{a}#{n}")
            self._conns[n] = conn
            self._conns_of.setdefault(a, set()).add(n)
            self._conns_of.setdefault(b, set()).add(n)
            self.stats.connections += 1
            self.nodes[a].connect(conn.key_a, features=self.seen_features(a, b))
            self.nodes[b].connect(conn.key_b, features=self.seen_features(b, a))
            self.pump(a)
            self.pump(b)
