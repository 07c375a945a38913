"""The console database's epoch, signed: a strict node that sees it change forgets what the console
told it and judges again (the twenty-third session, part ``epoch``).

docs/architecture.md (Status), docs/architecture.md (Security). A strict node keeps the highest
console clocks it was told for each open document (``_passing._learn_console``) and, in memory,
which closed days a signed statement covered (``_lacking``). A console started on a new database
(the back-office PC died, ``console.db`` was lost, a new PostgreSQL database) holds less than that,
but its lower clocks raised nothing and its statements, naming the closed days nowhere, unconfirmed
nothing: a register that kept running said "All data is synced" while the new console lacked its
sales, until it restarted.

**Changed** (the twenty-third session, epoch): the console says which database it runs on. Its
*epoch* is the time (ms, the database's row of the venue, ``venues.created_at_ms``, or a later
``epoch_ms``: below) at which that database registered the venue: made with the database, kept in it, the same for every console
process sharing it (PostgreSQL), and new in a new database. At each start it signs an *epoch word*
``{"at", "epoch", "venue"}`` with its key under its own domain (``trust.console_key``: never a
statement's nor a tick's signature) and sends it once on each link, in the heartbeat field ``epoch``
(:data:`EPOCH_FEATURE`; an N−1 peer never gets it, and keeps its old behaviour); every node passes
the latest word it took on to each link once, unchanged, as it does the statement.

A strict node takes a word when it checks (the venue CA's console certificate of this venue, valid
now, not revoked; ``SyncConfig.console_epoch_check``) and is newer (its signed ``at``) than every
word it took; a word that fails the check closes the session (``ConsoleSignatureRefused``). When the
epoch differs from the one it knew (or it knew none) and it learnt from statements signed before the
word, it **forgets** the console's clocks and reports (open documents), the closed days a statement
said it holds and the lacking-days judgement, and judges again from the latest statement signed at
or after the word (statements signed before it are no longer learnt from: a relay replaying the old
console's statement cannot bring its clocks back). Forgetting only ever raises the pending counts:
pessimistic until the new console's signed word covers them.

What a relay can do: withhold the word (the node keeps the old epoch; its status stays as main's
was), never fake one; replaying an older console's word signed earlier is ignored (its ``at`` is not
newer), so an old epoch cannot flip-flop a node. A new machine whose clock is behind the old one's
signs older ``at``s: its word is ignored as a replay would be, as its statements are (``_signed``
orders them by ``at`` too). **Changed** (the twenty-fourth session, operator): a console restored
from a backup had the backup's epoch, not noticed (README said: restart every register); now the
console finds at start that its database went backwards (``console/epoch_marks.py``) and signs a new
epoch (``venues.epoch_ms``), so the epoch is no longer ``created_at_ms`` alone.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Protocol
from weakref import WeakKeyDictionary

from meshpos.model.tally import Tally
from meshpos.sync._config import SyncConfig
from meshpos.sync._lacking import LackingDays
from meshpos.sync._messages import Heartbeat, Hello
from meshpos.sync._session import Session
from meshpos.sync._signed import (
    EPOCH_FEATURE,
    ConsoleSignatureRefused,
    SignedConsole,
    SignedTick,
    Statements,
    decode_epoch_body,
)

log = logging.getLogger("meshpos.sync")


class _TickTaken(Protocol):
    """What a new epoch forgets of ``_tick.Ticks`` (its latest tick): named here, not imported,
    as ``_tick`` builds on this module."""

    latest: SignedTick | None


#: distinct words a node remembers it took (each comes once per link)
_REMEMBERED = 8


class Epochs:
    """The console's epoch as this node took it (or, on the console, signed it)."""

    def __init__(self) -> None:
        self.own: SignedConsole | None = None  # the console: its word, signed at its start
        self.latest: SignedConsole | None = None  # a node: the newest word it took
        self.at = -1  # its signed time (only grows)
        self.epoch: int | None = None
        #: statements signed before this are not learnt from (the word that set the epoch)
        self.floor = -1
        #: the oldest ``at`` of the statements learnt from since the last forgetting
        self.oldest_learnt: int | None = None
        self.forgotten = 0  # times this node forgot what the console told it (a new epoch)
        self.taken: dict[SignedConsole, None] = {}
        self.sent_on: WeakKeyDictionary[Session, SignedConsole] = WeakKeyDictionary()

    def learnt(self, at: int) -> None:
        """A statement signed at ``at`` was learnt from."""
        if self.oldest_learnt is None or at < self.oldest_learnt:
            self.oldest_learnt = at

    def remember(self, word: SignedConsole) -> None:
        if len(self.taken) >= _REMEMBERED:
            del self.taken[next(iter(self.taken))]
        self.taken[word] = None


class Epoching:
    """The console's epoch word taken, passed on and, on the console, sent (a mixin of
    ``Synchronizer``, through ``Ticking``)."""

    config: SyncConfig
    hello: Hello
    _console_sv: dict[str, dict[int, int]]
    _reports: dict[str, Tally]
    _console_rose: int

    if TYPE_CHECKING:

        @property
        def statements(self) -> Statements: ...

        @property
        def ticks(self) -> _TickTaken: ...

        @property
        def held_closed(self) -> set[str]: ...

        @property
        def lacking_days(self) -> LackingDays: ...

        def _learn_console(
            self, node: str, console: dict[str, dict[int, int]], reports: dict[str, Tally]
        ) -> None: ...

        def _closed_held(self, console: dict[str, dict[int, int]]) -> None: ...

        def _say(self) -> None: ...

    @cached_property
    def epochs(self) -> Epochs:
        return Epochs()

    def _with_epoch(self, beat: Heartbeat, session: Session) -> Heartbeat:
        """``beat`` with the console's epoch word (its own, or the latest this node took), once
        per word and link, to a peer that takes it."""
        epochs = self.epochs
        word = epochs.own if self.hello.role == "console" else epochs.latest
        if word is None or EPOCH_FEATURE not in session.peer_features:
            return beat
        if epochs.sent_on.get(session) is word:
            return beat
        check = self.config.console_epoch_check
        if check is not None:  # (as ``_passing._still_good``: a console revoked or expired since
            try:  # would make every peer close this honest link, after every relink)
                check(word)
            except ConsoleSignatureRefused:
                epochs.latest = None  # (a newer word, if one comes, takes its place)
                return beat
        epochs.sent_on[session] = word
        return replace(beat, epoch=word)

    def _take_epoch(self, node: str, word: SignedConsole) -> None:
        """Check ``word`` (once per distinct word) and take it when it is newer than every word
        before; a new epoch makes this node forget what the console told it (the module)."""
        check, epochs = self.config.console_epoch_check, self.epochs
        if check is None or self.hello.role == "console" or word in epochs.taken:
            return
        venue, at, epoch = decode_epoch_body(word.body)  # (malformed: refused, whatever we hold)
        check(word)
        if venue != self.hello.venue:
            raise ConsoleSignatureRefused(
                f"console epoch for venue {venue!r:.80}, not {self.hello.venue!r}"
            )
        epochs.remember(word)
        if at <= epochs.at:
            return  # not newer than a word taken: a replay, or the same console's, no evidence
        new = epochs.epoch != epoch
        epochs.latest, epochs.at, epochs.epoch = word, at, epoch
        if new:
            epochs.floor = at
            if epochs.oldest_learnt is not None and epochs.oldest_learnt < at:
                self._forget_console(node)

    def _forget_console(self, node: str) -> None:
        """Forget the console's clocks, reports and what its statements said of the closed days,
        and judge again from the latest statement signed since the new epoch (pessimistic: the
        pending counts rise at once, ``_say``)."""
        epochs = self.epochs
        epochs.forgotten += 1
        # (once per new epoch, signed by the console: no peer can make it repeat) the operator's
        # line, and what a test of a replaced or restored console awaits
        log.warning(
            "the console runs on another database (a new epoch, heard from %s): what it said it "
            "holds is forgotten and judged again",
            node,
        )
        epochs.oldest_learnt = None
        self._console_sv.clear()
        self._reports.clear()
        self.held_closed.clear()
        self.lacking_days.reset()
        self._console_rose += 1
        statements = self.statements
        latest = statements.latest
        statement = None if latest is None else statements.known(latest)
        if statement is None or statement.at < epochs.floor:
            statements.latest = None  # (the old console's: not passed on, no tick stands by it)
            self.ticks.latest = None
        elif statements.strict:
            epochs.learnt(statement.at)
            self._learn_console(node, statement.console, statement.reports)
            self._closed_held(statement.console)
        self._say()
