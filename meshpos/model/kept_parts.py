"""A closed business day's part of an open shift's figures, kept so the day can close.

docs/architecture.md (Documents). A shift left open for weeks had its records (sales, payments, refunds
of older receipts) on every day since it opened, and each of those days stayed loaded on every device
until the shift closed (``day_end.what_keeps_open``: its records count in the open drawer): ~9 MB a
day, and the first X, the Z and start-up read them all. Now a day whose only tie is an open drawer
closes as usual (``register/days.py``), and its part of each such shift's figures (:func:`day_parts`)
is written durably just before it closes (store meta ``shiftpart/<shift id>@<date>``, with the day's
state vector at that moment). A shift's X, its Z and its expected cash add the parts of its closed
days (:meth:`KeptParts.of`) to what its loaded days give.

A part is used only while it is true: for a day that is closed now, whose stored state vector (what the
engine answers peers with) is the one the part was made at. A day that is loaded (opened again for a
refund, a reprint, a late peer's record) is read itself and its part ignored; its next close writes the
part again (for every shift that has records on it or had a part of it). A closed day whose part is
older than its close raises :class:`~meshpos.errors.DayClosed` (open it first) rather than add a stale
figure: a report is never more optimistic than the truth. The closer checks right after each close and
opens such a day again (its close raced a change), so this is a window of one close at most.

A part is pruned once no read needs it (:meth:`KeptParts.prunable`, ``register/retention.py``): of a
day dropped past ``keep_days``, of a shift closed, without a refund. Until then it stays (a few hundred
bytes a shift-day): a reprint of a closed shift reads it instead of loading the day (``web/shifts.py``).

A device of the version before (N-1) writes no parts and keeps such days loaded as before; a part
travels with the store (a backup copies its meta), and a cleared cache loads days from peers, which close
again with their parts.

**Changed** (shiftsum, the twentieth session): new; ``DayPart`` moved here from ``shift_report``.
**Changed** (ownday, the twenty-first session): the day a shift opened on closes too while the shift
is open (its record kept: ``model/kept_shifts.py``), with its part like any other day's.
**Changed** (shifts, the twenty-first session): a closing day keeps a part of every open shift opened
before it, with nothing in it when the day holds none of its records (a reprint then need not load the
day: :meth:`KeptParts.holds`); parts no read needs are pruned (:meth:`KeptParts.prunable`); they were
kept for good.
**Changed** (reprint, the twenty-second session): a closing day keeps a part of every shift whose
span covers it, closed ones too (``model/day_keeping.py``): the day a shift closed on, closed after
it, was loaded by every reprint of the shift.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

from meshpos.errors import DayClosed, RecordUnusable, RemoteProtocolError
from meshpos.model.documents import ledger_name
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import NoSale
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.replica import decode_state_vector

#: store meta keys of kept parts: this, the shift id, "@", the business date
PART_META = "shiftpart/"
PART_META_END = "shiftpart0"  # ("0" follows "/"): the end of the range


@dataclass(frozen=True, slots=True)
class DayPart:
    """One ledger day's part of one shift's figures; a report sums its days' parts (``report_of``).

    A part is kept per loaded day while the day does not change (``DayIndex.shift_report``): an X of a
    shift left open for weeks then reads the live day again, not every day since it opened; and per
    closed day in the store (:class:`KeptParts`), so that day can close."""

    receipts: int = 0
    sales: int = 0
    cash_taken: int = 0
    card_taken: int = 0
    refunds: int = 0
    cash_refunds: int = 0
    cash_in: int = 0
    cash_out: int = 0
    no_sales: tuple[NoSale, ...] = ()

    @property
    def cash(self) -> int:
        """What this part adds to the drawer's expected cash."""
        return self.cash_taken + self.cash_in - self.cash_out - self.cash_refunds


NOTHING = DayPart()  # a shift with no record on a day


def day_parts(ledger: Ledger) -> dict[str, DayPart]:
    """``ledger``'s day's part of the figures of every shift that has records on it, in one read."""
    # (a defaultdict: no call per record; a day's part is what an X after a sale reads again)
    got: defaultdict[str, list[int]] = defaultdict(lambda: [0] * 8)
    no_sales: dict[str, list[NoSale]] = {}
    for receipt in ledger.receipts():
        f = got[receipt.shift_id]
        f[0] += 1
        f[1] += receipt.total
    for p in ledger.payments():
        got[p.shift_id][2 if p.method == "cash" else 3] += p.amount + p.tip
    for r in ledger.refunds():
        f = got[r.shift_id]
        f[4] += r.amount
        f[5] += r.amount if r.method == "cash" else 0
    for m in ledger.cash_moves():
        got[m.shift_id][6 if m.kind == "in" else 7] += m.amount
    for n in ledger.records(NO_SALES):
        got[n.shift_id]  # (made: a shift with only "no sale" openings here has a part too)
        no_sales.setdefault(n.shift_id, []).append(n)
    return {
        s: DayPart(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], tuple(no_sales.get(s, ())))
        for s, f in got.items()
    }


def _key(shift_id: str, date: str) -> str:
    return f"{PART_META}{shift_id}@{date}"


def encode(part: DayPart, state_vector: bytes) -> str:
    """A part as its meta value (JSON), with the state vector of the day it was made from."""
    value = asdict(part)
    value["no_sales"] = [asdict(n) for n in part.no_sales]
    value["state"] = state_vector.hex()
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def decode(key: str, value: str) -> tuple[str, str, dict[int, int], DayPart]:
    """(shift id, date, state clocks, part) of a meta entry; RecordUnusable naming it if damaged."""
    try:
        shift_id, _, date = key[len(PART_META) :].rpartition("@")
        raw = json.loads(value)
        state = decode_state_vector(bytes.fromhex(raw.pop("state")))
        sales = tuple(NoSale(**n) for n in raw.pop("no_sales"))
        names = {f.name for f in fields(DayPart)} - {"no_sales"}
        if set(raw) != names or not all(type(raw[n]) is int for n in names) or not shift_id:
            raise ValueError("unexpected fields")
        return shift_id, date, state, DayPart(**raw, no_sales=sales)
    except (ValueError, TypeError, KeyError, AttributeError, RemoteProtocolError) as exc:
        raise RecordUnusable(f"kept shift part {key!r} in the store is damaged: {exc}") from None


def clocks_of(state_vector: bytes) -> dict[int, int]:
    """A state vector's clocks that moved (what a kept record is compared by; ``kept_shifts`` too)."""
    return {c: k for c, k in decode_state_vector(state_vector).items() if k > 0}


class KeptParts:
    """The kept parts of closed days, by shift id and date, as the store's meta holds them.

    ``closed_state``: a closed document's state vector as the engine answers for it (None if the day is
    not closed); ``loaded``: the ledger documents loaded now. Without an engine (a bare venue, tests)
    there are no closed days and no parts."""

    def __init__(
        self,
        closed_state: Callable[[str], bytes | None] = lambda name: None,
        entries: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.closed_state = closed_state
        self._parts: dict[str, dict[str, tuple[dict[int, int], DayPart]]] = {}
        # shift id -> why a part of it is unusable: its figures are not known, so none are given
        self._damaged: dict[str, RecordUnusable] = {}
        for key, value in entries:
            try:
                shift_id, date, state, part = decode(key, value)
            except RecordUnusable as exc:
                self._damaged[key[len(PART_META) :].rpartition("@")[0]] = exc
                continue
            self._parts.setdefault(shift_id, {})[date] = (state, part)

    def shifts_of(self, date: str) -> set[str]:
        """The shifts with a part kept of ``date`` (its next close writes theirs again)."""
        return {s for s, days in self._parts.items() if date in days}

    def closing(
        self, ledger: Ledger, spans: dict[str, tuple[str, str | None]]
    ) -> dict[str, DayPart]:
        """The parts to keep as ``ledger``'s day closes: of each shift of ``spans`` (id -> the day it
        opened on, the business day of its close or None while open) whose span covers the day,
        records or not, of each shift with records on it (a refund of an older receipt), and of
        each shift it had a part of (made again: the day may have changed). A part with nothing in
        it says the day holds nothing of its shift: a reprint of the shift then need not open the
        day (``web/shifts.py``)."""
        date = ledger.date
        spanned = {
            s
            for s, (first, last) in spans.items()
            if first <= date and (last is None or date <= last)
        }
        if not spans and not self.shifts_of(date):
            return {}  # (no shift known: the day's records are not read; ~40 ms at 1,000 sales)
        every = day_parts(ledger)
        wanted = spanned | every.keys() | self.shifts_of(date)
        return {s: every.get(s, NOTHING) for s in wanted}

    def entries(self, date: str, parts: dict[str, DayPart], state_vector: bytes) -> dict[str, str]:
        """The meta entries that keep ``parts`` of day ``date`` made at ``state_vector``."""
        return {_key(s, date): encode(p, state_vector) for s, p in sorted(parts.items())}

    def put(self, date: str, parts: dict[str, DayPart], state_vector: bytes) -> None:
        """Hold ``parts`` (once their entries are durable)."""
        clocks = clocks_of(state_vector)
        for shift_id, part in parts.items():
            self._parts.setdefault(shift_id, {})[date] = (clocks, part)

    def fresh(self, date: str) -> bool:
        """Is every part of closed day ``date`` the one made at its close?"""
        state = self.closed_state(ledger_name(date))
        if state is None:
            return True
        now = clocks_of(state)
        return all(days[date][0] == now for days in self._parts.values() if date in days)

    def holds(self, shift_id: str, date: str) -> bool:
        """Is ``shift_id``'s part of closed day ``date`` kept and true (made at the day's close)? A
        reprint reads it instead of opening the day (``web/shifts.py``)."""
        kept = self._parts.get(shift_id, {}).get(date)
        state = self.closed_state(ledger_name(date))
        return (
            shift_id not in self._damaged
            and kept is not None
            and state is not None
            and clocks_of(state) == kept[0]
        )

    def prunable(
        self,
        open_shifts: set[str],
        dropped: Callable[[str], bool],
        gone: Callable[[str], bool] = lambda shift_id: False,
    ) -> list[str]:
        """The meta keys of parts no read needs: of a dropped day (``dropped``: of its document) and
        a shift not in ``open_shifts``, with no refund in it. A closed shift's report that would read
        such a part is refused anyway (its span holds a dropped day: ``web/shifts.py`` says
        DayDropped), while a part with a refund may be of a day before its shift's first (a refund
        of an older receipt), which its report adds without loading: it is kept, until the day the
        shift opened on is known dropped too (``gone``: its report is refused then). An open shift's
        X and expected cash add every part of it, dropped days' too."""
        return [
            _key(shift_id, date)
            for shift_id, days in sorted(self._parts.items())
            if shift_id not in open_shifts
            for date, (_, part) in sorted(days.items())
            if (part.refunds == 0 or gone(shift_id)) and dropped(ledger_name(date))
        ]

    def forget(self, keys: Iterable[str]) -> None:
        """Let go of the parts of these meta keys (once the store forgot them)."""
        for key in keys:
            shift_id, _, date = key[len(PART_META) :].rpartition("@")
            days = self._parts.get(shift_id, {})
            days.pop(date, None)
            if not days:
                self._parts.pop(shift_id, None)

    def stale(self) -> list[str]:
        """The closed days some part of which is older than their close: a change came as the day
        closed and the node stopped before it opened the day again (``register/days`` opens them at
        start; until then every X of their shifts says DayClosed)."""
        dates = {date for days in self._parts.values() for date in days}
        return sorted(date for date in dates if not self.fresh(date))

    def of(self, shift_id: str, loaded: Iterable[str]) -> list[DayPart]:
        """``shift_id``'s parts of the days closed now (a loaded day is read itself, not its part);
        DayClosed for a closed day whose part is older than its close, RecordUnusable for a damaged one."""
        damaged = self._damaged.get(shift_id)
        if damaged is not None:
            raise damaged
        held = set(loaded)
        found = []
        for date, (clocks, part) in sorted(self._parts.get(shift_id, {}).items()):
            name = ledger_name(date)
            if name in held:
                continue
            state = self.closed_state(name)
            if state is None:
                continue  # neither loaded nor closed: not on this device (yet)
            if clocks_of(state) != clocks:
                raise DayClosed(name, date)
            found.append(part)
        return found
