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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from meshpos.errors import RecordUnusable, RemoteProtocolError
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import clocks_of
from meshpos.model.ledger_types import Shift

#: store meta keys of kept open shifts: this and the shift id
SHIFT_META = "shiftopen/"
SHIFT_META_END = "shiftopen0"  # ("0" follows "/"): the end of the range

_FIELDS = {"date", "register", "user", "at", "opening_cash", "state"}


@dataclass(frozen=True, slots=True)
class KeptShift:
    """An open shift of a closed day: the day it opened on, the day's clocks when kept, the shift."""

    date: str
    clocks: dict[int, int]
    shift: Shift


def key_of(shift_id: str) -> str:
    return SHIFT_META + shift_id


def encode(date: str, shift: Shift, state_vector: bytes) -> str:
    """An open shift of day ``date`` as its meta value (JSON), with the day's state vector."""
    value = {
        "date": date,
        "register": shift.register,
        "user": shift.user,
        "at": shift.opened_at_ms,
        "opening_cash": shift.opening_cash,
        "state": state_vector.hex(),
    }
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def decode(key: str, value: str) -> KeptShift:
    """A meta entry as a kept shift; RecordUnusable naming it if damaged."""
    try:
        shift_id = key[len(SHIFT_META) :]
        raw = json.loads(value)
        if not shift_id or not isinstance(raw, dict) or set(raw) != _FIELDS:
            raise ValueError("unexpected fields")
        texts = ("date", "register", "user", "state")
        if not all(type(raw[n]) is str for n in texts):
            raise ValueError("a text field is not text")
        if type(raw["at"]) is not int or type(raw["opening_cash"]) is not int:
            raise ValueError("a number field is not a whole number")
        clocks = clocks_of(bytes.fromhex(raw["state"]))
        shift = Shift(shift_id, raw["register"], raw["user"], raw["at"], raw["opening_cash"], None)
        return KeptShift(raw["date"], clocks, shift)
    except (ValueError, TypeError, RemoteProtocolError) as exc:
        raise RecordUnusable(f"kept open shift {key!r} in the store is damaged: {exc}") from None


class KeptShifts:
    """The kept open shifts of closed days, by shift id, as the store's meta holds them.

    ``closed_state``: a closed document's state vector as the engine answers for it (None if the day is
    not closed). A damaged entry is not answered here: the node opens its shift's day at start (found
    by ``day_end.shift_key``) and reads the shift there; that day's next close writes it again."""

    def __init__(
        self,
        closed_state: Callable[[str], bytes | None] = lambda name: None,
        entries: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.closed_state = closed_state
        self._shifts: dict[str, KeptShift] = {}
        # (shift id, why) of damaged entries: the node opens their days at start (``node.py``)
        self.damaged: list[tuple[str, RecordUnusable]] = []
        for key, value in entries:
            try:
                kept = decode(key, value)
            except RecordUnusable as exc:
                self.damaged.append((key[len(SHIFT_META) :], exc))
                continue
            self._shifts[kept.shift.id] = kept

    def _closed(self, kept: KeptShift) -> bool:
        return self.closed_state(ledger_name(kept.date)) is not None

    def open_shifts(self) -> list[Shift]:
        """The kept open shifts whose day is closed here now, oldest first."""
        if not self._shifts:
            return []  # (the common case: a last-Z look asks after every commit)
        found = [k for k in self._shifts.values() if self._closed(k)]
        return [k.shift for k in sorted(found, key=lambda k: (k.shift.opened_at_ms, k.shift.id))]

    def day_of(self, shift_id: str) -> str | None:
        """The day ``shift_id`` opened on, if it is kept here and that day is closed now."""
        kept = self._shifts.get(shift_id)
        return kept.date if kept is not None and self._closed(kept) else None

    def days(self) -> set[str]:
        """The days of kept open shifts (never dropped past keep_days: the close goes there)."""
        return {k.date for k in self._shifts.values()}

    def shift(self, shift_id: str) -> Shift | None:
        kept = self._shifts.get(shift_id)
        return kept.shift if kept is not None and self._closed(kept) else None

    def of_day(self, date: str) -> list[str]:
        """The shift ids kept of ``date`` (its next close writes them again or lets them go)."""
        return sorted(s for s, k in self._shifts.items() if k.date == date)

    def entries(self, date: str, shifts: Iterable[Shift], state_vector: bytes) -> dict[str, str]:
        """The meta entries that keep ``shifts`` (open, of day ``date``) made at ``state_vector``."""
        return {key_of(s.id): encode(date, s, state_vector) for s in shifts}

    def put(self, date: str, shifts: Iterable[Shift], state_vector: bytes) -> None:
        """Hold ``shifts`` (once their entries are durable)."""
        clocks = clocks_of(state_vector)
        for s in shifts:
            self._shifts[s.id] = KeptShift(date, clocks, s)

    def forget(self, shift_ids: Iterable[str]) -> None:
        """Let go of these (once the store forgot them)."""
        for shift_id in shift_ids:
            self._shifts.pop(shift_id, None)

    def fresh(self, date: str) -> bool:
        """Was every record of closed day ``date`` made at its close?"""
        state = self.closed_state(ledger_name(date))
        if state is None:
            return True
        now = clocks_of(state)
        return all(k.clocks == now for k in self._shifts.values() if k.date == date)

    def stale(self) -> list[str]:
        """The closed days some record of which is older than their close (opened again at the
        closer's first look, like days of stale parts)."""
        return sorted({k.date for k in self._shifts.values() if not self.fresh(k.date)})
