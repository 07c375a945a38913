"""Who holds what beyond this node's links: the durability count "on k of n devices" (issue 18).

docs/architecture.md (Durability). A peer's sync step 1 says what that peer holds committed, and the
durability of a receipt (``register/status.py``) counts the devices whose state covers the receipt's.
With bounded links (``_topology``) a node hears step 1s from a few neighbours only, so a seller would
count at most DEGREE + 1 devices. Every node therefore *attests* what it holds of the other authors'
ledger writes, and the attestations travel to their authors:

* An attestation is (node, ledger document, client, clock): ``node`` holds, committed, every struct of
  ``client`` below ``clock`` in that document. A node makes one for itself whenever its state of an
  open ledger day grows for a client whose node it knows (the far records and hellos name each node's
  client id this run). It never says more than its own state, taken as a heartbeat is built (the
  engine drains and commits everything applied before it sends anything: what it says it holds is
  committed, like its step 1s).
* It goes to the author's node: on the link to it, or else to this node's parent in the author's
  breadth-first tree (``_topology.tree``), which passes it on the same way. Each hop keeps the highest
  clock per (node, document, client) and queues it on when it rose, so an attestation crosses each
  tree edge once per change, never floods, and a copy that arrives twice changes nothing.
* Per heartbeat at most :data:`HELD_PER_BEAT` attestations go on a link, the latest rises first (the
  rest wait, highest kept): a bounded cost whatever N. A node only sells its own receipts, so the count its cashier sees is
  complete within a few beats; another node's count for a receipt it did not write stays the lower
  bound of what reached it (its links' step 1s and what it passed on).
* Counting is by node id and clock, never by sums: a device is counted once, and only once an
  attestation of its own state covering the receipt reached the counter. Clocks of one client only
  grow and a node's committed state is never taken back, so an older attestation stays true.

The field is ``held`` in the heartbeat, sent only to peers that announced :data:`HELD_FEATURE` (an N−1
peer, 0485a2d, refuses unknown heartbeat fields). **Changed** (issue 18, sign): an enrolled device
could attest for another one; a strict node now keeps another device's attestation only as that device
said it on its own link or signed it (``_held_signed``): each kept clock has its *proof* here.

Pure bookkeeping here; the synchronizer's part (what to attest, where to send) is in ``_passing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from meshpos.sync._held_signed import HeldWord, SignedHeld
from meshpos.sync._topology import tree

#: the feature a peer announces (sync/_features.py) when it takes the heartbeat's ``held`` field
HELD_FEATURE = "held1"
#: the feature a peer announces when it takes the attestations grouped, ``heldc`` (``_held_wire``)
HELD_COMPACT_FEATURE = "held2"
#: attestations in one heartbeat on one link (bounded whatever N; the rest wait for the next beat)
HELD_PER_BEAT = 48
#: attestations a heartbeat may carry at most (the decoder's bound: above what we send)
MAX_HELD = 256

Key = tuple[str, str, int]  # (node, document, client)
#: what shows a kept attestation: its node's signed word, or None (its node said it on its own link)
Proof = SignedHeld | None
#: forgotten documents ``Moved`` keeps a stamp of each (the closed days a reader may still hold)
KEPT_RESETS = 64


def _rank(proof: Proof | Literal[False]) -> int:
    """How far a proof carries: none, this node only (a link), every node (a word)."""
    return 0 if proof is False else 1 if proof is None else 2


class Moved:
    """Whose held state of each document moved, in order: a stamp per move. A reader keeps the stamp
    it read up to and reads again only the nodes moved since (**Changed** (issue 18, held): the
    durability count of the latest sale rebuilt every node's held state as dicts and tested each, on
    every status: ~0.6 ms profiled per status at 20 devices; ``register/held_count.py``)."""

    def __init__(self) -> None:
        self.stamp = 0
        self._docs: dict[str, dict[str, int]] = {}  # doc -> node -> its last move, oldest first
        self._reset: dict[str, int] = {}  # doc -> the stamp its whole table was forgotten at
        # the latest stamp of a forgetting no longer in ``_reset``: a document without its own entry
        # counts as forgotten then (a reader older than it reads every node once more); so ``_reset``
        # keeps the last ``KEPT_RESETS`` closed days, not one entry per day ever closed
        self._floor = 0

    def move(self, doc: str, node: str) -> None:
        self.stamp += 1
        nodes = self._docs.setdefault(doc, {})
        nodes.pop(node, None)  # (to the end: the newest)
        nodes[node] = self.stamp

    def forget(self, doc: str) -> None:
        """Every node's state of ``doc`` went (the day closed): a reader reads all of it again."""
        self.stamp += 1
        self._docs.pop(doc, None)
        self._reset.pop(doc, None)  # (to the end: the newest)
        self._reset[doc] = self.stamp
        while len(self._reset) > KEPT_RESETS:
            oldest = next(iter(self._reset))
            self._floor = max(self._floor, self._reset.pop(oldest))

    def since(self, doc: str, stamp: int) -> list[str] | None:
        """The nodes whose state of ``doc`` moved after ``stamp`` (None: read every node again)."""
        if self._reset.get(doc, self._floor) > stamp:
            return None
        moved: list[str] = []
        for node, at in reversed(self._docs.get(doc, {}).items()):
            if at <= stamp:
                break
            moved.append(node)
        return moved


class StepOnes:
    """Per peer, what its last sync step 1 of each open document said it holds committed (client ->
    clock; kept after the peer goes away), each change a move (``Moved``)."""

    def __init__(self, moved: Moved) -> None:
        self._by: dict[str, dict[str, dict[int, int]]] = {}  # node -> doc -> client -> clock
        self._moved = moved

    def note(self, node: str, doc: str, clocks: dict[int, int]) -> None:
        docs = self._by.setdefault(node, {})
        if docs.get(doc) != clocks:  # (an anti-entropy round notes the same state again)
            docs[doc] = clocks
            self._moved.move(doc, node)

    def drop(self, doc: str) -> None:
        """Forget every peer's state of ``doc`` (held_by covers open documents only)."""
        for docs in self._by.values():
            docs.pop(doc, None)
        self._moved.forget(doc)

    def of(self, doc: str) -> dict[str, dict[int, int]]:
        """Per node, its step 1's state of ``doc``: the kept maps (read them, never change them)."""
        return {node: docs[doc] for node, docs in self._by.items() if doc in docs}

    def get(self, node: str, doc: str) -> dict[int, int] | None:
        return self._by.get(node, {}).get(doc)


class HeldTable:
    """Attestations heard or made here: the highest clock per (node, document, client), and which of
    them still have to go on towards their author; and the links' step 1s (``step_ones``), both
    counted by the durability count, their moves in ``moved``."""

    def __init__(self) -> None:
        self.moved = Moved()
        self.step_ones = StepOnes(self.moved)
        self._clocks: dict[str, dict[str, dict[int, int]]] = {}  # node -> doc -> client -> clock
        self._queue: dict[Key, None] = {}  # to pass on, newest last (a dict: ordered, no repeats)
        self._proofs: dict[Key, Proof] = {}  # what shows each kept clock (absent: unproven)
        #: (``_attesting``) this node's own words by body, and other devices' checked words decoded
        self.own_words: dict[str, SignedHeld] = {}
        self.words: dict[SignedHeld, HeldWord] = {}
        #: each device's certificate as its checked words came (their words then come by
        #: reference), and per peer, the link and the nodes whose certificate went on it
        self.certs: dict[str, str] = {}
        self.certs_sent: dict[str, tuple[object, set[str]]] = {}
        #: words of a revoked signer, or one not valid now, skipped (not counted, not passed on)
        self.skipped = 0
        self._trees: dict[str, dict[str, str]] = {}  # author -> parents, for the graph below
        self._trees_for: tuple[object, frozenset[str]] = (None, frozenset())
        #: per open document, the state this node last attested from and the clients in it whose
        #: node was not known then (``_passing._attest_own``: an unchanged state is not read again)
        self.own: dict[str, tuple[Mapping[int, int], dict[int, int]]] = {}
        self._plan: tuple[int, dict[str, list[Key]]] = (-1, {})  # (beat, next hop -> keys)

    def parents(
        self, author: str, links: dict[str, frozenset[str]], leaves: frozenset[str]
    ) -> dict[str, str]:
        """Each node's parent in ``author``'s tree over ``links`` in which ``leaves`` pass nothing
        on (kept until the graph or the leaves change)."""
        if self._trees_for[0] is not links or self._trees_for[1] != leaves:
            self._trees, self._trees_for = {}, (links, leaves)
        parents = self._trees.get(author)
        if parents is None:
            parents = self._trees[author] = tree(links, author, leaves)
        return parents

    def learn(
        self, node: str, doc: str, client: int, clock: int, proof: Proof | Literal[False] = None
    ) -> bool:
        """Keep ``node`` holds ``client``'s structs of ``doc`` below ``clock``, as ``proof`` shows it
        (``_held_signed``: its signed word; None: heard from ``node`` itself; False: an unsigned
        word passed on, taken only where the venue is not strict); True when that is more than was
        known, or the same clock better proven (the caller then queues it on): a word proves it to
        every node, a link only to this one, so a word takes the place of a link's proof (a node
        turning strict heard its links' attestations unsigned, and keeps them: their words, when
        they come, must go on)."""
        docs = self._clocks.setdefault(node, {})
        held = docs.get(doc)
        if held is None:  # (a node attesting nothing above 0 is one that holds the document)
            held = docs[doc] = {}
            self.moved.move(doc, node)
        key = (node, doc, client)
        before = held.get(client, 0)
        if clock < before or (clock == before and _rank(proof) <= _rank(self.proof(key))):
            return False
        if proof is False:
            self._proofs.pop(key, None)
        else:
            self._proofs[key] = proof
        if clock > before:
            held[client] = clock
            self.moved.move(doc, node)
        return True

    def proof(self, key: Key) -> Proof | Literal[False]:
        """What shows the kept clock of ``key`` (:meth:`learn`): its word, None (its node said it
        on its own link, or it is this node's), False (unproven)."""
        return self._proofs.get(key, False)

    def forget_unproven(self) -> None:
        """Forget every attestation no signature or link proves (the node turned strict: a device
        may have lied meanwhile; the true ones come again, signed, within an anti-entropy period)."""
        for node, docs in self._clocks.items():
            for doc, clocks in docs.items():
                gone = [c for c in clocks if (node, doc, c) not in self._proofs]
                for client in gone:
                    del clocks[client]
                    self._queue.pop((node, doc, client), None)
                if gone:
                    self.moved.move(doc, node)

    def kept(self, node: str) -> list[Key]:
        """Every attestation kept here about what ``node`` holds."""
        return [
            (node, doc, client)
            for doc, clocks in self._clocks.get(node, {}).items()
            for client in clocks
        ]

    def queue(self, key: Key) -> None:
        """Queue ``key`` to pass on, as the newest (a rise moves it to the front: what a cashier
        looks at is the latest sale's count, not one an older backlog holds back)."""
        self._queue.pop(key, None)
        self._queue[key] = None

    def take(
        self, beat: int, hops: Callable[[], Callable[[int], str | None]], peer: str, limit: int
    ) -> list[Key]:
        """Up to ``limit`` queued attestations whose next hop is ``peer``, newest first, taken off
        the queue (the others stay, in order). The queue is sorted out by next hop once per
        ``beat`` for every peer (``hops()`` makes the look-up, one a client): a beat goes to every
        link, and each link's share used to be found by walking the whole queue again, looking
        every client's hop up again."""
        if self._plan[0] != beat:  # (an empty queue looks nothing up)
            self._plan = (beat, self._sort_out(hops(), limit) if self._queue else {})
        taken = [key for key in self._plan[1].pop(peer, ()) if key in self._queue]
        for key in taken:
            del self._queue[key]
        return taken

    def _sort_out(self, hop: Callable[[int], str | None], limit: int) -> dict[str, list[Key]]:
        """The queue, newest first, by next hop: at most ``limit`` keys each."""
        plan: dict[str, list[Key]] = {}
        hops: dict[int, str | None] = {}  # one look-up per client
        for key in reversed(self._queue):
            client = key[2]
            if client in hops:
                to = hops[client]
            else:
                to = hops[client] = hop(client)
            if to is None:
                continue
            keys = plan.setdefault(to, [])
            if len(keys) < limit:
                keys.append(key)
        return plan

    def clock(self, key: Key) -> int:
        node, doc, client = key
        return self._clocks.get(node, {}).get(doc, {}).get(client, 0)

    def attested(self, node: str, doc: str) -> dict[int, int] | None:
        return self._clocks.get(node, {}).get(doc)

    def of(self, doc: str) -> dict[str, dict[int, int]]:
        """Per node, what it attested of ``doc`` (client -> clock): the table's own maps, not copies
        (read them, never change them: the durability count reads every node's every beat)."""
        return {node: docs[doc] for node, docs in self._clocks.items() if doc in docs}

    def keep_only(self, docs: set[str] | frozenset[str]) -> None:
        """Forget attestations of documents no longer open here (a closed day counts no more)."""
        for node in list(self._clocks):
            held = self._clocks[node]
            for doc in [d for d in held if d not in docs]:
                del held[doc]
                self.moved.forget(doc)
            if not held:
                del self._clocks[node]
        for key in [k for k in self._queue if k[1] not in docs]:
            del self._queue[key]
        for key in [k for k in self._proofs if k[1] not in docs]:
            del self._proofs[key]
        for doc in [d for d in self.own if d not in docs]:
            del self.own[doc]

    @property
    def queued(self) -> int:
        return len(self._queue)
