"""An open shift's own record, kept so the business day it opened on can close while it stays open.

docs/architecture.md (Documents). A shift left open for days kept the day it opened on loaded on every
device until it closed: its record (who opened it, when, the opening cash; its close, once written)
lives in that day's ledger, and the register's every sale asks for its open shift. ~9 MB a day of
1,000 sales, for weeks. Now that day closes like any other past day (``register/days.py``): just
before, each shift still open on it is written durably to the store's meta (``shiftopen/<shift id>``:
its fields, the day, the day's state vector then), and the venue finds an open shift of a closed day
here (``Venue.open_shift``, ``Venue.shift``, ``Venue.open_shifts``). Its figures on that day are a kept
part like any other day's (``model/kept_parts.py``: a shift's own day has a part too).

What writes to the shift's day (its cash moves, "no sale" openings, its close and Z) opens the day
first (``web/shifts.py``: a close is rare); the day closes again by the usual rule, and its next close
writes the records of its shifts still open and lets go of the others. A record is answered while its
day is closed here (a loaded day is read itself); one older than its day's close (a peer's close came as
the day closed) still says the shift is open, the pessimistic answer, and the day is opened again at the
next look (:meth:`KeptShifts.stale`), as for parts.

A device of the version before writes no records and keeps such a day loaded as before; it reads the
shift's day itself, which is unchanged (the record is a copy, the ledger still holds the shift).

**Changed** (ownday, the twenty-first session): new.
**Changed** (reprint, the twenty-second session): a closed shift's record is kept too (``shiftclosed/
<shift id>``: the open record's fields and its close), written when its day closes after the shift
did, so a reprint of the shift (``web/shifts.py``) finds it without loading that day. It is answered
only while true (its day closed, at the state vector it was made at; else the day is loaded, as
before); a damaged one is named and not answered. It goes when its day is dropped past keep_days
(``register/retention.py``). The open record keeps its key and fields: a device of the version before
reads those alone, and no closed record, so it loads the day as it did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from meshpos.errors import RecordUnusable, RemoteProtocolError
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import clocks_of
from meshpos.model.ledger_types import Shift, ShiftClose

#: store meta keys of kept open shifts: this and the shift id
SHIFT_META = "shiftopen/"
SHIFT_META_END = "shiftopen0"  # ("0" follows "/"): the end of the range

#: store meta keys of kept closed shifts (a reprint's): this and the shift id
CLOSED_META = "shiftclosed/"
CLOSED_META_END = "shiftclosed0"

_FIELDS = {"date", "register", "user", "at", "opening_cash", "state"}
_CLOSE_FIELDS = {"closed_by", "closed_at", "counted_cash", "expected_cash", "z"}


@dataclass(frozen=True, slots=True)
class KeptShift:
    """An open shift of a closed day: the day it opened on, the day's clocks when kept, the shift."""

    date: str
    clocks: dict[int, int]
    shift: Shift


def key_of(shift_id: str, *, closed: bool = False) -> str:
    return (CLOSED_META if closed else SHIFT_META) + shift_id


def encode(date: str, shift: Shift, state_vector: bytes) -> str:
    """A shift of day ``date`` as its meta value (JSON), with the day's state vector (a closed one
    with its close too)."""
    value: dict[str, object] = {
        "date": date,
        "register": shift.register,
        "user": shift.user,
        "at": shift.opened_at_ms,
        "opening_cash": shift.opening_cash,
        "state": state_vector.hex(),
    }
    if shift.close is not None:
        c = shift.close
        value.update(
            closed_by=c.user,
            closed_at=c.closed_at_ms,
            counted_cash=c.counted_cash,
            expected_cash=c.expected_cash,
            z=c.z,
        )
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def decode(key: str, value: str) -> KeptShift:
    """A meta entry (open or closed: by its key) as a kept shift; RecordUnusable naming it if damaged."""
    closed = key.startswith(CLOSED_META)
    what = "closed" if closed else "open"
    try:
        shift_id = key[len(CLOSED_META if closed else SHIFT_META) :]
        raw = json.loads(value)
        wanted = _FIELDS | _CLOSE_FIELDS if closed else _FIELDS
        if not shift_id or not isinstance(raw, dict) or set(raw) != wanted:
            raise ValueError("unexpected fields")
        texts = ("date", "register", "user", "state", *(("closed_by",) if closed else ()))
        if not all(type(raw[n]) is str for n in texts):
            raise ValueError("a text field is not text")
        numbers = ("at", "opening_cash", *(("closed_at", "counted_cash", "expected_cash") * closed))
        if not all(type(raw[n]) is int for n in numbers) or (closed and type(raw["z"]) is not bool):
            raise ValueError("a number field is not a whole number")
        clocks = clocks_of(bytes.fromhex(raw["state"]))
        close = None
        if closed:
            close = ShiftClose(
                raw["closed_by"],
                raw["closed_at"],
                raw["counted_cash"],
                raw["expected_cash"],
                raw["z"],
            )
        shift = Shift(shift_id, raw["register"], raw["user"], raw["at"], raw["opening_cash"], close)
        return KeptShift(raw["date"], clocks, shift)
    except (ValueError, TypeError, RemoteProtocolError) as exc:
        raise RecordUnusable(f"kept {what} shift {key!r} in the store is damaged: {exc}") from None


class KeptShifts:
    """The kept shifts of closed days, by shift id, as the store's meta holds them: the open ones
    (answered while their day is closed), and the closed ones (answered while true, for a reprint).

    ``closed_state``: a closed document's state vector as the engine answers for it (None if the day is
    not closed). A damaged open entry is not answered here: the node opens its shift's day at start
    (found by ``day_end.shift_key``) and reads the shift there; that day's next close writes it again.
    A damaged closed one is named (``damaged_closed``) and not answered: a reprint loads its day."""

    def __init__(
        self,
        closed_state: Callable[[str], bytes | None] = lambda name: None,
        entries: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.closed_state = closed_state
        self._shifts: dict[str, KeptShift] = {}
        self._closed: dict[str, KeptShift] = {}
        # (shift id, why) of damaged entries: the node opens their days at start (``node.py``)
        self.damaged: list[tuple[str, RecordUnusable]] = []
        self.damaged_closed: list[tuple[str, RecordUnusable]] = []  # (logged only)
        for key, value in entries:
            closed = key.startswith(CLOSED_META)
            try:
                kept = decode(key, value)
            except RecordUnusable as exc:
                at = CLOSED_META if closed else SHIFT_META
                (self.damaged_closed if closed else self.damaged).append((key[len(at) :], exc))
                continue
            (self._closed if closed else self._shifts)[kept.shift.id] = kept

    def _is_closed(self, kept: KeptShift) -> bool:
        return self.closed_state(ledger_name(kept.date)) is not None

    def _true(self, kept: KeptShift) -> bool:
        state = self.closed_state(ledger_name(kept.date))
        return state is not None and clocks_of(state) == kept.clocks

    def open_shifts(self) -> list[Shift]:
        """The kept open shifts whose day is closed here now, oldest first."""
        if not self._shifts:
            return []  # (the common case: a last-Z look asks after every commit)
        found = [k for k in self._shifts.values() if self._is_closed(k)]
        return [k.shift for k in sorted(found, key=lambda k: (k.shift.opened_at_ms, k.shift.id))]

    def day_of(self, shift_id: str) -> str | None:
        """The day open shift ``shift_id`` opened on, if it is kept here and that day is closed now."""
        kept = self._shifts.get(shift_id)
        return kept.date if kept is not None and self._is_closed(kept) else None

    def days(self) -> set[str]:
        """The days of kept open shifts (never dropped past keep_days: the close goes there)."""
        return {k.date for k in self._shifts.values()}

    def shift(self, shift_id: str) -> Shift | None:
        """A kept open shift of a closed day (even one older than its day's close: "open" is never
        less than the truth), else a kept closed one made at its day's close (a reprint's)."""
        kept = self._shifts.get(shift_id)
        if kept is not None and self._is_closed(kept):
            return kept.shift
        done = self._closed.get(shift_id)
        return done.shift if done is not None and self._true(done) else None

    def spans(self) -> dict[str, tuple[str, Shift]]:
        """Every kept shift (the open records first) by id: (the day it opened on, the shift)."""
        found = {s: (k.date, k.shift) for s, k in self._closed.items()}
        found.update((s, (k.date, k.shift)) for s, k in self._shifts.items())
        return found

    def of_day(self, date: str) -> list[str]:
        """The open shift ids kept of ``date`` (its next close writes them again or lets them go)."""
        return sorted(s for s, k in self._shifts.items() if k.date == date)

    def entries(self, date: str, shifts: Iterable[Shift], state_vector: bytes) -> dict[str, str]:
        """The meta entries that keep ``shifts`` (of day ``date``, open or closed) made at
        ``state_vector``."""
        return {key_of(s.id, closed=not s.is_open): encode(date, s, state_vector) for s in shifts}

    def put(self, date: str, shifts: Iterable[Shift], state_vector: bytes) -> None:
        """Hold ``shifts`` (once their entries are durable)."""
        clocks = clocks_of(state_vector)
        for s in shifts:
            (self._shifts if s.is_open else self._closed)[s.id] = KeptShift(date, clocks, s)

    def forget(self, shift_ids: Iterable[str]) -> None:
        """Let go of these open records (once the store forgot them)."""
        for shift_id in shift_ids:
            self._shifts.pop(shift_id, None)

    def prunable(self, dropped: Callable[[str], bool]) -> list[str]:
        """The meta keys of closed records of dropped days (``dropped``: of its document): no reprint
        is answered for such a shift (``web/shifts.py`` says DayDropped)."""
        return [
            key_of(s, closed=True)
            for s, k in sorted(self._closed.items())
            if dropped(ledger_name(k.date))
        ]

    def forget_closed(self, keys: Iterable[str]) -> None:
        """Let go of the closed records of these meta keys (once the store forgot them)."""
        for key in keys:
            self._closed.pop(key[len(CLOSED_META) :], None)

    def fresh(self, date: str) -> bool:
        """Was every record of closed day ``date`` made at its close?"""
        state = self.closed_state(ledger_name(date))
        if state is None:
            return True
        now = clocks_of(state)
        kept = (*self._shifts.values(), *self._closed.values())
        return all(k.clocks == now for k in kept if k.date == date)

    def stale(self) -> list[str]:
        """The closed days some record of which is older than their close (opened again at the
        closer's first look, like days of stale parts)."""
        kept = (*self._shifts.values(), *self._closed.values())
        return sorted({k.date for k in kept if not self.fresh(k.date)})
