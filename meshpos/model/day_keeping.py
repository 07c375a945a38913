"""What a closing business day leaves in the store's meta: its parts of shifts and its shifts' records.

docs/architecture.md (Documents). The closer (``register/days.py``) writes these durably just before a day
closes, so a read of a shift need not load the day: the parts (``model/kept_parts.py``) of every shift
whose span covers the day, and the records (``model/kept_shifts.py``) of the day's own shifts. One rule,
here, for the node, the model's tests and the long-shift bench.

**Changed** (reprint, the twenty-second session): new, from ``register/days.py``. A closed shift whose
span (from the day it opened on to the business day of its close) covers the day has a part of it too,
and a closed shift of the day has its record kept (it was let go): a reprint of a closed shift loaded
its own day and any day of its span that closed after the shift did; it loads none now.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from meshpos.model.kept_parts import DayPart
from meshpos.model.kept_shifts import key_of
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import Shift
from meshpos.model.venue_base import VenueBase

DAY_MS = 86_400_000
#: a close this long before a day's UTC midnight cannot be on that business day or after (a zone is
#: at most 14 h ahead, a cut-off at most 23 h late): its business date is not worked out
_CLOSE_SLACK_MS = 2 * DAY_MS


@dataclass(frozen=True, slots=True)
class Keeping:
    """What day ``date`` keeps as it closes: the meta entries to write (``meta``), then hold
    (``parts``, ``shifts``), and the open records to let go after (``gone``: shifts closed since)."""

    date: str
    meta: dict[str, str]
    parts: dict[str, DayPart]
    shifts: list[Shift]
    gone: list[str]


def spans(venue: VenueBase, date: str) -> dict[str, tuple[str, str | None]]:
    """The shifts this device knows that may cover ``date``: id -> (the day each opened on, the
    business day of its close, None while open). Of the loaded days and the kept records; a closed
    one whose close is well before ``date`` is left out (its span ends before)."""
    found: dict[str, tuple[str, Shift]] = dict(venue.kept_shifts.spans())
    found.update((s.id, (d.date, s)) for d in venue.ledgers() for s in d.shifts())
    since = int(
        datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.UTC).timestamp() * 1000
    )
    got: dict[str, tuple[str, str | None]] = {}
    for shift_id, (first, shift) in found.items():
        if shift.close is None:
            got[shift_id] = (first, None)
        elif first <= date and shift.close.closed_at_ms >= since - _CLOSE_SLACK_MS:
            got[shift_id] = (first, venue.business_date(shift.close.closed_at_ms))
    return got


def keeping(venue: VenueBase, ledger: Ledger, state_vector: bytes) -> Keeping:
    """What ``ledger``'s day keeps as it closes at ``state_vector`` (``register/days.py``)."""
    date = ledger.date
    parts = venue.kept_parts.closing(ledger, spans(venue, date))
    own = ledger.shifts()
    meta = venue.kept_parts.entries(date, parts, state_vector)
    meta.update(venue.kept_shifts.entries(date, own, state_vector))
    still = {s.id for s in own if s.is_open}
    gone = [key_of(s) for s in venue.kept_shifts.of_day(date) if s not in still]
    return Keeping(date, meta, parts, own, gone)


def held(venue: VenueBase, keep: Keeping, state_vector: bytes) -> None:
    """Hold what ``keep`` wrote (once its entries are durable)."""
    venue.kept_parts.put(keep.date, keep.parts, state_vector)
    venue.kept_shifts.put(keep.date, keep.shifts, state_vector)
