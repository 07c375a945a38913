"""A node's own stall is not its peers' death (issue 18, the twenty-first session, part ``stall``).

docs/architecture.md (Relay and console). A peer is gone once ``timeout`` (2.5 heartbeat periods) passes
without its heartbeat (``_presence.PresenceTable``), and a far record once it is not refreshed for
longer (``FarTable.expire``); a link closes after its idle timeout (``Session.tick``). Those times
were the node's own clock's: when the node's loop did not run (a GC pause, a slow disk, a laptop
suspended, two CPUs shared by fifty devices), it read none of the heartbeats waiting in its
sockets, and on its first tick after the stall it found every peer silent, marked live peers gone,
signed gone notices (``_notices``) and closed its links: the ring shifted and links were redialled
across the venue, a cascade under saturation (docs/benchmarks.md, twentieth session, part
``fifty``).

**Changed** (issue 18, stall): when the node runs again later than it was due (its next heartbeat,
or a peer's presence expiry, whichever came first: the ticker sleeps at most till then,
``_deadlines``) by more than :data:`STALL_PERIODS` of a heartbeat period, the time past that due
moment is a stall of its own: every presence deadline that was running then (direct peers' last
heartbeat, far records' freshness and their claimants' renewals, the links' hello and idle
timeouts) moves by the stall, before anything expires and before what came is read. So a peer is
dropped only after a full ``timeout`` of the node's own running time without its heartbeat (the
heartbeats waiting in the sockets are read first), and a real death is still found within
``timeout`` of running time: a node that runs on time moves nothing (silent failover as before).
What the node shows is no more optimistic for it: the peers it shows present are those it had no
running time to find silent, and the console's freshness (``_fresh``) is not moved at all.

A link the peer closed because *it* timed this node out (its goodbye says ``peer_timeout``: it was
alive to say so) is not the peer's death either: this node forgets the link (``_spread._link_lost``)
and signs no notice; the peer signs this node gone, truly (it was silent), and this node's next
records take that back.

**Changed** (issue 18, the twenty-second session, part ``stallword``): those notices were true, yet
the stalled node's next records took them back as lies: each signer was distrusted about it for 5
minutes (``_notices``), its notices refused (``gone_taken_back``: 547 and 757 refusals in the
seeded 50-device stall bed, ``tests/sync/stall_bed.py``), and had the node then died for good, its
neighbours' honest notices about it moved nothing. A record rising after a mark cannot tell a stall
from a lie; only the node knows it did not run. So a node that finds a stall of its own signs that
word (``_stall_words``: "I did not run for ``ms`` after my record ``after``", its device key) and
sends it in the beats that carry its next records (heartbeat field ``stalls``, feature
:data:`~meshpos.sync._stall_words.STALL_SIGNED_FEATURE`); every node that takes it passes the same
bytes on for three beats, as gone notices, so it comes with or before the records that take the
marks back. A mark taken back is no lie when the node signed that it stalled after the very seq
the mark was made at (a neighbour that timed it out last heard that record; or the next one,
:data:`STALL_SEQ_SLACK`: a beat the stall cut half-sent): the signer is not
distrusted, and a signer distrusted before the word came is forgiven (``NoticeTable.forgive``).
What a forger cannot do with it: no device but the node itself signs its stall word, so a notice
about a live node (one that did not stall after the marked seq: at any other seq, or about a node
that signed no stall) is taken back as a lie as before; a stall word excuses only notices about its
own node at its own seq (the node's records only rise: an old word excuses nothing new); a withheld
word leaves the signer distrusted as before (pessimistic); a word of bad signature or another
signer closes the session as any signed word's (bad input, nothing of the beat taken). A node that
signs false stalls of its own only spares its neighbours' notices about itself. An N−1 peer is
never sent the field; it distrusts as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from meshpos.errors import PeerTimeout
from meshpos.sync._config import SyncConfig
from meshpos.sync._held_signed import (
    STALL_WORD,
    SignedHeld,
    check_words,
)
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._session import Session
from meshpos.sync._stall_words import (
    MAX_STALLS,
    StallSignatureRefused,
    StallWord,
    decode_stall,
    stall_body,
)
from meshpos.sync._states import SessionClosed

if TYPE_CHECKING:
    from meshpos.sync._notices import NoticeTable

log = logging.getLogger("meshpos.sync")

#: lateness, in heartbeat periods, that is a stall of the node's own (less: the loop's ordinary lag
#: under load, which counts as running time, so a node that runs finds a death as before)
STALL_PERIODS = 0.5
#: how a peer's goodbye begins when it timed this node out (``Session.abort``'s ``Bye``)
_TIMED_US_OUT = f"peer said bye: {PeerTimeout.code}:"
#: stall words whose (node, seq) are kept, to excuse marks and to take each once (a venue's nodes
#: stalling a few times each, with room); the oldest go first
MAX_KEPT_STALLS = 4096
#: records before the one a stall word names that it excuses a mark at too: the stall may cut a beat
#: half-sent (written to some links, not yet to others), whose neighbours last heard the one before
STALL_SEQ_SLACK = 1
#: a beat's stall words, checked (``Stalls._check_stalls``)
CheckedStalls = list[tuple[SignedHeld, StallWord]]


@dataclass(slots=True)
class StallWords:
    """The stall words this node signed and took: to pass on, and the stalls they name."""

    #: body -> the word and when it was taken (or signed): passed on for three beats
    out: dict[str, tuple[SignedHeld, float]] = field(default_factory=dict)
    #: (node, the seq it stalled after) of every word taken: what excuses a mark taken back
    after: dict[tuple[str, int], None] = field(default_factory=dict)
    signed: int = 0  # words this node signed (one per stall of its own found)
    taken: int = 0  # words of other nodes taken
    skipped: int = 0  # words of a revoked signer, or one not valid now, skipped (not taken)
    excused: int = 0  # marks taken back that a word excused: no signer distrusted
    forgiven: int = 0  # signers distrusted before the word that excused them came

    def keep(self, signed: SignedHeld, node: str, seq: int, now: float) -> bool:
        """Keep a word; False when its (node, seq) was kept already."""
        if (node, seq) in self.after:
            return False
        if len(self.after) >= MAX_KEPT_STALLS:
            del self.after[next(iter(self.after))]
        self.after[(node, seq)] = None
        if len(self.out) >= 4 * MAX_STALLS:  # (a flood of words: the newest go on, as ``going``)
            del self.out[next(iter(self.out))]
        self.out[signed.body] = (signed, now)
        return True

    def going(self, now: float, within: float) -> tuple[SignedHeld, ...]:
        """The words taken within ``within`` seconds, newest first, at most MAX_STALLS."""
        if not self.out:  # (every beat asks: nothing made while nobody stalled)
            return ()
        for body in [b for b, (_, at) in self.out.items() if now - at > within]:
            del self.out[body]
        return tuple(w for w, _ in reversed(self.out.values()))[:MAX_STALLS]


def timed_us_out(closed: SessionClosed) -> bool:
    """Whether the peer closed the link because this node was silent to it (alive, then)."""
    return closed.by_peer and closed.reason.startswith(_TIMED_US_OUT)


class Stalls:
    """The node's own stalls found and taken out of the presence deadlines (a mixin of
    ``Synchronizer``, which owns the state named below)."""

    config: SyncConfig
    _presence: PresenceTable
    _far: FarTable
    _sessions: dict[str, Session]
    _now: float | None
    _started_at: float | None
    _next_heartbeat: float
    _trigger: bool
    hello: Hello
    #: stalls found (count, seconds): the status and the benches read them
    stalled: tuple[int, float] = (0, 0.0)

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        @property
        def role(self) -> str: ...

        @property
        def notices(self) -> NoticeTable: ...

        def _far_seq(self) -> int: ...

    @cached_property
    def stall_words(self) -> StallWords:
        return StallWords()

    def _resumed(self, now: float) -> float:
        """``now``, after moving the presence deadlines by the node's own stall before it, if any
        (module docstring): called first by ``tick`` and by ``receive_data`` (with a clock)."""
        last, least = self._now, STALL_PERIODS * self.config.heartbeat_interval
        if last is None or self._started_at is None or now - last <= least:
            return now  # (nearly always: one comparison)
        due = self._next_heartbeat
        expiry = self._presence.next_expiry()
        if expiry is not None and expiry < due:
            due = expiry
        since = max(last, due)
        stall = now - since
        if stall > least:
            self._shift(since, stall)
        return now

    def _shift(self, since: float, stall: float) -> None:
        count, seconds = self.stalled
        self.stalled = (count + 1, seconds + stall)
        log.warning("this device did not run for %.1f s: its peers' silence not counted", stall)
        shift_presence(self._presence, since, stall)
        shift_far(self._far, since, stall)
        for session in self._sessions.values():
            session.shift(since, stall)
        self._sign_stall(stall, since + stall)

    def _sign_stall(self, stall: float, now: float) -> None:
        """Sign that this node did not run for ``stall`` s after its last record (module docstring):
        it goes out with the next one, and excuses the neighbours that signed it gone meanwhile."""
        signer = self.config.held_signer
        if signer is None:
            return
        seq = self._far_seq()  # (the last record made: the next beat's is one above)
        ms = max(1, int(stall * 1000))
        signed = signer(stall_body(self.node_id, seq, ms, self.hello.venue))
        if signed is not None and self.stall_words.keep(signed, self.node_id, seq, now):
            self.stall_words.signed += 1
            self._trigger = True

    def _stalls_out(self, now: float) -> tuple[SignedHeld, ...]:
        return self.stall_words.going(now, self.config.heartbeat_interval * 3)

    def _stalled_after(self, node: str, seq: int) -> bool:
        """Whether ``node`` signed that it did not run after its record ``seq`` (or up to
        :data:`STALL_SEQ_SLACK` after it): a mark at that seq, taken back by its next records, was
        no lie (``_notices._taken_back``)."""
        after = self.stall_words.after
        if not any((node, seq + k) in after for k in range(STALL_SEQ_SLACK + 1)):
            return False
        self.stall_words.excused += 1
        return True

    def _check_stalls(self, stalls: tuple[SignedHeld, ...]) -> CheckedStalls:
        """Every stall word of a beat not taken yet, checked before anything of the beat is taken
        (``_on_heartbeat``): one that fails closes the session as bad input, but for one whose
        signer is revoked or not valid now (skipped, as gone notices'). None without a check: a
        node that cannot check takes no word (its marks are unsigned, ``_notices``)."""
        check = self.config.held_check
        if check is None:
            return []
        taken = self.stall_words.out  # (each comes from every link for three beats: checked once)
        out, skipped = check_words(
            tuple(signed for signed in stalls if signed.body not in taken),
            check,
            STALL_WORD,
            decode_stall,
            lambda word: (word.node, word.venue),
            self.hello.venue,
            StallSignatureRefused,
        )
        self.stall_words.skipped += skipped
        return out

    def _take_stalls(self, beat: Heartbeat, checked: CheckedStalls) -> None:
        """Keep a beat's checked stall words (before its far records, whose rise may take back a
        mark the word excuses) and pass each new one on at once; forgive the signers distrusted
        for a mark at the seq a word names (their notice came first)."""
        if beat.role == "console" or self.role == "console":
            return  # the console is no member of the mesh's topology
        now = self._now if self._now is not None else 0.0
        table = self.stall_words
        for signed, word in checked:
            if word.node == self.node_id or not table.keep(signed, word.node, word.seq, now):
                continue  # (our own, passed back; or its stall taken from another link)
            table.taken += 1
            table.forgiven += self.notices.forgive(word.node, word.seq, STALL_SEQ_SLACK)
            self._trigger = True


def shift_presence(table: PresenceTable, since: float, stall: float) -> None:
    """Each peer last heard at or before ``since`` as if heard ``stall`` later."""
    peers = table._peers
    for node, presence in peers.items():
        if presence.last_seen <= since:
            peers[node] = replace(presence, last_seen=presence.last_seen + stall)


def shift_far(table: FarTable, since: float, stall: float) -> None:
    """Each far record refreshed, and each claimant's word renewed, at or before ``since`` as if
    ``stall`` later (what the election and ``expire`` read)."""
    for far in table._records.values():
        if far.fresh_at <= since:
            far.fresh_at += stall
    renewed = table._renewed
    for node, (at, renews) in renewed.items():
        if at <= since:
            renewed[node] = (at + stall, renews)
