"""The console's "I hear you" at rest, small: a signed *tick* naming its latest full statement.

docs/architecture.md (Security), docs/architecture.md (Status). **Changed** (issue 18, tick): part
``fresh`` (``_fresh``) made the console sign its whole statement again at least every
``console_resign_s`` while nothing moved, so a strict node could tell a console that hears the venue
from one that stopped; every mesh link then carried the whole statement every 2 s (1.5 / 4.6 / 11.4
kB/s at 6 / 20 / 50 registers, up to ~100 kB while it carries closed days). Now, when nothing moved,
the console signs a *tick* instead (:data:`TICK_FEATURE`; ~250 bytes): its venue, its time ``at``
and the digest of its latest full statement (``statement_digest``: body and certificate), signed by
the same key under another domain (a tick is never a statement, nor the reverse). The whole
statement is signed again only when what it says moved (or closed days are due, ``_closed``).

A node counts a tick as it counts a newer statement (``ConsoleHeard.statement``) only when:

* it names the full statement this node took last (``Statements.latest``): a node that has not got
  the statement a tick stands by does not count the tick (it gets the statement first on every
  link: ``_passing._with_signed`` passes the statement, then the tick, on one ordered link);
* it checks as a statement does (``SyncConfig.console_tick_check``: the statement's certificate,
  which is the venue CA's, for role console and this venue, not on the deny-list, valid now; the
  signature by its key; this venue), once per distinct tick;
* it is newer than every statement and tick before it.

A tick that fails the check closes the session (``ConsoleSignatureRefused``), as a statement does.
What a relay can fake stays as ``_fresh`` says: it cannot sign, so it can only hold ticks back
(judged by their age) or withhold them (yellow). A peer that takes statements but not ticks (no
:data:`TICK_FEATURE`; no release has one, N−1 takes neither) makes the console sign whole statements
again, as before, while it is linked to it.

**Changed** (the twenty-third session, epoch): a statement signed before the console's epoch word
this node took (``_epoch``: the console on a new database) is not learnt from: a relay replaying the
old console's statement cannot bring back the clocks the node forgot.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from meshpos.model.tally import Tally
from meshpos.sync._bodies import decode_statement
from meshpos.sync._closed import _ClosedDoc, _covers
from meshpos.sync._config import SyncConfig
from meshpos.sync._epoch import Epoching
from meshpos.sync._held import HeldTable
from meshpos.sync._lacking import LackingDays
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._session import Session
from meshpos.sync._signed import (
    SIGNED_FEATURE,
    TICK_FEATURE,
    ConsoleSignatureRefused,
    SignedConsole,
    SignedTick,
    Statements,
    decode_tick_body,
    statement_digest,
)

if TYPE_CHECKING:
    from meshpos.sync._fresh import ConsoleHeard

#: distinct ticks a node remembers it counted (the console's latest comes in every beat)
_REMEMBERED = 8


class Ticks:
    """The ticks a node took (the latest names ``Statements.latest``), or the console signed."""

    def __init__(self) -> None:
        self.latest: SignedTick | None = None
        self.latest_at = -1  # the latest counted tick's ``at`` (only grows)
        self.taken: dict[SignedTick, None] = {}
        self.own: SignedTick | None = None  # the console: its tick of its latest statement
        #: the console: its statement and tick last sent on each link (``_console_once_per_link``)
        self.sent_on: WeakKeyDictionary[Session, tuple[object, object]] = WeakKeyDictionary()
        self._digest: tuple[SignedConsole, str] | None = None

    def digest_of(self, signed: SignedConsole) -> str:
        """``statement_digest(signed)``, kept for the latest statement asked about."""
        if self._digest is None or self._digest[0] is not signed:
            self._digest = (signed, statement_digest(signed))
        return self._digest[1]

    def remember(self, tick: SignedTick) -> None:
        if len(self.taken) >= _REMEMBERED:
            del self.taken[next(iter(self.taken))]
        self.taken[tick] = None


class Ticking(Epoching):
    """The console's word taken (statements and ticks) and, on the console, signed (a mixin of
    ``Synchronizer``, through ``PassingOn``, which passes them on)."""

    config: SyncConfig
    hello: Hello
    _now: float | None
    _unreported: tuple[int, str]
    _console_sv: dict[str, dict[int, int]]
    _reports: dict[str, Tally]
    _console_rose: int
    _attested: HeldTable
    _closed: dict[str, _ClosedDoc]
    _closed_moved: int

    if TYPE_CHECKING:

        @property
        def role(self) -> str: ...

        @property
        def statements(self) -> Statements: ...

        @property
        def console_heard(self) -> ConsoleHeard: ...

        def _exchanging(self) -> list[Session]: ...

        def _learn_console(
            self, node: str, console: dict[str, dict[int, int]], reports: dict[str, Tally]
        ) -> None: ...

        def _tell_unreported(self, unreported: tuple[int, str]) -> None: ...

        def _say(self) -> None: ...

        def _closed_due(
            self, moved: bool
        ) -> tuple[dict[str, dict[int, int]], dict[str, Tally]] | None: ...

    @cached_property
    def ticks(self) -> Ticks:
        return Ticks()

    @cached_property
    def held_closed(self) -> set[str]:
        """Closed documents a signed statement this strict node took says the console holds all of
        (its clocks cover the day's closed summary): the node records them as closed on signed word,
        which a day closed before the node turned strict lacks (``register/retention.py`` takes
        them; issue 18, keep). Never more than the closed documents."""
        return set()

    @cached_property
    def lacking_days(self) -> LackingDays:
        """This register's closed days the console's signed word says it lacks (``_lacking``)."""
        return LackingDays()

    def closed_lacking_due(self) -> list[str]:
        """Closed documents judged lacking at the console long enough to open them again
        (``register/retention.py``), oldest first."""
        now = self._now if self._now is not None else 0.0
        return self.lacking_days.due(now, self.config.anti_entropy_interval)

    def _closed_held(self, console: dict[str, dict[int, int]]) -> None:
        """What a signed statement a strict node took says of its closed days: those it holds all of
        (:attr:`held_closed`) and, on a register, those it lacks (**Changed**, issue 18, newconsole:
        ``_lacking``; a console on a new database never asks for them)."""
        for doc, clocks in console.items():
            closed = self._closed.get(doc)
            if closed is not None and _covers(clocks, closed.clocks):
                self.held_closed.add(doc)
        if self.role == "register":  # (issue 18, newconsole: only a register reopens a day)
            now = self._now if self._now is not None else 0.0
            if self.lacking_days.judge(console, self._closed, self._closed_moved, now):
                self._say()

    def _take_signed(self, node: str, signed: SignedConsole) -> None:
        """Check the console's statement ``node`` passed on (once per distinct statement: the
        venue CA, role console, not revoked, the signature; ``SyncConfig.console_check``) and take
        what it says as :meth:`_learn_console` does; the latest goes on to every link
        (:meth:`_with_signed`). A statement that fails the check raises
        :class:`ConsoleSignatureRefused`: the session closes, nothing is taken."""
        check = self.config.console_check
        if check is None or self.statements.known(signed) is not None:
            return  # (cannot check it: neither taken nor passed on; or taken already)
        check(signed)
        statement = self.statements.again(signed) or decode_statement(signed.body)
        if statement.venue != self.hello.venue:
            raise ConsoleSignatureRefused(
                f"console statement for venue {statement.venue!r:.80}, not {self.hello.venue!r}"
            )
        if statement.at < self.epochs.floor:
            return  # (the twenty-third session, epoch: signed before the console's database)
        latest = self.statements.keep(signed, statement)
        if latest:  # (issue 18, tick: a tick names the latest statement; that one is gone)
            self.ticks.latest = None
        if latest and self._now is not None:  # (issue 18, fresh: heard, as of its arrival)
            self.console_heard.statement(statement.at, self._now)
        if not self.statements.strict and self.config.console_signed == "auto":
            self._turn_strict()
        self._learn_console(node, statement.console, statement.reports)
        if self.statements.strict:
            self.epochs.learnt(statement.at)
            self._closed_held(statement.console)
        if latest and self.statements.strict:
            self._tell_unreported(statement.unreported)

    def _turn_strict(self) -> None:
        """``console_signed = "auto"``, the first checked statement of the venue's console: from now
        on the console's state and reports are taken only as it signed them (``_heartbeats``), and
        what was taken unsigned before is forgotten (an enrolled device may have said it): the
        statement, taken next, says it again if it is true. Pessimistic meanwhile: the pending
        counts rise at once (``_say``). **Changed** (issue 18, sticky): signing was off unless
        configured, so a venue that did not read the docs kept the gap; the node (``on_console_strict``)
        remembers it, so it stays strict after a restart."""
        self.statements.strict = True
        self._console_sv.clear()
        self._reports.clear()
        # (issue 18, sign) and the attestations no signature or link proves: a device may have
        # attested for another one; the true ones come again signed within an anti-entropy period
        self._attested.forget_unproven()
        self._console_rose += 1
        self._say()
        told = self.config.on_console_strict
        if told is not None:
            told()

    def _take_tick(self, tick: SignedTick) -> None:
        """Count ``tick`` as the console's word that it hears the venue now, when it names the
        statement this node took last, checks, and is newer than every word before (``_fresh``)."""
        check, ticks = self.config.console_tick_check, self.ticks
        if check is None or tick in ticks.taken:
            return  # (cannot check it, or counted already)
        venue, at, of = decode_tick_body(tick.body)  # (malformed: refused, whatever we hold)
        latest = self.statements.latest
        if latest is None or of != ticks.digest_of(latest):
            return  # not the statement this node has: not counted (nor refused)
        check(tick, latest)
        if venue != self.hello.venue:
            raise ConsoleSignatureRefused(
                f"console tick for venue {venue!r:.80}, not {self.hello.venue!r}"
            )
        ticks.remember(tick)
        if at <= max(ticks.latest_at, self.statements.latest_at):
            return  # not newer than what was heard: no evidence
        ticks.latest, ticks.latest_at = tick, at
        if self._now is not None:
            self.console_heard.statement(at, self._now)
            if self.lacking_days.lacking:  # (newconsole: the console stands by what it stated)
                self.lacking_days.affirm(self._now)

    def _own_statement(
        self, view: dict[str, dict[int, int]], reports: dict[str, Tally]
    ) -> SignedConsole | None:
        """The console only: what it says of itself, signed (``_signed``) again when it moved, and
        at least every ``console_resign_s`` (**Changed** (issue 18, fresh): only when it moved, so a
        register could not tell a console that hears the venue from one that stopped; ``_fresh``);
        **Changed** (issue 18, tick): by a tick when nothing moved (:meth:`_tick_instead`)."""
        signer = self.config.console_signer
        if signer is None:
            return None
        # (a copy: the report counts are the live ones, which rise in place)
        counts = {d: {r: dict(c) for r, c in tally.items()} for d, tally in reports.items()}
        content = {"console": view, "reports": counts, "unreported": self._unreported}
        own, now = self.statements.own, self._now if self._now is not None else 0.0
        moved = own is None or own[0] != content
        # and of the days it closed lately, for a register that was away (``_closed``; issue 18)
        closed = self._closed_due(moved)
        resign = now - self.statements.own_at >= self.config.console_resign_s
        if (
            own is not None
            and not moved
            and closed is None
            and (not resign or self._tick_instead(own[1], now))
        ):
            return own[1]
        # nothing moved: the same words again (the closed days too, if they were in them)
        said = self.statements.own_said if not moved and closed is None else content
        if closed is not None:
            said = {
                **content,
                "console": {**closed[0], **view},
                "reports": {**closed[1], **counts},
            }
        signed = signer(said)
        self.ticks.own = None  # (a tick names the statement before: no longer the latest)
        if signed is None:  # (its certificate expired: nothing signed, and said so in the log)
            self.statements.own = None
            return None
        self.statements.own, self.statements.own_said = (content, signed), said
        self.statements.own_at = now
        return signed

    def _console_once_per_link(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """The console's ``beat`` to ``session`` with its statement and tick only when they are
        new on that link. **Changed** (issue 18, tick): every console heartbeat carried the whole
        statement (~25 kB at 50 registers, every second, on the console's link, often the venue's
        internet uplink); the relay keeps the latest it took and a new link (a new session) gets it
        at once."""
        before = self.ticks.sent_on.get(session, (None, None))
        self.ticks.sent_on[session] = (beat.signed, beat.tick)
        return replace(
            beat,
            signed=None if beat.signed is before[0] else beat.signed,
            tick=None if beat.tick is before[1] else beat.tick,
        )

    def _tick_instead(self, statement: SignedConsole, now: float) -> bool:
        """The console, nothing moved: sign a tick naming ``statement`` rather than the statement
        again; False when it cannot (no tick signer, a linked peer that takes statements but not
        ticks, or its certificate expired)."""
        sign = self.config.console_tick_signer
        if sign is None:
            return False
        for session in self._exchanging():
            features = session.peer_features
            if SIGNED_FEATURE in features and TICK_FEATURE not in features:
                return False
        tick = sign(self.ticks.digest_of(statement))
        if tick is None:
            return False
        self.ticks.own = tick
        self.statements.own_at = now
        return True
