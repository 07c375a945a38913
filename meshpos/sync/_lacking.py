"""Closed days of this register that the console it reaches lacks (the twenty-second session, part
``newconsole``).

docs/architecture.md (Documents). A register closes a business day once the console holds all of it,
and a closed day is offered again only to a node that asks for it. A console that lost its database
(a new ``console.db``, or one restored from an older backup) does not know those days exist, so it
never asks, and the register said "All data is synced" while the console's reports lacked them.

**Changed** (issue 18, newconsole): a strict register judges each signed statement it takes
(``_tick.Ticking._take_signed``) against its own closed days. The statement names the console's open
documents and, at most every ``2 * anti_entropy_interval``, the latest ``STATED_CLOSED_DAYS``
business days it closed (``_closed_said``). A closed day D of this register is **lacking** when the
statement names D with clocks that do not cover D's closed summary, or names D nowhere although a
console holding D would have to: fewer than ``STATED_CLOSED_DAYS`` of the business days it names are
newer than D (a console holding D closed and not stating it states that many newer closed days). A
day a signed statement covered since this process started is **confirmed**, and a day older than
the ``STATED_CLOSED_DAYS``-th newest day a statement named is **unstated** (from that statement on:
the console may hold it closed); only a statement naming such a day with lower clocks makes it
lacking (a statement without the closed part says nothing of it: while sales flow, most do not). A lacking day counts in the status at once ("not at the console": never more optimistic than
the signed word), and ``register/retention.py`` opens it again once it stayed lacking for
:data:`LACKING_FOR` anti-entropy periods (a statement with the closed part comes within two), oldest
first, a few a look: open, it syncs to the console and shows pending until the console's signed word
covers it; then ``DayCloser`` closes it again, on signed word.

False positives (cost only: a day loaded, synced with nothing to send, shown pending until covered):
right after a start or a reconnection while sales flow, the statement may lack the closed part, so
the register shows its recent closed days pending until one with it comes (within ~2 anti-entropy
periods; a day is opened again only when a statement taken at least two periods after the first
still says it lacks it, ``LACKING_FOR`` periods on); a statement whose closed
part was cut by ``STATED_CLOSED_CHARS`` (hundreds of client ids a day) leaves an older held day
lacking: it is opened again, and since the console, holding it closed, never states it again, it
stays open and pending here (pessimistic, never optimistic). A console that holds an old day *open*
names it, and is judged on its clocks. False negatives: a day this register dropped
(``keep_days``) cannot be sent again (only a console backup has it); a console restored from a
backup while this register keeps running, after a statement confirmed a day, is not noticed until
the register restarts (its statements name the day nowhere, which does not unconfirm it).
**Changed** (the twenty-third session, epoch): a console on a *new* database is noticed at once: its
signed epoch changed, and the node forgets what the old console said and judges again (``_epoch``,
:meth:`LackingDays.reset`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from meshpos.model.documents import day_of, valid_document_name
from meshpos.sync._closed import _ClosedDoc, _covers
from meshpos.sync._closed_said import STATED_CLOSED_DAYS

#: anti-entropy periods a closed day stays lacking before it is opened again (the console states its
#: closed days at most every two: one without them is no evidence)
LACKING_FOR = 4


class LackingDays:
    """What the console's signed statements said of this register's closed days, in this process."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Nothing said yet (a console on a new database, ``_epoch``: what the old one said is
        no evidence of what the new one holds)."""
        self.confirmed: set[str] = set()  # closed documents a signed statement covered
        self.lacking: dict[str, float] = {}  # closed document -> when first judged lacking
        self.affirmed: dict[str, float] = {}  # closed document -> when last judged lacking
        #: the newest day older than which the console may hold days it does not state
        self.unstated = ""
        #: ``moved`` as of the last look, and the closed documents not dropped, not older than
        #: ``unstated``: the ones a statement that does not name them may find lacking
        self._questioned: tuple[int, list[str]] | None = None

    def judge(
        self,
        console: Mapping[str, dict[int, int]],
        closed: Mapping[str, _ClosedDoc],
        moved: int,
        now: float,
    ) -> bool:
        """Judge the closed documents not dropped (``moved``: moves whenever ``closed`` does)
        against one signed statement's ``console``; True when the lacking ones changed. Only the
        documents it names and those in question are looked at (a register keeps ~124 closed
        documents at the default ``keep_days``, and takes a statement a beat while sales flow)."""
        newest = sorted(
            {day_of(name) for name in console if valid_document_name(name)}, reverse=True
        )
        # a day older than this may be held closed and unstated (STATED_CLOSED_DAYS newer named),
        # from the first statement that showed so on (a later one may lack the closed part)
        if len(newest) >= STATED_CLOSED_DAYS and newest[STATED_CLOSED_DAYS - 1] > self.unstated:
            self.unstated = newest[STATED_CLOSED_DAYS - 1]
            self._questioned = None
        changed = False
        if self._questioned is None or self._questioned[0] != moved:
            gone = [n for n in self.lacking if n not in closed or day_of(n) < self.unstated]
            self.forget(gone)
            self.confirmed &= closed.keys()
            changed = bool(gone)
            self._questioned = (
                moved,
                [
                    name
                    for name, doc in closed.items()
                    if not doc.dropped and day_of(name) >= self.unstated
                ],
            )
        for name in console.keys() & closed.keys():
            doc = closed[name]
            if doc.dropped:
                continue  # (its content is gone: nothing to send again)
            if _covers(console[name], doc.clocks):
                self.confirmed.add(name)
                changed = self._taken_back(name) or changed
            else:  # it names the day with less than this register closed
                self.confirmed.discard(name)
                changed = self._lacks(name, now) or changed
        for name in self._questioned[1]:
            if name not in self.confirmed and name not in console:
                changed = self._lacks(name, now) or changed
        return changed

    def _lacks(self, name: str, now: float) -> bool:
        self.affirmed[name] = now
        if name in self.lacking:
            return False
        self.lacking[name] = now
        return True

    def affirm(self, now: float) -> None:
        """The console stands by the statement that said they lack (its tick, ``_tick``: it signs
        a tick only when its closed part is not due, so that statement has it or it has none)."""
        for name in self.lacking:
            self.affirmed[name] = now

    def _taken_back(self, name: str) -> bool:
        self.affirmed.pop(name, None)
        return self.lacking.pop(name, None) is not None

    def forget(self, names: Iterable[str]) -> None:
        """``names`` are no longer closed here (opened again, dropped): nothing is judged of them."""
        for name in names:
            self.lacking.pop(name, None)
            self.affirmed.pop(name, None)
            self.confirmed.discard(name)

    def due(self, now: float, period: float) -> list[str]:
        """The lacking documents judged so for ``LACKING_FOR`` periods, by a statement (or a tick
        standing by one) taken at least two periods after the first (the console states its closed
        days at most every two: between them one with the closed part would have come), oldest day
        first. A node that
        takes no statement (its link is down) finds nothing due."""
        return sorted(
            (
                n
                for n, since in self.lacking.items()
                if now - since >= LACKING_FOR * period
                and self.affirmed.get(n, since) - since >= 2 * period
            ),
            key=lambda n: (day_of(n), n),
        )
