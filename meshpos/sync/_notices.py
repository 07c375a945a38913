"""Gone notices signed by the node that lost the link: what moves the election beyond the links.

docs/architecture.md (Relay and console), docs/architecture.md (Security). A node that loses its link
to a peer tells the mesh at once (``_spread``), so every node drops a dead relay from the election
within a few message delays. The notice was any linked peer's unsigned word: an enrolled device that
named the relay gone in every beat, as of the relay's next seq, kept the far nodes electing another
(two relays uploading, the indicator flapping). **Changed** (issue 18, notice): on a node that can
check devices' words (``SyncConfig.held_check``, every real node), a notice moves the election only
when it is

* signed by the node that lost the link, with its device key (``held_signer``: the same key and
  checks as attestations, ``_held_signed``; the body is ``{"by", "gone", "seq", "venue"}``, which no
  attestation's body can be, nor the other way round), carried in the heartbeat's ``gones`` field
  (feature :data:`GONE_SIGNED_FEATURE`) and passed on unchanged by every node that took it;
* by a node that was linked to the named one in this node's view of the topology (``_topology``:
  either end wants the link): a device that was never its neighbour cannot sign it away;
* not older than what is held here (a replay below the node's record is stale), and not from a
  signer whose notice about that node was taken back within :data:`DISTRUST_S`.

A signed notice marks the node as of the notice's ``seq`` (the last one the signer heard): records
at or below it are in flight from before the link closed. The node's own records take it back
(``FarTable.prove``): one above that ``seq``, or one that rose here a heartbeat or more after the
mark (a huge ``seq`` buys about that: 2 s at 20 and at 40 nodes on the in-memory bed). A notice taken back is the
signer's word proven wrong: that signer is not heard about that node for :data:`DISTRUST_S`, so a
device signing the relay away "as of its next seq" in every beat moves the election once, then
never for five minutes (an honest link that flaps costs the same: the node's other neighbours still
sign when it really dies). Unsigned notices (an N−1 peer's, or a forger's) move nothing on such a
node: the dead node leaves the candidates when its record is no longer refreshed (twice a direct
heartbeat's timeout), as before the notices existed. A node that cannot check (in-memory test beds
without keys) takes unsigned notices as before (``_spread``).

**Changed** (nineteenth session, robust): a notice whose signer is on the deny-list or whose certificate is
not valid now is skipped (not taken, counted in ``NoticeTable.skipped``), no longer bad input that
closes the session: nodes pass a notice they took on to every link for three beats, so a register
revoked just after it signed one had each link that carried it closed by the receivers that knew
of the revocation (``tests/outside/test_revoked_gone_notice.py``), as said parts did
(``_far_signing``). Any other refusal (signature, signer, venue, body) still closes the session.

**Changed** (twentieth session, fifty): "linked in this node's view" is asked of the views before the
departures held here too (``_was_linked``: every node held gone put back, then the latest put back
one at a time, up to :data:`VIEWS_BACK`). Each departure shifts the ring and a link outlives the
view it was made in by a few beats: when several nodes left together or one after another, a node
that had marked one refused the next one's honest signers as "no neighbour" (``gone_not_linked``,
hundreds in the 50-device mesh bench when its first register stopped) and passed their notices on
to nobody (``tests/sync/test_sync_notice_views.py``). A notice that would change nothing here (stale,
or marked at its seq already) is not checked: the nodes pass each on for three beats. And a mark
lifted by a record of the node's next run takes no word back (``_presence._later_run``): a register
restarted had its neighbours distrusted about it for 5 minutes, their notices refused if it died again.

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer` (through ``_spread``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from meshpos.sync._claims import ClaimRefusals
from meshpos.sync._config import SyncConfig
from meshpos.sync._events import PeerGone, SyncEvent
from meshpos.sync._gone_words import (
    MAX_GONES,
    GoneSignatureRefused,
    GoneWord,
    decode_notice,
    notice_body,
)
from meshpos.sync._held_signed import (
    GONE_NOTICE,
    SignedHeld,
    check_words,
)
from meshpos.sync._messages import Hello
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._rules import forwards_everything
from meshpos.sync._topology import neighbours

#: a beat's notices, checked (``SignedNotices._check_notices``)
Checked = list[tuple[SignedHeld, GoneWord]]
#: seconds a signer whose notice about a node was taken back is not heard about that node
DISTRUST_S = 300.0
#: (signer, node) pairs distrusted at once (a venue's links, with room)
MAX_DISTRUSTED = 1024
#: views before the latest departures a notice's link is looked for in (``_was_linked``): each costs
#: two ``neighbours`` of the venue (~30 µs at 50 devices), asked only of a notice the view now
#: refuses that would mark a node here
VIEWS_BACK = 16


class NoticeTable:
    """The signed notices this node took (to pass on) and the signers it no longer hears."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[SignedHeld, float]] = {}  # node -> its notice, when taken
        #: (signer, node) -> until when, and the seq its notice marked the node at
        self._distrusted: dict[tuple[str, str], tuple[float, int]] = {}
        self.signed = 0  # notices this node signed (one per link lost)
        self.skipped = 0  # notices of a revoked signer, or one not valid now, skipped (not taken)

    def keep(self, node: str, notice: SignedHeld, now: float) -> None:
        self.kept.pop(node, None)
        self.kept[node] = (notice, now)

    def out(self, now: float, within: float) -> tuple[SignedHeld, ...]:
        """The notices taken within ``within`` seconds, newest first, at most MAX_GONES."""
        if not self.kept:  # (every beat asks: nothing made while no link is lost)
            return ()
        for node in [n for n, (_, at) in self.kept.items() if now - at > within]:
            del self.kept[node]
        return tuple(n for n, _ in reversed(self.kept.values()))[:MAX_GONES]

    def distrust(self, by: str, node: str, seq: int, now: float) -> None:
        """``by``'s notice about ``node`` (at ``seq``) was taken back: its next ones are not heard
        for a while."""
        self.kept.pop(node, None)
        self._distrusted.pop((by, node), None)
        if len(self._distrusted) >= MAX_DISTRUSTED:
            del self._distrusted[next(iter(self._distrusted))]
        self._distrusted[(by, node)] = (now + DISTRUST_S, seq)

    def distrusted(self, by: str, node: str, now: float) -> bool:
        held = self._distrusted.get((by, node))
        if held is None:
            return False
        if now < held[0]:
            return True
        del self._distrusted[(by, node)]
        return False

    def forgive(self, node: str, seq: int, slack: int) -> int:
        """``node`` signed that it did not run after its record ``seq`` (``_stalls``): the signers
        distrusted for a notice that marked it at ``seq`` (or ``slack`` records before) told the
        truth (the node's word came after its records took the mark back); how many."""
        wrong = [
            k
            for k, (_, at) in self._distrusted.items()
            if k[1] == node and seq - slack <= at <= seq
        ]
        for key in wrong:
            del self._distrusted[key]
        return len(wrong)


class SignedNotices:
    """Signs this node's notices, checks and takes its peers' (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    hello: Hello
    _far: FarTable
    _presence: PresenceTable
    _events: list[SyncEvent]
    _now: float | None
    _trigger: bool
    _refuted_seq: int
    claim_refusals: ClaimRefusals

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        def _shape(self) -> tuple[frozenset[str], frozenset[str]]: ...

        def _linked_to(self, node: str) -> bool: ...

        def _no_room_for(self, node: str) -> bool: ...

        def _stalled_after(self, node: str, seq: int) -> bool: ...

    @cached_property
    def notices(self) -> NoticeTable:
        return NoticeTable()

    def _checks_notices(self) -> bool:
        """Whether only signed notices move the election here (the node can check a device's word)."""
        return self.config.held_check is not None

    def _sign_notice(self, node: str, seq: int, now: float) -> None:
        """This node lost its link to ``node``, the last seq heard being ``seq``: sign it, to go out."""
        signer: Callable[[str], SignedHeld | None] | None = self.config.held_signer
        if signer is None:
            return
        signed = signer(notice_body(node, self.node_id, seq, self.hello.venue))
        if signed is not None:
            self.notices.signed += 1
            self.notices.keep(node, signed, now)

    def _gones_out(self, now: float) -> tuple[SignedHeld, ...]:
        return self.notices.out(now, self.config.heartbeat_interval * 3)

    def _check_notices(self, gones: tuple[SignedHeld, ...]) -> Checked:
        """Every notice of a beat checked before anything of the beat is taken (``_on_heartbeat``):
        one that fails closes the session as bad input, but for one whose signer is revoked or not
        valid now (skipped: see the module's docstring). None without a check (not taken either)."""
        check = self.config.held_check
        if check is None:
            return []
        out, skipped = check_words(
            gones,
            check,
            GONE_NOTICE,
            decode_notice,
            lambda word: (word.by, word.venue),
            self.hello.venue,
            GoneSignatureRefused,
            "by",
        )
        self.notices.skipped += skipped  # (an honest hop's, taken before: not taken)
        return out

    def _take_notices(self, sender: str, notices: Checked) -> None:
        """Take a peer's checked notices (module docstring: what moves the election)."""
        now = self._now if self._now is not None else 0.0
        for signed, word in notices:
            node = word.node
            if node == self.node_id:
                if word.seq > self._refuted_seq:  # we live: our next beat, a higher seq, says so
                    self._refuted_seq = word.seq
                    self._trigger = True
                continue
            if self._linked_to(node):  # we hear it: say so now (its record, newer than the notice)
                if self._far.refute(node, word.seq, now):
                    self._trigger = True
                continue
            if self.notices.distrusted(word.by, node, now):
                self._refuse(sender, "gone_taken_back", f"{word.by}'s notices about {node}")
                continue
            if not self._far.would_prove(node, word.seq):
                continue  # stale, or marked already: nothing to check (a notice passed on 3 beats)
            if not self._was_linked(word.by, node):
                self._refuse(sender, "gone_not_linked", f"{word.by} is no neighbour of {node}")
                continue
            if self._no_room_for(node):
                self._refuse(sender, "far_nodes_full", f"a gone notice of {node}, new here")
                continue
            if self._far.prove(node, word.seq, word.by, now, self.config.heartbeat_interval):
                self.notices.keep(node, signed, now)
                self._presence.forget(node)
                self._events.append(PeerGone(node))
                self._trigger = True

    def _taken_back(self) -> None:
        """Distrust the signers whose notices the named nodes' own records took back, but those the
        node's own signed word excuses: it did not run after the seq they marked it at (``_stalls``,
        **Changed** the twenty-second session, part ``stallword``)."""
        now = self._now if self._now is not None else 0.0
        for by, node, seq in self._far.take_refuted():
            if self._stalled_after(node, seq):  # it did not run: the signer said true (``_stalls``)
                continue
            self.notices.distrust(by, node, seq, now)

    def _was_linked(self, by: str, node: str) -> bool:
        """Whether ``by`` and ``node`` are neighbours in this node's view (either end wants it), or
        in a view before nodes it holds gone left (module docstring, **Changed** twentieth session,
        fifty): with every one of them put back, or with the latest departures put back one at a
        time, up to :data:`VIEWS_BACK`. A link outlives the view it was made in by a few beats."""
        known, leaves = self._shape()
        members = known | {by, node}
        if self._adjacent(by, node, members, leaves):
            return True
        gone = [(n, role) for n, role in self._far.gone_roles() if n not in members]
        if not gone:
            return False
        views: list[list[tuple[str, str]]] = [gone]  # (all of them back: they left at once)
        views.extend(gone[:k] for k in range(1, min(len(gone), VIEWS_BACK + 1)))
        for back in views:
            hung = leaves | {n for n, role in back if not forwards_everything(role)}
            if self._adjacent(by, node, members | {n for n, _ in back}, hung):
                return True
        return False

    def _adjacent(self, a: str, b: str, members: frozenset[str], leaves: frozenset[str]) -> bool:
        degree, full_mesh = self.config.degree, self.config.full_mesh
        return a in neighbours(members, b, degree, leaves, full_mesh) or b in neighbours(
            members, a, degree, leaves, full_mesh
        )

    def _refuse(self, sender: str, cause: str, what: str) -> None:
        self.claim_refusals.refuse(sender, cause, what)
