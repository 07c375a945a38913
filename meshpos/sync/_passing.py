"""The synchronizer's part of passing knowledge on beyond the links: attestations and the console's state.

docs/architecture.md (Links), docs/architecture.md (Relay and console). On the bounded topology
(``_spread``) a node hears only its neighbours, so what the rest of the venue must learn rides in the
heartbeats, a hop at a time:

* ``held``: what each node attests it holds of the open ledger days, per author, sent towards the
  author along its tree (``_held``): made, routed and taken in ``_attesting`` (a mixin of its own).
* the console's state vectors and report counts, which only the relay's links hear from the relay,
  passed on to each link once per version.
* a newly linked peer's welcome: every far record we hold, a few at a time, so a node that joins
  learns the venue in a few message delays.

Kept apart from ``_spread`` (which links, far presence, gone notices) because it is a separate
concern that only reads the topology. A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`,
which owns the state named below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.model.replica import decode_state_vector
from meshpos.model.tally import UNKNOWN_REGISTER, Tally
from meshpos.sync._attesting import Attesting
from meshpos.sync._bodies import MAX_JSON_DOCS, MAX_STATE_CLIENTS
from meshpos.sync._claims import ClaimRefusals, bounded
from meshpos.sync._config import REPORTED_DAYS, SyncConfig
from meshpos.sync._fresh import ConsoleHeard
from meshpos.sync._held import HeldTable
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._presence import FarTable
from meshpos.sync._session import Session
from meshpos.sync._signed import (
    SIGNED_FEATURE,
    TICK_FEATURE,
    ConsoleSignatureRefused,
    SignedConsole,
    SignedTick,
    Statements,
)
from meshpos.sync._tick import Ticking
from meshpos.sync._topology import COMPACT_FAR_FEATURE, TOPOLOGY_FEATURE

#: far records added to each beat for a newly linked peer until it has had every one (arrays only)
WELCOME_PER_BEAT = 24


class ConsoleSent:
    """What of the console's state and reports this node passed on to one peer (the highest it sent
    per document and client, and per document, register and kind): the next beat to that peer
    carries only what rose since."""

    def __init__(self) -> None:
        self.console: dict[str, dict[int, int]] = {}
        self.reports: dict[str, Tally] = {}
        #: what the state passed on was taken at (``PassingOn._with_console_passed_on``): nothing rose since
        self.at: tuple[object, ...] | None = None
        self.signed: SignedConsole | None = None  # the console's statement last passed on
        self.tick: SignedTick | None = None  # and its tick (``_tick``)

    def rose_console(self, now: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
        """The clocks of ``now`` above what was sent, kept as sent."""
        return _rose_by_document(self.console, now)

    def rose_reports(self, now: dict[str, Tally]) -> dict[str, Tally]:
        """The counts of ``now`` above what was sent, kept as sent."""
        return _rose_by_document(self.reports, now)


def _rose_by_document(sent: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """What of ``now`` rose above ``sent`` (per document, maps of counts that only grow), recorded in
    ``sent`` as sent; a document no longer in ``now`` (a closed day) is forgotten: a link may live
    for months."""
    for doc in [d for d in sent if d not in now]:
        del sent[doc]
    return _rose(sent, now)


def _rose(had: dict[Any, Any], now: dict[Any, Any]) -> dict[Any, Any]:
    """The values of ``now`` (counts, or maps of them) above ``had``'s, which takes them."""
    out: dict[Any, Any] = {}
    for key, value in now.items():
        if isinstance(value, dict):
            mine = had.get(key)
            if mine == value:
                continue  # (compared whole, in C: most registers' counts did not move)
            if mine is None:
                mine = had[key] = {}
            inner = _rose(mine, value)
            if inner:
                out[key] = inner
        elif value > had.get(key, 0):
            had[key] = value
            out[key] = value
    return out


class PassingOn(Ticking, Attesting):
    """Attestations, the console's state and the welcome, per link (a mixin of ``Synchronizer``)."""

    hello: Hello
    _far: FarTable
    _discovered: frozenset[str]
    _seq: int
    _trigger: bool
    _docs: dict[str, Doc[Any]]
    _attested: HeldTable
    _console_sv: dict[str, dict[int, int]]
    _reports: dict[str, Tally]
    _console_sent: dict[str, ConsoleSent]  # peer node -> the console's state last passed on to it
    _welcomed: dict[
        str, int
    ]  # peer node -> far records sent to it since it linked (``_with_welcome``)
    _attested_at: tuple[int, frozenset[str]]  # (the beat seq, the open documents) last attested
    _console_rose: int  # moves on every rise of the console's state or reports (``_heartbeats``)
    _attested_again_at: float  # when this node's own attestations were last queued again
    _now: float | None
    config: SyncConfig
    claim_refusals: ClaimRefusals  # peers' claims refused for a bound, per cause (``_claims``)

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

        @property
        def members(self) -> frozenset[str]: ...

        def _exchanging(self) -> list[Session]: ...

        def _with_saids(self, beat: Heartbeat, session: Session) -> Heartbeat: ...

        def _client_nodes(self) -> dict[int, str]: ...

        def _graph(self) -> dict[str, frozenset[str]]: ...

        def _shape(self) -> tuple[frozenset[str], frozenset[str]]: ...

        def set_console_state(self, doc: str, sv: dict[int, int]) -> None: ...

        def set_console_reports(self, doc: str, reports: Tally) -> None: ...

        def _tell_unreported(self, unreported: tuple[int, str]) -> None: ...

        def _say(self) -> None: ...

        @property
        def console_heard(self) -> ConsoleHeard: ...

    # --- the console's state, as a peer passes it on (bounded: ``_claims``) -------------------------

    @cached_property
    def statements(self) -> Statements:
        """The console's signed statements this node took (``_signed``); strict from the start when
        signing is on."""
        return Statements(strict=self.config.console_signed is True)

    def _with_signed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with the console's latest statement this node took, once per statement and link
        (the same bytes as the console signed: a receiver checks them, ``_take_signed``), then its
        latest tick, once per tick and link (``_tick``: it names that statement)."""
        if self.hello.role == "console":
            return self._console_once_per_link(beat, session)
        latest = self.statements.latest
        peer = session.device_peer(SIGNED_FEATURE)
        if latest is None or peer is None:
            return beat
        sent = self._console_sent.setdefault(peer.node, ConsoleSent())
        tick = self.ticks.latest
        if sent.signed is latest and (
            tick is None or sent.tick is tick or TICK_FEATURE not in session.peer_features
        ):
            return beat
        if not self._still_good(latest):
            return beat
        if sent.signed is not latest:
            sent.signed = latest
            beat = replace(beat, signed=latest)
        if tick is not None and TICK_FEATURE in session.peer_features:
            sent.tick = tick
            beat = replace(beat, tick=tick)
        return beat

    def _still_good(self, latest: SignedConsole) -> bool:
        """Is ``latest`` still the console's as the venue sees it now? **Changed** (issue 18,
        outside): checked again before it goes to a link (cached: the deny-list is asked), since a
        statement whose console was revoked after it was taken made every peer that checks it
        close this honest link, after every relink; such a statement is no longer passed on."""
        check = self.config.console_check
        if check is None:
            return True
        try:
            check(latest)
        except ConsoleSignatureRefused:
            self.statements.latest = None  # (a newer statement, if one comes, takes its place)
            self.ticks.latest = None
            return False
        return True

    def _learn_console(
        self, node: str, console: dict[str, dict[int, int]], reports: dict[str, Tally]
    ) -> None:
        """Keep what ``node`` says the console holds and reports of the open documents, the highest
        of each, within the decoder's bounds per document (``_claims``): a client id this node
        holds, or a register it knows, may take the place of one it neither holds nor knows; other
        new ones past the bound are refused, so a device naming new ones in every beat grows
        nothing, and what this node passes on is never more than a heartbeat may carry."""
        refused = 0
        for doc, sv in console.items():
            held = self._docs.get(doc)
            if held is None:
                continue  # a peer naming new days in every beat must not grow us
            kept = self._console_sv.setdefault(doc, {})
            taken, n = bounded(kept, sv, MAX_STATE_CLIENTS, _holds(held))
            refused += n
            if taken:
                self.set_console_state(doc, taken)
        self.claim_refusals.refuse(
            node,
            "console_clients_full",
            f"client ids in the console's state: {MAX_STATE_CLIENTS} kept per document already",
            refused,
        )
        refused = 0
        known = self.members | self._discovered
        for doc, tally in reports.items():
            if doc not in self._docs:
                continue  # (the next beat brings a day we open later)
            kept_reports = self._reports.setdefault(doc, {})
            taken_reports, n = bounded(
                kept_reports, tally, MAX_JSON_DOCS, lambda r: r in known or r == UNKNOWN_REGISTER
            )
            refused += n
            if taken_reports:
                self.set_console_reports(doc, taken_reports)
        self.claim_refusals.refuse(
            node,
            "console_registers_full",
            f"registers in the console's reports: {MAX_JSON_DOCS} kept per day already",
            refused,
        )

    def _with_console_passed_on(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with what the console holds and reports, as this node learnt it, that
        ``session``'s peer has not had from us yet: only the relay's links hear the relay, so on the
        bounded topology every node passes the console's state on to its links, or a register beyond
        the relay's links never learnt its sales were at the console (its pending count stuck above
        0; the partition chaos test found it). Counts and clocks only grow and a receiver keeps the
        highest (``Heartbeats._on_heartbeat``), so only what rose since the last beat to this peer
        goes (**Changed** (issue 18): the whole state went in every beat while sales flowed, the
        console's state of every register and its reports on every link of the mesh, ~90 kB per
        receipt at 50 devices in the in-memory network). A beat on a live link is never dropped
        (sessions slow, never drop), and a new link starts from nothing (``_link_lost``).
        **Changed** (issue 18, held): compared only when something may have risen since the last
        beat to this peer: ``_console_rose`` moves on every rise of the console's state or reports
        (``Heartbeats.set_console_state``, ``set_console_reports``), and the open documents name
        what is passed on; a node compared every client and count of every open day on every link,
        every beat (~16 % of the in-memory venue's CPU at 50 devices with a console)."""
        beat = self._with_epoch(self._with_signed(beat, session), session)  # (``_epoch``)
        peer = session.device_peer(TOPOLOGY_FEATURE)
        if peer is None or beat.relay or self.hello.role == "console":
            return beat
        sent = self._console_sent.setdefault(peer.node, ConsoleSent())
        at = (self._console_rose, tuple(self._docs))
        if sent.at == at:
            return beat  # nothing rose since the last beat to this peer: no need to compare
        sent.at = at
        console = sent.rose_console(
            {d: sv for d, sv in self._console_sv.items() if d in self._docs}
        )
        reports = sent.rose_reports(self._passed_reports())
        if not console and not reports:
            return beat
        for doc in reports:  # reports are taken only alongside a console field (``_on_heartbeat``)
            console.setdefault(doc, {})
        return replace(beat, console=console, reports=reports)

    def _with_welcome(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with WELCOME_PER_BEAT more far records for a peer newly linked, until it has had
        every record we hold once (the beats come at once meanwhile): a node that joins learns the
        venue in a few message delays, not from the rotation (~13 beats at 200 nodes), so it knows
        every author's node for the durability count and every candidate at once. Arrays only
        (``COMPACT_FAR_FEATURE``): 24 records are ~1.5 kB."""
        peer = session.device_peer(COMPACT_FAR_FEATURE)
        if peer is None or self.hello.role == "console":
            return beat
        done = self._welcomed.get(peer.node, 0)
        if done >= len(self._far):
            self._welcomed[peer.node] = done
            return beat
        records = self._far.records
        have = {r.node for r in beat.far}
        order = list(records.values())
        extra = [r for r in order[done : done + WELCOME_PER_BEAT] if r.node not in have]
        self._welcomed[peer.node] = done + WELCOME_PER_BEAT
        if done + WELCOME_PER_BEAT < len(order):
            self._trigger = True  # the rest in the next beat, at once
        return replace(beat, far=beat.far + tuple(r for r in extra if r.node != peer.node))

    def _passed_reports(self) -> dict[str, Tally]:
        latest = sorted(d for d in self._reports if d in self._docs)[-REPORTED_DAYS:]
        return {doc: self._reports[doc] for doc in latest if self._reports[doc]}

    def _with_held(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with the console's state passed on (:meth:`_with_console_passed_on`), the
        welcome's far records and the attestations whose next hop is ``session``'s peer
        (``_attesting``)."""
        beat = self._with_welcome(self._with_console_passed_on(beat, session), session)
        # the signed said fields of its far records, the welcome's too (``_far_signing``)
        return self._with_saids(self._with_attestations(beat, session), session)


def _holds(doc: Doc[Any]) -> Callable[[int], bool]:
    """Whether ``doc`` holds structs of a client id (its state vector read once, at the first ask:
    only a full table asks)."""
    clients: dict[int, int] = {}
    read = False

    def holds(client: int) -> bool:
        nonlocal read
        if not read:
            clients.update(decode_state_vector(doc.get_state()))
            read = True
        return client in clients

    return holds
