"""Presence: who is alive, as told by heartbeats over the mesh's own connections (never by mDNS).

A peer is gone once ``timeout`` seconds pass without a heartbeat from it (a few missed heartbeats).
**Changed** (issue 18, stall): seconds of the node's own running time (``_stalls`` moves the deadlines).

**Changed** (twentieth session, seqforge): a far record's seq made up by a hop no longer holds a
live node's real records below it (``FarTable``'s docstring; ``tests/outside/test_forged_far_seq.py``).

**Changed** (the twenty-first session, forgedrise): a far relay claimant is a candidate only while
its own signed word keeps coming (``FarTable.uplinks``): a hop's forged record whose seq rose in
every beat kept a dead relay elected beyond its links.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace

from meshpos.sync._messages import FarRecord, Heartbeat

#: the problem a far node's presence shows while a gone notice marks it (its record still counted)
UNREACHABLE = "reported unreachable: a link to it closed or fell silent"
#: role, priority, uplink, relay claim, problem: what the election and the pages read of a record
Said = tuple[str, int, bool, bool, str]
#: nodes whose signed said fields are kept (``FarTable.vouch``): every enrolled device, with room
MAX_VOUCHED = 4096
#: record seqs a second above a signed mark's that only a node's next run reaches (``_later_run``)
LIVE_SEQ_PER_S = 100
#: seconds a signer may have last heard a node before its notice marked it here (a link's idle
#: timeout, the hops' delays), counted at that rate too
MARK_SLACK_S = 10.0
#: a relay claimant signs its said fields again this many direct timeouts after it last did, also
#: when they did not change (``_far_signing``): the one word of its life beyond its links that no
#: hop can make (its records' seqs are the hops' word)
CLAIM_RENEW_TIMEOUTS = 2.0
#: a far claimant seen renewing is no candidate once no new part of it came for this many direct
#: timeouts (``FarTable.uplinks``): a renewal's period, and one more for its hops (a part crosses a
#: hop in the hop's next beat)
CLAIM_LAPSE_TIMEOUTS = 4.0


@dataclass(frozen=True, slots=True)
class PeerPresence:
    heartbeat: Heartbeat
    last_seen: float


class PresenceTable:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._peers: dict[str, PeerPresence] = {}
        #: the nodes heard on a link (not timed out or forgotten): a live view, read with no call
        self.heard: Container[str] = self._peers.keys()
        self.version = 0  # moves when a node comes, goes or changes role (what caches key on)
        self.links_version = 0  # moves when a node's heartbeat names other links (``_forwarding``)

    def observe(self, heartbeat: Heartbeat, now: float) -> bool:
        """Record a heartbeat; True when the node was not present before."""
        before = self._peers.get(heartbeat.node)
        if before is None or before.heartbeat.role != heartbeat.role:
            self.version += 1
        elif before.heartbeat.peers != heartbeat.peers:
            self.links_version += 1
        self._peers[heartbeat.node] = PeerPresence(heartbeat, now)
        return before is None

    def expire(self, now: float) -> list[str]:
        """Drop and return the nodes whose last heartbeat is older than the timeout."""
        gone = sorted(n for n, p in self._peers.items() if now - p.last_seen > self.timeout)
        for node in gone:
            del self._peers[node]
            self.version += 1
        return gone

    def next_expiry(self) -> float | None:
        """When the first node falls silent for ``timeout`` (None: nobody present); ``expire`` drops it
        just after."""
        if not self._peers:
            return None
        return min(p.last_seen for p in self._peers.values()) + self.timeout

    def forget(self, node: str) -> None:
        if self._peers.pop(node, None) is not None:
            self.version += 1

    def get(self, node: str) -> PeerPresence | None:
        return self._peers.get(node)

    @property
    def live(self) -> dict[str, Heartbeat]:
        return {n: p.heartbeat for n, p in sorted(self._peers.items())}

    def beats(self) -> dict[str, Heartbeat]:
        """``live`` unsorted (cheap, for every tick)."""
        return {n: p.heartbeat for n, p in self._peers.items()}

    def nodes(self) -> list[str]:
        return list(self._peers)


@dataclass(slots=True)
class _Far:
    record: FarRecord
    fresh_at: float  # when its seq last rose here
    changed_at: float  # when it was first heard of or said something new (news: spread first)
    beat: Heartbeat | None = None  # the record as a heartbeat, made once (``FarTable.beats``)
    #: the highest seq of the node's records heard here below the held one (the one it replaced,
    #: or a lower one heard since): records rising under a held one whose seq was a hop's lie
    below: int = -1


@dataclass(slots=True)
class _Signed:
    """A mark a signed notice made (``FarTable.prove``): whose word, and the node's record since."""

    by: str  # the signer, distrusted when the node's own records take the mark back
    since: float  # when the mark was made: a record rising here ``gap`` after it is the node's
    gap: float  # a heartbeat (records in flight when the node died have arrived by then)


class FarTable:
    """Every node of the venue as the heartbeats' summaries tell it (``Heartbeat.far``): beyond the links
    too, where no heartbeat of the node itself arrives (docs/architecture.md (Relay and console)).

    A record replaces an older one of the same node only with a higher ``seq`` (the node's own count,
    which restarts higher). A gone notice only marks a node "not reachable now" (``gone``): its record
    stays, counted in :meth:`beats` (the "n" of "on k of n devices") until it times out, and leaves
    the election's candidates and the topology's members until a record newer than the one held here
    comes (a record at or below the mark is held, or keeps the held one fresh, still marked: a forged
    record's seq above the node's own may hold the mark, never the count). **Changed** (issue 18,
    gone): a notice dropped the record, and it held the node gone until a record above the notice's
    own seq came: one enrolled device naming a live register gone "as of" 2**52 hid it from the venue
    for good (docs/architecture.md (Security)). The notice's seq is the sender's word; the mark is as
    of the seq heard here, so the node's next beat takes it back. **Changed** (issue 18, notice): a
    notice signed by a node linked to the named one marks it through :meth:`prove` instead, as of
    the notice's seq (``sync/_notices.py``). **Changed** (issue 18, farsign): while ``vouching``
    (the node checks devices' words: every real node) a record's said fields (``_said``: role,
    priority, uplink, relay claim, problem) are the node's own signed ones (:meth:`vouch`,
    ``sync/_far_signing.py``), whatever the record says; a node with none signed has no uplink, no
    relay claim and no problem here (its role and priority as told: the topology needs a role).
    One enrolled device forged the relay's record one seq ahead and moved every far node's
    election. **Changed** (twentieth session, fifty): a signed mark lifted by a record of the node's
    next run takes no signer's word back (``_later_run``). **Changed** (twentieth session,
    seqforge): a hop's record with a made-up huge seq held every real record below it: the real
    ones never refreshed it, and a signed mark at that seq was never taken back (an enrolled
    neighbour moved the far nodes' election for as long as it went on). The node's own record on
    its link replaces a higher one held (``learn(direct=...)``), a hop's record of a node linked
    here is not taken, and records rising below the held one (``_Far.below``) keep it fresh and
    take a signed mark back as a rise above it does (``_rising``)."""

    def __init__(self) -> None:
        self._records: dict[str, _Far] = {}
        # node -> (the seq of its record here when marked, when): "not reachable now"
        self._gone: dict[str, tuple[int, float]] = {}
        self._refuted: dict[str, int] = {}  # node -> the latest gone seq we answered for it
        self._uplinks: set[str] = set()  # nodes whose record says they reach the console
        self._signed: dict[str, _Signed] = {}  # marks of signed notices (``sync/_notices.py``)
        self._taken_back: list[tuple[str, str, int]] = []  # (signer, node, seq) of marks taken back
        self.version = 0  # moves when a node comes, goes or says something new
        #: said fields are taken only signed (``vouch``); set by the synchronizer from its config
        self.vouching = False
        self._vouched: dict[str, tuple[int, Said]] = {}  # node -> (its signed seq, said fields)
        #: node -> when a newer signed part of it was last taken here, and whether one came that said
        #: what the held one did (the node renews its word: ``CLAIM_RENEW_TIMEOUTS``; an N−1 node
        #: never does, and is never held to it)
        self._renewed: dict[str, tuple[float, bool]] = {}

    def vouch(self, node: str, seq: int, said: Said, now: float) -> bool:
        """``node`` signed ``said`` as of its record ``seq`` (checked, ``sync/_far_signing.py``):
        kept when newer than the signed part held, and the node's record (if held) says it from now
        on; True when that is news (passed on at once). Kept when the record times out: the part
        went to each link once (``_far_signing``), a record that comes back finds it here."""
        held = self._vouched.get(node)
        if held is not None and held[0] >= seq:
            return False  # a replay, or older than what we hold
        if held is None and len(self._vouched) >= MAX_VOUCHED:
            oldest = next(iter(self._vouched))
            del self._vouched[oldest]
            self._renewed.pop(oldest, None)
        before = self._renewed.get(node)
        renews = (held is not None and held[1] == said) or (before is not None and before[1])
        self._vouched[node] = (seq, said)
        self._renewed[node] = (now, renews)
        known = self._records.get(node)
        if known is None:
            return False
        record = self._vouch(known.record)
        if record == known.record:
            return False
        known.record, known.beat, known.changed_at = record, None, now
        if record.uplink and node not in self._gone:
            self._uplinks.add(node)
        else:
            self._uplinks.discard(node)
        self.version += 1
        return True

    def vouched(self, node: str) -> int | None:
        """The seq of ``node``'s signed said fields held here (None: none)."""
        held = self._vouched.get(node)
        return held[0] if held is not None else None

    def _vouch(self, record: FarRecord) -> FarRecord:
        """``record`` with its node's signed said fields (none signed: no uplink, relay claim or
        problem) while ``vouching``; as it came otherwise."""
        if not self.vouching:
            return record
        held = self._vouched.get(record.node)
        if held is None:
            if record.uplink or record.relay or record.problem:
                return replace(record, uplink=False, relay=False, problem="")
            return record
        said = held[1]
        if _said(record) == said:
            return record
        role, priority, uplink, relay, problem = said
        return replace(
            record, role=role, priority=priority, uplink=uplink, relay=relay, problem=problem
        )

    def learn(
        self,
        record: FarRecord,
        now: float,
        direct: bool = False,
        linked: Container[str] = (),
    ) -> bool:
        """Take ``record`` if it is newer; True when it is news (a new node, or a change that matters
        to the election or the status). ``direct``: the node's own, on its link (its word, which
        the link authenticates) replaces a higher one held, unmarked (a hop's made-up seq, or an
        earlier run's), so this node passes on the node's real records; a hop's record of a node
        in ``linked`` (heard on its link here: ``PresenceTable.heard``) is not taken."""
        gone = self._gone.get(record.node)
        known = self._records.get(record.node)
        if direct and known is not None and record.seq < known.record.seq and gone is None:
            known.record, known.beat, known.fresh_at, known.below = (
                self._vouch(record),
                None,
                now,
                -1,
            )
            return False  # (said fields: the node's signed ones either way)
        rising = gone is not None and record.seq <= gone[0] and self._rising(record, known, now)
        if gone is not None and record.seq <= gone[0] and not rising:
            # a peer still says it: held (or kept fresh) marked, counted in "n", not passed on
            # (``records``); a dead node's copies stop once every holder has marked it
            if known is None:
                self._records[record.node] = _Far(self._vouch(record), now, now)
                self.version += 1
            else:
                known.fresh_at = now
            return False
        if known is not None and record.seq <= known.record.seq and not rising:
            if known.below < record.seq < known.record.seq:  # rising under a seq a hop made up
                known.below, known.fresh_at = record.seq, now
            return False  # (most records: vouched only once taken)
        if not direct and record.node in linked:
            return False  # (a hop's seq above the node's own word on its link: made up)
        record = self._vouch(record)
        mark = self._gone.pop(record.node, None)
        lifted = mark is not None
        signed = self._signed.pop(record.node, None)
        if signed is not None and not _later_run(record.seq, mark, signed, now):
            self._taken_back.append((signed.by, record.node, mark[0] if mark else -1))  # (a lie?)
        if lifted:  # alive after all: news, so the mark is taken back across the mesh at once
            self.version += 1
        news = lifted or known is None or _said(known.record) != _said(record)
        changed_at = now if news or known is None else known.changed_at
        below = known.record.seq if known is not None and known.record.seq < record.seq else -1
        self._records[record.node] = _Far(record, now, changed_at, below=below)
        if news:
            self.version += 1
            if record.uplink:
                self._uplinks.add(record.node)
            else:
                self._uplinks.discard(record.node)
        return news

    def gone(self, node: str, seq: int, now: float) -> bool:
        """A notice says ``node`` is gone as of ``seq``: mark it not reachable now; True when that is
        news here (not when we heard later, nor when it is marked already at the seq held here).

        The mark is as of the seq of the record held here, never the notice's (a sender's word: a
        huge one held a live node gone for good); a node without a record here is marked at -1, so
        any record of it takes the mark back. The record stays (``beats``: counted in "n")."""
        known = self._records.get(node)
        if known is not None and known.record.seq > seq:
            return False
        as_of = known.record.seq if known is not None else -1
        before = self._gone.get(node)
        if before is not None and before[0] >= as_of:
            return False
        self._gone[node] = (as_of, now)
        self._signed.pop(node, None)
        self._uplinks.discard(node)
        if known is not None:
            known.beat = None  # made again, marked (``beats``)
        self.version += 1
        return True

    def prove(self, node: str, seq: int, by: str, now: float, gap: float) -> bool:
        """A notice signed by ``by`` (checked, ``sync/_notices.py``) says ``node`` is gone, the last
        seq ``by`` heard being ``seq``: mark it as of ``seq`` (records up to it were in flight before
        the link closed); True when that is news here. The node's records take it back: one above
        ``seq``, or one that rose here ``gap`` or more after the mark (a huge ``seq``, a signer's
        lie, holds it about that long); :meth:`take_refuted` says whose."""
        if not self.would_prove(node, seq):
            return False
        known = self._records.get(node)
        self._gone[node] = (seq, now)
        self._signed[node] = _Signed(by, now, gap)
        self._uplinks.discard(node)
        if known is not None:
            known.beat = None
        self.version += 1
        return True

    def would_prove(self, node: str, seq: int) -> bool:
        """Whether a checked notice that ``node`` is gone as of ``seq`` would mark it (:meth:`prove`):
        not when stale (a replay, or we heard it since), nor when marked at ``seq`` or above."""
        known = self._records.get(node)
        if known is not None and known.record.seq > seq:
            return False
        before = self._gone.get(node)
        return before is None or before[0] < seq

    def _rising(self, record: FarRecord, known: _Far | None, now: float) -> bool:
        """Under a signed mark, whether ``record`` shows its node alive: its record rose here (above
        the one held, or above the records heard below it: the held seq may be a hop's lie) a
        heartbeat or more after the mark (records in flight when it died have arrived by then, and
        the nodes that took the notice pass its record on no more), so a node that takes a mark
        back passes the record on at once and the next hop takes it back at once too (a mark made
        by a lie is gone from the venue a heartbeat after it came, plus the hops' message delays)."""
        signed = self._signed.get(record.node)
        if signed is None or known is None or record.seq == known.record.seq:
            return False
        if record.seq < known.record.seq:  # under a held seq that may be a hop's lie: its rise
            if record.seq <= known.below:
                return False
            if now - signed.since >= signed.gap:
                return True
            known.below = record.seq
            return False
        if now - signed.since >= signed.gap:
            return True
        known.below = known.record.seq
        known.record = self._vouch(record)  # (held, marked: a later rise is above this one)
        known.beat = None
        return False

    def take_refuted(self) -> tuple[tuple[str, str, int], ...]:
        """The (signer, node, seq marked at) of every signed mark the node's own records took back
        since last asked (``_notices``: a lie, unless the node signed that it stalled after it)."""
        if not self._taken_back:  # (every beat with far records asks: nothing made then)
            return ()
        out = tuple(self._taken_back)
        self._taken_back.clear()
        return out

    def refute(self, node: str, seq: int, now: float) -> bool:
        """A notice says ``node`` is gone as of ``seq`` but we hear it: True when our record of it
        is newer, marked as news so it goes out at once (the notice's receivers take it back)."""
        known = self._records.get(node)
        if known is None or known.record.seq <= seq or self._refuted.get(node, -1) >= seq:
            return False
        self._refuted[node] = seq
        known.changed_at = now
        return True

    def expire(self, now: float, timeout: float, remember: float) -> list[str]:
        """Drop records not refreshed for ``timeout`` (returned) and gone notes older than ``remember``."""
        old = sorted(n for n, f in self._records.items() if now - f.fresh_at > timeout)
        for node in old:
            del self._records[node]
            self._uplinks.discard(node)
            self.version += 1
        for node in [n for n, (_, at) in self._gone.items() if now - at > remember]:
            del self._gone[node]
            self._signed.pop(node, None)
            self.version += 1
        for node in [n for n in self._refuted if n not in self._records]:
            del self._refuted[node]
        return old

    def seq(self, node: str) -> int | None:
        known = self._records.get(node)
        return known.record.seq if known is not None else None

    def recently_gone(self, now: float, within: float) -> dict[str, int]:
        """The nodes marked within ``within`` and the seq each is marked at (0 when none was held)."""
        return {n: max(seq, 0) for n, (seq, at) in sorted(self._gone.items()) if now - at <= within}

    def news(self, now: float, within: float) -> list[FarRecord]:
        return [f.record for _, f in sorted(self._records.items()) if now - f.changed_at <= within]

    @property
    def records(self) -> dict[str, FarRecord]:
        """The records of nodes not marked gone (those are passed on, welcome, and name clients)."""
        gone = self._gone
        return {n: f.record for n, f in sorted(self._records.items()) if n not in gone}

    def beats(self, skip: Container[str]) -> dict[str, Heartbeat]:
        """Each record but ``skip``'s as the heartbeat presence shows of a node beyond the links
        (unsorted), each made once per record: **Changed** (issue 18, cpu): every status read made
        them all again (~3 µs each; at 20 devices, most of them far, ~2 % of a device's CPU)."""
        out = {}
        for node, far in self._records.items():
            if node in skip:
                continue
            beat = far.beat
            if beat is None:
                r = far.record
                marked = node in self._gone  # counted, but nobody's relay and no sign of flow
                beat = far.beat = Heartbeat(
                    node=r.node,
                    role=r.role,
                    priority=r.priority,
                    uplink=r.uplink and not marked,
                    relay=r.relay and not marked,
                    seq=r.seq,
                    problem=UNREACHABLE if marked else r.problem,
                )
            out[node] = beat
        return out

    def uplinks(self, now: float, within: float, lapse: float = float("inf")) -> list[FarRecord]:
        """The records of nodes that reach the console refreshed ``within`` seconds (the election's
        candidates: cheap enough for every tick), but a relay claimant seen renewing its signed
        word (``_renewed``) that renewed nothing for ``lapse`` seconds: a record's seq is a hop's
        word, a forged one rising in every beat kept a dead relay fresh (module docstring)."""
        out = []
        for node in self._uplinks:
            far = self._records[node]
            if now - far.fresh_at > within:
                continue
            renewed = self._renewed.get(node) if far.record.relay else None
            if renewed is not None and renewed[1] and now - renewed[0] > lapse:
                continue  # (its record may be a hop's, raised in every beat)
            out.append(far.record)
        return out

    def gone_nodes(self) -> frozenset[str]:
        return frozenset(self._gone)

    def gone_roles(self) -> list[tuple[str, str]]:
        """Each node marked gone and its role (a register when no record of it is held: as the
        topology takes a node only discovery lists), the latest marked first: the views before
        they left, one departure at a time (``_notices``)."""
        records = self._records
        latest = sorted(self._gone.items(), key=lambda item: item[1][1], reverse=True)
        return [
            (n, far.record.role if (far := records.get(n)) is not None else "register")
            for n, _ in latest
        ]

    def roles(self) -> dict[str, str]:
        """The role of every node not marked gone (the topology's members)."""
        gone = self._gone
        return {n: f.record.role for n, f in self._records.items() if n not in gone}

    def marked(self, node: str) -> bool:
        """Whether a notice marked ``node`` not reachable now (its record may still be held)."""
        return node in self._gone

    def nodes(self) -> list[str]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def knows(self, node: str) -> bool:
        """Whether ``node`` has a record or a gone note here (``_claims``: what a bound keeps)."""
        return node in self._records or node in self._gone

    def size(self) -> int:
        """Records and gone notes kept (``_claims.MAX_FAR_NODES`` bounds it; a marked node with its
        record counts twice: the bound is met a little early, never late)."""
        return len(self._records) + len(self._gone)


def _later_run(seq: int, mark: tuple[int, float] | None, signed: _Signed, now: float) -> bool:
    """Whether a record ``seq`` that lifts a signed ``mark`` (its seq, when made) is of the node's
    next run: it died, as signed, and started again. A run's seq rises one a beat (at most every
    ``_spread.TRIGGER_SPACING``, 50 ms, and one a new link's hello), far below
    :data:`LIVE_SEQ_PER_S` since the signer last heard it (within :data:`MARK_SLACK_S` before the
    mark); the next run's starts at its wall clock's ms (``_far_out._far_seq``), 1,000 a second of
    the last run's life above. **Changed** (twentieth session, fifty): the restart took the
    neighbours' honest notices back and they were not heard about that node for 5 minutes."""
    if mark is None:
        return False
    return seq - mark[0] > LIVE_SEQ_PER_S * (now - signed.since + MARK_SLACK_S)


def _said(r: FarRecord) -> Said:
    """What of a record is news when it changes (not its seq or pending count), and what a node
    signs of its own (``sync/_said_words.py``)."""
    return (r.role, r.priority, r.uplink, r.relay, r.problem)
