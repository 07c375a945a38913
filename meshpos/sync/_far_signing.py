"""Far records' said fields signed by their node: what a far record may move (issue 18, farsign).

docs/architecture.md (Relay and console), docs/architecture.md (Security). A far record is a node's
heartbeat passed on beyond its links (``_spread``); any hop could forge one with a higher seq: one
enrolled device forged the relay's record one seq ahead saying "no uplink, no relay claim", and
every node not linked to the relay elected another (two relays), and it set any node's role and
problem as far nodes saw them. Signing every record costs a signature per beat per node and a verify
per record taken (a beat carries up to 8), against the rule that verifies per receipt and device
must not grow; so a node signs only its *said* fields (``_presence._said``: role, priority, uplink,
relay claim, problem: what the election and the pages read), only when they change, with the seq of
that change (``_said_words``: the device key and checks of attestations and gone notices):

* a node's signed part rides in the heartbeat's ``saids`` field (feature
  :data:`~meshpos.sync._said_words.SAID_SIGNED_FEATURE`): every part a node holds goes to each link
  once per change (a new link gets them all in its first beats, 40 a beat), its own first, passed on
  unchanged by every hop that took it;
* a node that checks devices' words (``SyncConfig.held_check``, every real node) checks every part
  of a beat before anything of the beat is taken (one that fails closes the session as bad input,
  ``said_signature_refused``), keeps the part of the highest seq per node (a replayed older one is
  stale) and reads a far record's said fields only from it (``FarTable.vouch``): a record's own
  are ignored; a node with none signed here has no uplink, relay claim or problem (not a relay
  candidate beyond its links: an N−1 node's record, or one a forger invented);
* nothing is signed, sent or verified while no node's said fields change (an idle venue and a
  selling one alike; but the relay claimant's renewal, below): a new part is one signature at its
  node and one verify per node that takes it (``DeviceWordChecker`` caches by bytes).

**Changed** (outside round, eighteenth session): a part whose signer is on the deny-list or whose
certificate is not valid now is skipped (not taken, counted in ``SaidParts.skipped``), no longer bad
input that closes the session: every node keeps the parts it took and passes them on to each new
link, so once a register was revoked (stolen) every new link in the venue was closed by its
receiver on the first beat, again at every try, and a new or restarted node linked with no one
(``tests/outside/test_revoked_said_part.py``). Any other refusal (signature, signer, venue, body)
still closes the session.

**Changed** (nineteenth session, signed): a node that gets back a part of its own from an earlier run, at a
seq not below this run's far seq, raises the run's seq base above it and signs its said fields
again (``_own_part_back``): a device whose wall clock was behind across a reboot (no RTC, no NTP
yet), a restored backup or an id re-enrolled on another machine spoke with seqs below its last
run's, and every node beyond its links kept the old part (its old relay claim and uplink) until the
new run's seqs passed it (``tests/outside/test_far_said_reboot.py``). Every part held goes to each
new link, so the run's first neighbour passes it back; nothing is kept in the store, so neither a
restore nor a cleared cache takes the base back while any node holds such a part.

**Changed** (the twenty-first session, forgedrise): a relay claimant signs its said fields again every
``CLAIM_RENEW_TIMEOUTS`` direct timeouts (5 s) also when they did not change, so nothing is signed
while nothing changes but that: far nodes that saw it renew leave it out of the election once its
renewals stop (``FarTable.uplinks``), whatever records a hop raises in its name: an enrolled
neighbour passed on the relay's record a week ahead, one higher in every beat, and kept the relay
elected beyond its links after it died (``tests/outside/test_forged_far_seq.py``).

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer` (through ``_spread``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from meshpos.lib0 import MAX_VAR_UINT
from meshpos.sync._config import SyncConfig
from meshpos.sync._held_signed import (
    SAID_FIELDS,
    SignedHeld,
    check_words,
)
from meshpos.sync._messages import FarRecord, Heartbeat, Hello
from meshpos.sync._presence import (
    CLAIM_RENEW_TIMEOUTS,
    MAX_VOUCHED,
    FarTable,
    PresenceTable,
    Said,
    _said,
)
from meshpos.sync._said_words import (
    MAX_SAIDS,
    SAID_SIGNED_FEATURE,
    SaidSignatureRefused,
    SaidWord,
    decode_said,
    said_body,
)
from meshpos.sync._session import Session

#: a beat's signed parts, checked (``FarSigning._check_saids``)
CheckedSaids = list[tuple[SignedHeld, SaidWord]]


@dataclass(slots=True)
class _Sent:
    """What one link was sent: each node's part once, and the table's version then."""

    session: Session
    parts: dict[str, SignedHeld] = field(default_factory=dict)  # node -> the part sent
    version: int = -1  # ``SaidParts.version`` when every part held had gone on this link


@dataclass(slots=True)
class SaidParts:
    """This node's own signed part, the parts it took (to pass on) and what each link was sent."""

    own: tuple[Said, SignedHeld] | None = None
    own_at: float = 0.0  # when ``own`` was signed (a claimant renews it: ``_sign_said``)
    held: dict[str, SignedHeld] = field(default_factory=dict)  # node -> its part, newest here
    sent: dict[str, _Sent] = field(default_factory=dict)  # peer node -> what its link was sent
    version: int = 0  # moves when ``own`` or ``held`` changes: a link sent all is sent nothing
    signed: int = 0  # parts this node signed (one per change of its said fields)
    skipped: int = 0  # parts of a revoked signer, or one not valid now, skipped (not taken)
    raised: int = 0  # times an earlier run's own part came back and raised the far seq base


class FarSigning:
    """Signs this node's said fields, checks and takes its peers' (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    hello: Hello
    _far: FarTable
    _presence: PresenceTable
    _now: float | None
    _trigger: bool
    _news: dict[str, int | None]
    _seq: int
    _far_base_ms: int | None  # (``_far_out._far_seq``)

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        def _far_seq(self) -> int: ...

    @cached_property
    def said_parts(self) -> SaidParts:
        return SaidParts()

    def _sign_said(self, record: FarRecord) -> None:
        """Sign this node's own ``record``'s said fields when they changed (as of its seq), and a
        relay claimant's again every ``CLAIM_RENEW_TIMEOUTS`` direct timeouts (``FarTable.uplinks``:
        far nodes that saw it renew leave it once its renewals stop)."""
        said = _said(record)
        table = self.said_parts
        own = table.own
        now = self._now if self._now is not None else 0.0
        renewing = said[3] and now - table.own_at >= self._claim_renewal()  # (a relay claim)
        if own is not None and own[0] == said and not renewing:
            return  # (every beat: nothing made while nothing changed)
        signer = self.config.held_signer
        if signer is None:
            return
        signed = signer(said_body(self.node_id, said, record.seq, self.hello.venue))
        if signed is not None:
            table.own, table.own_at = (said, signed), now
            table.signed += 1
            table.version += 1

    def _claim_renewal(self) -> float:
        """Seconds between a relay claimant's signed parts when its said fields stay the same."""
        return CLAIM_RENEW_TIMEOUTS * self._presence.timeout

    def _check_saids(self, saids: tuple[SignedHeld, ...]) -> CheckedSaids:
        """Every signed part of a beat checked before anything of the beat is taken
        (``_on_heartbeat``): one that fails closes the session as bad input, but for one whose
        signer is revoked or not valid now (skipped: see the module's docstring). None without a
        check (not taken either: such a node reads records as they come)."""
        check = self.config.held_check
        if check is None:
            return []
        out, skipped = check_words(
            saids,
            check,
            SAID_FIELDS,
            decode_said,
            lambda word: (word.node, word.venue),
            self.hello.venue,
            SaidSignatureRefused,
        )
        self.said_parts.skipped += skipped  # (an honest hop's, from before: not taken)
        return out

    def _take_saids(self, beat: Heartbeat) -> None:
        """Check a peer's parts, then keep those newer than the ones held (``_on_heartbeat``: after
        the beat's other signed things are checked, before anything of it is taken, its far records
        last); a part that changes a held record is news, passed on at once. A part held already
        (each link passes every part on once: a node gets each from every link) is not checked
        again: it changes nothing (``_check_saids`` was ~4 a part and node in a venue's start)."""
        if not beat.saids:
            return
        held = self.said_parts.held
        fresh = tuple(p for p in beat.saids if held.get(_signer_of(p)) != p)
        if not fresh:
            return
        checked = self._check_saids(fresh)  # (raises before anything of the beat is taken)
        if not checked or beat.role == "console" or self.hello.role == "console":
            return  # the console is no member of the mesh's topology
        now = self._now if self._now is not None else 0.0
        parts = self.said_parts.held
        for signed, word in checked:
            node = word.node
            if node == self.node_id:
                self._own_part_back(signed, word.seq)
                continue
            seq = self._far.vouched(node)
            if seq is not None and seq >= word.seq:
                continue  # a replay, or older than what we hold
            parts.pop(node, None)
            if len(parts) >= MAX_VOUCHED:
                del parts[next(iter(parts))]
            parts[node] = signed
            self.said_parts.version += 1
            if self._far.vouch(node, word.seq, word.said, now):
                self._news.setdefault(node, None)  # (``_spread._news_out``)
                self._trigger = True

    def _own_part_back(self, part: SignedHeld, seq: int) -> None:
        """A peer passed on ``part``, signed by this node (checked: its own key) as of ``seq``: one
        of an earlier run when it is not this run's own and ``seq`` is not below this run's far seq
        (every part held goes to each new link: the first neighbour of a run passes it back).
        Every node that holds that part would keep it over this run's (lower seq), so the run's
        seq base rises above it (``_far_out._far_seq``: the base never goes back while any node
        holds a part of this node's, whatever its clock, a restored backup or a cleared cache
        say) and the said fields are signed again with the next record, which wins everywhere."""
        own = self.said_parts.own
        if own is not None and own[1].body == part.body:
            return  # this run's own part, passed back (its seq may equal the run's: same beat)
        mine = self._far_seq()
        if mine > seq or seq >= MAX_VAR_UINT - (1 << 32):  # (room for this run's beats)
            return
        self._far_base_ms = seq + 1 - self._seq  # (the next record's seq: above ``seq``)
        self.said_parts.own = None  # (``_sign_said``: signed again, as of a seq above ``seq``)
        self.said_parts.raised += 1
        self._trigger = True

    def _with_saids(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with every part held (this node's own first) that ``session``'s peer was not
        sent yet, at most MAX_SAIDS a beat: once per link and change, with the records they speak
        for or before them (a part held with no record yet is kept: ``FarTable.vouch``); a link
        sent everything costs one comparison a beat."""
        peer = session.device_peer(SAID_SIGNED_FEATURE)
        if peer is None:
            return beat
        table = self.said_parts
        sent = table.sent.get(peer.node)
        if sent is None or sent.session is not session:  # (a new link: it has none of them)
            sent = table.sent[peer.node] = _Sent(session)
        if sent.version == table.version:
            return beat
        held = dict(table.held)
        if table.own is not None:
            held = {self.node_id: table.own[1], **held}
        parts: list[SignedHeld] = []
        for node, part in held.items():
            if sent.parts.get(node) is part:
                continue
            if len(parts) == MAX_SAIDS:  # (the rest in the next beats: the version stays behind)
                self._trigger = True
                break
            sent.parts[node] = part
            parts.append(part)
        else:
            sent.version = table.version
        return replace(beat, saids=tuple(parts)) if parts else beat


def _signer_of(part: SignedHeld) -> str:
    """The node a part's body names (sorted JSON: its first key), read before it is checked only
    to find the part held for it; "" when the body does not start so (checked, then refused)."""
    body = part.body
    if not body.startswith('{"node":"'):
        return ""
    end = body.find('"', 9)
    return body[9:end] if end > 0 else ""
