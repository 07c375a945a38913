"""The synchronizer's part of the durability count beyond the links: attestations (``_held``).

docs/architecture.md (Status), docs/architecture.md (Security). What each node holds of the open ledger days goes, as
attestations, towards each author along its tree, a hop at a time in the heartbeats, so a register
counts on how many devices its sales are durable ("on k of n devices"). Split off ``_passing`` (at
the module bound) by meaning: ``_passing`` passes the console's word and the welcome on, this module
makes, routes and takes the devices' own word of what they hold. A mixin of
:class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.

**Changed** (nineteenth session, robust): a word whose signer is on the deny-list or whose certificate is
not valid now is skipped (not counted, not passed on: ``HeldTable.skipped``), no longer bad input
that closes the session. The deny-list reaches the nodes one after another, and while it spread a
hop that did not know yet passed a revoked register's word on to one that did, which closed their
link (11 closures in 10 simulated s at 12 registers: ``tests/outside/test_revoked_attestation.py``),
as gone notices and said parts did (``_notices``, ``_far_signing``). Any other refusal (signature,
signer, venue, body) still closes the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pycrdt import Doc

from meshpos.model.documents import is_ledger
from meshpos.sync._config import SyncConfig
from meshpos.sync._held import HELD_FEATURE, HELD_PER_BEAT, HeldTable, Proof
from meshpos.sync._held_signed import (
    ATTESTATION,
    HELD_SIGNED_FEATURE,
    HeldSignatureRefused,
    HeldWord,
    SignedHeld,
    SignerNotValidNow,
    decode_word,
    word_body,
    word_node,
)
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._presence import PresenceTable
from meshpos.sync._session import Session
from meshpos.sync._signed import Statements
from meshpos.sync._updates import held_clocks

#: a beat's checked words by the node each speaks for (``Attesting._check_words``)
Proofs = dict[str, list[tuple[SignedHeld, HeldWord]]]
#: this node's own signed words kept by content (an unchanged word is not signed again)
OWN_WORDS = 64
#: other devices' checked words kept decoded by their bytes (a few beats of a large venue's)
KEPT_WORDS = 1024
#: devices' certificates kept, by node (above the far records' bound, ``_claims``: every node's)
KEPT_CERTS = 2048


class Attesting:
    """Attestations made, routed and taken, per link (a mixin of ``Synchronizer``)."""

    hello: Hello
    _discovered: frozenset[str]
    _seq: int
    _docs: dict[str, Doc[Any]]
    _attested: HeldTable
    _attested_at: tuple[int, frozenset[str]]  # (the beat seq, the open documents) last attested
    _attested_again_at: float  # when this node's own attestations were last queued again
    _now: float | None
    _presence: PresenceTable
    config: SyncConfig

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        @property
        def members(self) -> frozenset[str]: ...

        def _exchanging(self) -> list[Session]: ...

        def _client_nodes(self) -> dict[int, str]: ...

        def _graph(self) -> dict[str, frozenset[str]]: ...

        def _shape(self) -> tuple[frozenset[str], frozenset[str]]: ...

        @property
        def statements(self) -> Statements: ...

    def held_beyond(self, doc: str) -> dict[str, dict[int, int]]:
        """Per other node, what it attested it holds of ``doc`` (client -> clock), passed here."""
        return {n: sv for n, sv in self._attested.of(doc).items() if n != self.node_id}

    def _attest_own(self) -> None:
        """Attest what this node holds of the open ledger days, for every author whose node we know
        (once per beat: the state as the beat is built, which the engine commits before it sends)."""
        if self._attested_at[0] == self._seq:
            return  # (called for every link; once a beat does)
        docs = frozenset(self._docs)
        if self._attested_at[1] != docs:
            self._attested.keep_only(docs)
        self._attested_at = (self._seq, docs)
        clients = self._client_nodes()
        own = self._attested.own
        for name, doc in self._docs.items():
            if not is_ledger(name):
                continue
            state = held_clocks(doc)  # (parsed once per state, shared with the receiving side)
            last = own.get(name)
            if last is None or (last[0] is not state and last[0] != state):
                unknown: Mapping[int, int] = state  # (every client, to start with)
            elif last[1]:
                unknown = last[1]  # the same state: only clients whose node was not known
            else:
                continue  # the same state, all of it attested already: nothing to do
            own[name] = (state, self._attest(name, unknown, clients))
        now = self._now
        if now is not None and now - self._attested_again_at >= self.config.anti_entropy_interval:
            # An attestation goes on only when it rises, and one can die on the way: a neighbour
            # killed before its heartbeat passed it on, or one that did not know the author yet
            # (it restarted, and our link came before the author's). So every anti-entropy
            # period this node's own go on again: the author counts it within one period, and a
            # hop that has it already passes nothing on.
            self._attested_again_at = now
            for key in self._attested.kept(self.node_id):
                self._attested.queue(key)

    def _attest(
        self, doc: str, clocks: Mapping[int, int], clients: dict[int, str]
    ) -> dict[int, int]:
        """Attest this node holds ``clocks`` of ``doc``, each client whose node is known (queued on
        when it rose); the clients whose node is not known yet are returned."""
        unknown: dict[int, int] = {}
        mine = self.hello.client_id  # (this node's own writes: nothing to attest)
        for client, clock in clocks.items():
            author = clients.get(client)
            if author is None:
                if client != mine:
                    unknown[client] = clock
            elif author != self.node_id and self._attested.learn(self.node_id, doc, client, clock):
                self._attested.queue((self.node_id, doc, client))
        return unknown

    def _with_attestations(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with the attestations whose next hop is ``session``'s peer (at most
        HELD_PER_BEAT; the others wait for their own link or the next beat)."""
        peer = session.device_peer(HELD_FEATURE)
        if peer is None:
            return beat
        self._attest_own()
        taken = self._attested.take(beat.seq, self._held_hops, peer.node, HELD_PER_BEAT)
        if not taken:
            return beat
        signing = HELD_SIGNED_FEATURE in session.peer_features
        clients = self._client_nodes() if signing else {}
        # every attestation routed to this peer goes in ``held`` (grouped on the wire), and with
        # it the words that prove those not said on this link by their own node: a word proves
        # only what ``held`` routes here (a receiver that took a word's every attestation passed
        # each on along its own tree: ~100 kB of words per receipt at 50 devices)
        held: dict[str, dict[str, dict[int, int]]] = {}
        own: dict[str, dict[int, int]] = {}  # this node's, through the peer to another author
        words: dict[SignedHeld, str] = {}  # -> its node (ordered, no repeats)
        for key in taken:
            node, doc, client = key
            clock = self._attested.clock(key)
            held.setdefault(node, {}).setdefault(doc, {})[client] = clock
            if not signing:
                continue
            if node == self.node_id:
                if clients.get(client) != peer.node:
                    own.setdefault(doc, {})[client] = clock
                continue
            proof = self._attested.proof(key)
            if proof:  # its node's word, passed on as it came
                words[proof] = node
        if own:
            word = self._own_word(own)
            if word is not None:
                words[word] = self.node_id
        return replace(beat, held=held, helds=self._by_reference(words, session))

    def _own_word(self, held: dict[str, dict[int, int]]) -> SignedHeld | None:
        """This node's word saying it holds ``held``, signed once per distinct content (an idle
        node's attestations go again every anti-entropy period, the same words: nothing is signed
        again); None without a signer or while this node is not strict (its venue's console has
        no key, or "auto" took no statement yet): it goes unsigned, and only a node that is not
        strict counts it (a strict one's count is then lower, never higher)."""
        signer = self.config.held_signer
        if signer is None or not self.statements.strict:
            return None  # (a venue that is not strict counts unsigned words: no need to pay)
        body = word_body(self.node_id, self.hello.venue, held)
        signed = self._attested.own_words.get(body)
        if signed is None:
            signed = signer(body)
            if signed is None:
                return None
            if len(self._attested.own_words) >= OWN_WORDS:
                del self._attested.own_words[next(iter(self._attested.own_words))]
            self._attested.own_words[body] = signed
        return signed

    def _held_hops(self) -> Callable[[int], str | None]:
        """The peer an attestation about a client's writes goes to: its author's node when linked,
        else our parent in the author's tree (``_topology.tree``) when linked; None: not now. In
        that tree N−1 peers (no HELD_FEATURE: they pass no attestation on) are leaves, like
        kitchen screens. The links, graph and client ids are read once (a beat's look-ups)."""
        clients = self._client_nodes()
        linked: set[str] = set()
        plain: set[str] = set()
        for s in self._exchanging():
            if s.peer is not None and not s.stock and s.peer.role != "console":
                (linked if HELD_FEATURE in s.peer_features else plain).add(s.peer.node)
        links = self._graph()
        leaves = self._shape()[1] | plain
        me = self.node_id

        def hop(client: int) -> str | None:
            author = clients.get(client)
            if author is None or author == me:
                return None
            if author in linked:
                return author
            if author not in links or me not in links:
                return None
            parent = self._attested.parents(author, links, leaves).get(me)
            if parent in linked:
                return parent
            if len(links) <= self.config.full_mesh:  # (issue 18, tail) an N−1 author's opposite
                live = self._presence.live  # its tree's hop is the author: a peer linked to it
                near = [p for p in linked if p in live and author in live[p].peers]
                return min(near, default=None)
            return None

        return hop

    def _learn_held(self, beat: Heartbeat, words: Proofs) -> None:
        """Keep the attestations of a peer's heartbeat about nodes, open days and authors we know
        (what we keep is bounded by the venue), and queue on those that rose; ``words``: the beat's
        words as :meth:`_check_words` checked them."""
        if beat.role == "console" or self.hello.role == "console":
            return
        strict = self.statements.strict
        for node, docs in beat.held.items():
            proven: dict[SignedHeld, dict[str, dict[int, int]]] = {}
            unproven: dict[str, dict[int, int]] = {}
            for doc, clocks in docs.items():
                for client, clock in clocks.items():
                    proof = next(
                        (
                            signed
                            for signed, word in words.get(node, ())
                            if word.held.get(doc, {}).get(client, 0) >= clock
                        ),
                        None,
                    )
                    if proof is not None:
                        proven.setdefault(proof, {}).setdefault(doc, {})[client] = clock
                    else:
                        unproven.setdefault(doc, {})[client] = clock
            for signed, proved in proven.items():
                self._learn_word(node, proved, signed)
            if not unproven:
                continue
            if node == beat.node:  # its own word, on its own link (a word, if any, goes on with it)
                self._learn_word(node, unproven, None)
            elif not strict:  # (an N−1 peer's, or passed on unsigned: strict takes none)
                self._learn_word(node, unproven, False)

    def _check_words(self, words: tuple[SignedHeld, ...]) -> Proofs:
        """Check every word of a beat before anything of the beat is taken (``_on_heartbeat``): a
        beat with a forged one changes nothing. Returns them by the node each speaks for, for
        :meth:`_learn_held`; none without a check: a node that cannot tell a device's word from a
        forged one takes none. **Changed** (issue 18, recv): the beat's words were checked here
        and then again, each one, when its attestations were taken (the certificate's dates, the
        deny-list, the caches' look-ups: half of every word's checks, at the same moment)."""
        by: Proofs = {}
        if self.config.held_check is None:
            return by
        for signed in words:
            checked = self._checked_word(signed)
            if checked is not None:
                by.setdefault(checked[1].node, []).append(checked)
        return by

    def _checked_word(self, signed: SignedHeld) -> tuple[SignedHeld, HeldWord] | None:
        """``signed`` whole (its certificate filled in when it came by reference) and what it says,
        its signature checked (once per distinct word: cached by bytes; the certificate's dates
        and the deny-list are asked every time), or refused; None: by reference to a certificate
        this node does not hold, or by a signer revoked or not valid now (not proven here: it is
        not counted, nor passed on)."""
        check = self.config.held_check
        assert check is not None  # (callers take no word without one)
        table = self._attested
        if not signed.cert:
            cert = table.certs.get(word_node(signed.body))
            if cert is None:
                return None
            signed = SignedHeld(signed.body, cert, signed.sig)
        try:
            signer = check(signed)
        except SignerNotValidNow:
            table.skipped += 1  # (an honest hop's, that does not know yet: not counted)
            return None
        word = table.words.get(signed)
        if word is None:
            word = decode_word(signed.body)
            if word.node != signer or word.venue != self.hello.venue:
                raise HeldSignatureRefused(
                    f"{ATTESTATION} of {word.node!r} (venue {word.venue!r:.80}) is "
                    f"signed by {signer!r}"
                )
            if len(table.words) >= KEPT_WORDS:
                del table.words[next(iter(table.words))]
            table.words[signed] = word
            if table.certs.get(word.node) != signed.cert:
                if len(table.certs) >= KEPT_CERTS:
                    del table.certs[next(iter(table.certs))]
                table.certs[word.node] = signed.cert
        return signed, word

    def _by_reference(
        self, words: dict[SignedHeld, str], session: Session
    ) -> tuple[SignedHeld, ...]:
        """``words`` (each with its node) as they go to ``session``'s peer: a node's certificate
        once per link, then by reference (a word is ~250 bytes, a certificate ~650: every word
        whole was ~55 kB of heartbeats per receipt at 50 devices, ``meshpos.bench.beat_bytes``)."""
        assert session.peer is not None
        table = self._attested
        kept = table.certs_sent.get(session.peer.node)
        if kept is None or kept[0] is not session:  # (a new link: it has none of them)
            kept = table.certs_sent[session.peer.node] = (session, set())
        sent = kept[1]
        out: list[SignedHeld] = []
        for word, node in words.items():
            if node in sent:
                out.append(SignedHeld(word.body, "", word.sig))
            else:
                sent.add(node)
                out.append(word)
        return tuple(out)

    def _learn_word(
        self, node: str, docs: dict[str, dict[int, int]], proof: Proof | Literal[False]
    ) -> None:
        """Keep ``node``'s attestations of open days about authors we know (what we keep is
        bounded by the venue), shown by ``proof``; queue on those that rose."""
        if node == self.node_id or node not in self.members | self._discovered:
            return
        clients = self._client_nodes()
        for doc, clocks in docs.items():
            if doc not in self._docs:
                continue
            for client, clock in clocks.items():
                author = self.node_id if client == self.hello.client_id else clients.get(client)
                if author is None or not self._attested.learn(node, doc, client, clock, proof):
                    continue
                if author != self.node_id:
                    self._attested.queue((node, doc, client))
