"""What the synchronizer tells and learns in heartbeats: presence, the relay election, the console's state.

Every node beats to each peer; a beat carries its role, priority, uplink and relay claim (the election runs
on them, see ``_election``), what it holds that the console lacks, and, from the console or the relay, what
the console holds and reports. A beat to the console carries every linked node's pending count, so the
console shows every register (docs/architecture.md (Status)).

A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import cached_property
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.replica import decode_state_vector
from meshpos.model.tally import Tally
from meshpos.sync._config import REPORTED_DAYS, SyncConfig
from meshpos.sync._electing import Electing
from meshpos.sync._events import SyncEvent
from meshpos.sync._fresh import ConsoleHeard
from meshpos.sync._held import HeldTable, StepOnes
from meshpos.sync._held_signed import SignedHeld
from meshpos.sync._messages import FarRecord, Heartbeat, Hello, PeerSummary
from meshpos.sync._presence import FarTable, PresenceTable
from meshpos.sync._rules import may_write
from meshpos.sync._session import Session
from meshpos.sync._signed import SignedConsole, SignedTick, Statements
from meshpos.sync._updates import held_state

if TYPE_CHECKING:
    from meshpos.sync._attesting import Proofs
    from meshpos.sync._notices import Checked
    from meshpos.sync._stalls import CheckedStalls
    from meshpos.sync._tick import Ticks


class Heartbeats(Electing):
    """Presence, election and what the console holds (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    hello: Hello
    priority: int
    _docs: dict[str, Doc[Any]]
    _events: list[SyncEvent]
    _presence: PresenceTable
    _far: FarTable
    _now: float | None
    _started_at: float | None
    _seq: int
    _uplink: bool
    _relay_claim: bool
    _relay: str | None
    _console_sv: dict[str, dict[int, int]]
    _console_rose: int  # moves on every rise of the console's state or reports
    _problem: str
    _console_live: bool
    _unreported: tuple[int, str]
    _reports: dict[str, Tally]
    _owed: dict[str, int]
    _pending_for: dict[str, tuple[bytes, int, int]]  # document -> (its state, ``_said``, pending)
    _held_by: StepOnes
    _attested: HeldTable
    _trigger: bool
    _heard_candidates: bool
    #: moves when something a register's status shows may have changed (``status_version``)
    _said: int
    _owed_heard = 0  # (``owed_version``) peers' heartbeats that said new owed counts only

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        @property
        def role(self) -> str: ...

        def _exchanging(self) -> list[Session]: ...

        def _nudge(self) -> None: ...

        def _nudge_drained(self) -> None: ...

        def _with_closed_days_asked(self, beat: Heartbeat, node: str) -> Heartbeat: ...

        def _closed_reports_rose(self, doc: str) -> None: ...

        @property
        def presence(self) -> dict[str, Heartbeat]: ...

        def _mesh_summary(self, peers: tuple[str, ...]) -> dict[str, PeerSummary]: ...

        def _learn_far(self, beat: Heartbeat) -> None: ...

        def _far_out(self, now: float, pending: int) -> tuple[FarRecord, ...]: ...

        def _gone_out(self, now: float) -> dict[str, int]: ...

        def _gones_out(self, now: float) -> tuple[SignedHeld, ...]: ...

        def _check_notices(self, gones: tuple[SignedHeld, ...]) -> Checked: ...

        def _take_notices(self, sender: str, notices: Checked) -> None: ...

        def _take_saids(self, beat: Heartbeat) -> None: ...

        def _check_stalls(self, stalls: tuple[SignedHeld, ...]) -> CheckedStalls: ...

        def _take_stalls(self, beat: Heartbeat, checked: CheckedStalls) -> None: ...

        def _stalls_out(self, now: float) -> tuple[SignedHeld, ...]: ...

        def held_beyond(self, doc: str) -> dict[str, dict[int, int]]: ...

        def _learn_held(self, beat: Heartbeat, words: Proofs) -> None: ...

        def _check_words(self, words: tuple[SignedHeld, ...]) -> Proofs: ...

        def _with_held(self, beat: Heartbeat, session: Session) -> Heartbeat: ...

        def _learn_console(
            self, node: str, console: dict[str, dict[int, int]], reports: dict[str, Tally]
        ) -> None: ...

        def _take_signed(self, node: str, signed: SignedConsole) -> None: ...

        def _own_statement(
            self, view: dict[str, dict[int, int]], reports: dict[str, Tally]
        ) -> SignedConsole | None: ...

        def _take_tick(self, tick: SignedTick) -> None: ...

        def _take_epoch(self, node: str, word: SignedConsole) -> None: ...

        @property
        def ticks(self) -> Ticks: ...

        @property
        def statements(self) -> Statements: ...

    # --- presence, election, console state --------------------------------------------------------

    def _say(self) -> None:
        """Something a status is computed from moved (``status_version``): the ticker looks soon."""
        self._said += 1
        self._nudge()

    def set_uplink(self, ok: bool) -> None:
        """Whether this node can reach the console right now (told by the relay layer)."""
        if ok != self._uplink:
            self._say()
        self._uplink = ok

    def set_console_state(self, doc: str, sv: dict[int, int]) -> None:
        """The console's state vector for ``doc`` (the relay learns it from the console)."""
        merged = self._console_sv.setdefault(doc, {})
        for client, clock in sv.items():
            if clock > merged.get(client, 0):
                merged[client] = clock
                self._say()
                self._console_rose += 1  # (``_passing``: passed on to each link when it moved)

    def set_problem(self, text: str) -> None:
        """Why this node has no working link to the console ("" when it has, or needs none): every
        peer gets it in the heartbeats, so every register can show the reason it is not green."""
        if text != self._problem:
            self._say()
        self._problem = text

    def set_console_live(self, live: bool) -> None:
        """Whether this node's console link is in sync now (told by the relay layer). An elected relay
        whose link is not yet live says so in its heartbeats (``_connecting``): its ``uplink`` is the
        last probe's answer, which can be seconds old, and a register must not show green on a claim
        whose data does not flow yet."""
        if live != self._console_live:
            self._say()
            self._console_live = live
            self._trigger = True  # the mesh learns at once that data flows (or stopped)

    def _connecting(self) -> str:
        if self._relay_claim and self._uplink and not self._console_live and self.role != "console":
            return f"{self.node_id} is connecting to the console"
        return ""

    @property
    def problem(self) -> str:
        return self._problem

    def set_console_report(self, count: int, reason: str) -> None:
        """The console only: how many records it holds but cannot put in its reports, and why."""
        self._tell_unreported((count, reason) if count > 0 else (0, ""))

    def _tell_unreported(self, unreported: tuple[int, str]) -> None:
        if unreported != self._unreported:
            self._say()
            self._unreported = unreported

    @property
    def console_report(self) -> tuple[int, str]:
        """Records at the console that are not in its reports, and why, as last told by the console
        or a relay ((0, "") when none). Kept when the relay changes: the next relay passes it on."""
        return self._unreported

    def set_console_reports(self, doc: str, reports: Tally) -> None:
        """What the console's reports hold of ``doc`` per register and kind (the console sets its own;
        everyone else learns it from the relay's heartbeats). Counts only grow: records are insert-only,
        so an older report passed on late never lowers them."""
        merged = self._reports.setdefault(doc, {})
        for register, counts in reports.items():
            mine = merged.setdefault(register, {})
            for kind, n in counts.items():
                if n > mine.get(kind, 0):
                    mine[kind] = n
                    self._say()
                    self._console_rose += 1
                    self._closed_reports_rose(doc)

    def console_reports(self, doc: str) -> Tally:
        return self._reports.get(doc, {})

    def held_by(self, doc: str) -> dict[str, dict[int, int]]:
        """Per other node, what of ``doc`` it is known to hold committed (client -> clock): its last
        sync step 1 (a link's anti-entropy and initial sync) and, beyond the links, what it attested
        (``_held``): what a receipt's durability on other devices is computed from."""
        held = {node: dict(clocks) for node, clocks in self._held_by.of(doc).items()}
        for node, clocks in self.held_beyond(doc).items():
            mine = held.setdefault(node, {})
            for client, clock in clocks.items():
                mine[client] = max(clock, mine.get(client, 0))
        return held

    def held_moved(self, doc: str, since: int) -> tuple[int, list[str] | None]:
        """The stamp of the last move of what any node holds (``_held.Moved``), and the nodes whose
        ``held_by(doc)`` entry may have moved after ``since`` (None: any of them may have)."""
        return self._attested.moved.stamp, self._attested.moved.since(doc, since)

    def held_of(self, doc: str, node: str) -> dict[int, int] | None:
        """``held_by(doc).get(node)``, built for that node alone (None: it holds nothing known)."""
        if node == self.node_id:
            return None
        stepped = self._held_by.get(node, doc)
        attested = self._attested.attested(node, doc)
        if attested is None:
            return None if stepped is None else dict(stepped)
        mine = dict(stepped or {})
        for client, clock in attested.items():
            mine[client] = max(clock, mine.get(client, 0))
        return mine

    def console_state(self, doc: str) -> dict[int, int]:
        return dict(self._console_sv.get(doc, {}))

    def set_owed(self, owed: dict[str, int]) -> None:
        """Our own records the console's reports lack, per kind: told to every peer in our heartbeats.

        **Changed** (issue 18, rounds2): it moves nothing here (``status_version``): no status or
        election of this node is computed from what it tells of itself (its own counts come from its
        tallies), and each own sale's move woke a whole round (a tick and an election) for it. The
        next heartbeat carries it, as before (the move only woke the ticker, it sent no beat)."""
        owed = {kind: n for kind, n in owed.items() if n > 0}
        if owed != self._owed:
            self._owed = owed

    def pending(self, doc: str) -> int:
        """Clock units of ``doc`` this replica holds and the console does not (0: all at the console).

        Only documents this node's role can author count: a register's catalog came from the console,
        so it is never the register's pending change."""
        held = self._docs.get(doc)
        if held is None or not may_write(self.role, doc):
            return 0
        # every heartbeat and status asks for every document: counted again only when the
        # document's state or the console's (``set_console_state`` moves ``_said``) moved since.
        # **Changed** (issue 18, rounds): the state is read with the receiving side's kept parse
        # (``held_state``: the update just applied parsed it already), not decoded again
        state, clocks = held_state(held)
        known = self._pending_for.get(doc)
        if known is not None and known[0] == state and known[1] == self._said:
            return known[2]
        console = self._console_sv.get(doc, {})
        count = sum(max(0, k - console.get(c, 0)) for c, k in clocks.items())
        self._pending_for[doc] = (state, self._said, count)
        return count

    @property
    def relay(self) -> str | None:
        """The relay in this node's current view."""
        return self._relay

    @property
    def is_relay(self) -> bool:
        return self._relay_claim

    @property
    def owed_version(self) -> int:
        """Moves when a peer's heartbeat says new owed counts and nothing else new. **Changed**
        (issue 18, rounds): they moved ``status_version``, after every sale of every peer, so every
        device computed its status (and elected) again, most often to an equal result: it already
        counts that receipt from its own tally. The status compares the owed counts themselves."""
        return self._owed_heard

    @property
    def status_version(self) -> tuple[int, int, int]:
        """Moves whenever anything a status is computed from may have changed here: a node came,
        went or said something new (its role, relay claim, uplink, problem, what it says the console
        holds or reports; its owed counts alone move ``owed_version``), this node's own election,
        uplink or problem (not what it tells of its own owed counts: ``set_owed``). Beats that only repeat themselves leave it alone, so an idle node need not
        compute its status again on every tick (``register/status.py``). Documents' own changes
        are not in it (the engine's events say those)."""
        return (self._said, self._presence.version, self._far.version)

    def _on_heartbeat(self, heartbeat: Heartbeat) -> None:
        # the console's own word first, checked (``_signed``): a beat whose statement fails the
        # check raises before anything of it is taken (its presence, relay claim, far records)
        if heartbeat.signed is not None:
            self._take_signed(heartbeat.node, heartbeat.signed)
        if heartbeat.epoch is not None:  # (after it: a new epoch judges again from it, ``_epoch``)
            self._take_epoch(heartbeat.node, heartbeat.epoch)
        if heartbeat.tick is not None:  # (after it: a tick names the statement it stands by)
            self._take_tick(heartbeat.tick)
        # devices' signed words (``_attesting``): checked before anything is taken
        words = self._check_words(heartbeat.helds) if heartbeat.helds else {}
        notices = self._check_notices(heartbeat.gones) if heartbeat.gones else []  # (``_notices``)
        stalls = self._check_stalls(heartbeat.stalls) if heartbeat.stalls else []  # (``_stalls``)
        self._take_saids(heartbeat)  # (checked, and taken before its far records: ``_far_signing``)
        if stalls:  # (before its far records too: a record that takes a mark back reads them)
            self._take_stalls(heartbeat, stalls)
        before = self._presence.get(heartbeat.node)
        if before is None or _said(before.heartbeat) != _said(heartbeat):
            self._say()
        elif before.heartbeat.owed != heartbeat.owed:  # (issue 18, rounds: ``owed_version``)
            self._owed_heard += 1
            self._nudge_drained()  # the status hooks look; the tick and election need not
        self._presence.observe(heartbeat, self._now if self._now is not None else 0.0)
        if heartbeat.far or heartbeat.gone:
            self._learn_far(heartbeat)
        if notices and heartbeat.role != "console" and self.role != "console":
            self._take_notices(heartbeat.node, notices)
        if heartbeat.held or heartbeat.helds:
            self._learn_held(heartbeat, words)
        # from the relay, the console, or (bounded topology) a node passing on what it learnt
        # (``_passing._with_console_passed_on``; an N−1 node says nothing unless it is relay)
        if self.statements.strict:  # (``_passing``: signing on, or "auto" after a statement)
            return  # signing is on: unsigned state and reports are taken from nobody
        if heartbeat.relay or heartbeat.role == "console" or heartbeat.console:
            # open documents only, bounded (``_passing``)
            self._learn_console(heartbeat.node, heartbeat.console, heartbeat.reports)
            if self.role != "console" and (heartbeat.relay or heartbeat.role == "console"):
                self._tell_unreported((heartbeat.unreported, heartbeat.unreported_reason))

    @cached_property
    def console_heard(self) -> ConsoleHeard:
        """What a strict node knows of whether the console hears the venue now (``_fresh``)."""
        return ConsoleHeard()

    def _judge_console(self, now: float) -> None:
        """A strict node: whether the console hears the venue now (``_fresh``), every beat."""
        if self.role == "console" or not self.statements.strict:
            return
        if self.console_heard.judge(
            self.config, now, self._relay, self.hello, self._docs, self._console_sv
        ):
            self._say()

    def _heartbeat(self) -> Heartbeat:
        self._seq += 1
        now = self._now if self._now is not None else 0.0
        self._judge_console(now)
        pending = {name: n for name in self._docs if (n := self.pending(name))}
        console = self.role == "console"
        # the console tells what it cannot report; a relay passes it on; the others say nothing
        speaks = self.role == "console" or self._relay_claim
        unreported, reason = self._unreported if speaks else (0, "")
        view = self._console_view()
        reports = self._reports_view()
        return Heartbeat(
            node=self.node_id,
            role=self.role,
            priority=self.priority,
            uplink=self._uplink,
            relay=self._relay_claim,
            seq=self._seq,
            console=view,
            pending=pending,
            peers=tuple(
                sorted({s.peer.node for s in self._exchanging() if s.peer and not s.stock})
            ),  # (a stock Yjs client is no peer: ``_yjs``)
            problem=self._problem or self._connecting(),
            unreported=unreported,
            unreported_reason=reason,
            reports=reports,
            owed=dict(self._owed),
            # the console is no member of the mesh's topology (``_spread``)
            far=() if console else self._far_out(now, min(sum(pending.values()), MAX_VAR_UINT)),
            gone={} if console else self._gone_out(now),
            gones=() if console else self._gones_out(now),
            stalls=() if console else self._stalls_out(now),
            signed=self._own_statement(view, reports) if console else None,
            tick=self.ticks.own if console else None,  # (issue 18, tick: ``_tick``)
        )

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` as ``session`` gets it: to the console only (the relay's link), with each linked
        node's role and pending count, so the console can show every register; to a node that still
        holds open a day closed here, what the console holds of that day (``_closed``)."""
        peer = session.peer
        if peer is None:
            return beat
        if peer.role != "console":
            return self._with_held(self._with_closed_days_asked(beat, peer.node), session)
        if self.role == "console":
            return beat
        mesh = self._mesh_summary(beat.peers)
        return replace(beat, mesh=mesh, far=(), gone={}, gones=(), stalls=())  # (no topology)

    def _console_view(self) -> dict[str, dict[int, int]]:
        """What we tell peers the console holds: the console tells its own state, the relay
        passes on what the console told it, everyone else says nothing."""
        if self.role == "console":
            return {n: decode_state_vector(d.get_state()) for n, d in self._docs.items()}
        if self._relay_claim:  # open documents only: a closed day costs no heartbeat field
            return {d: dict(sv) for d, sv in self._console_sv.items() if d in self._docs}
        return {}

    def _reports_view(self) -> dict[str, Tally]:
        """The console's reports as we pass them on (like :meth:`_console_view`): the latest
        ``REPORTED_DAYS`` ledger days, which cover every day a register still has open."""
        if self.role != "console" and not self._relay_claim:
            return {}
        latest = sorted(d for d in self._reports if d in self._docs)[-REPORTED_DAYS:]
        return {doc: self._reports[doc] for doc in latest if self._reports[doc]}


#: what changes in every beat: its seq, the rotating far records, the attestations passing through
#: (``_held``: the latest sale's count is refreshed periodically while it is short); and what no
#: status shows (issue 18, status2): a peer's pending counts, linked peers, gone notes (news in them
#: moves the far table's version) and relay summary moved it on every sale and link change elsewhere;
#: a peer's owed counts move ``owed_version`` instead (issue 18, rounds: the election does not read them)
_UNSAID = frozenset(
    {"seq", "far", "held", "pending", "peers", "gone", "gones", "saids", "mesh", "owed", "signed"}
    | {"tick", "stalls", "epoch"}
)
#: a heartbeat's other fields, as a tuple: what a status and the election are computed from, whatever
#: fields a later release adds (read in place: it made two copies of every beat received to compare)
_said = attrgetter(*(f.name for f in fields(Heartbeat) if f.name not in _UNSAID))
