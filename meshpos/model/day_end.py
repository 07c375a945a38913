"""The end of a business day: what keeps a day open, and a manager's early end of it.

docs/architecture.md (Documents). A business day's documents close (unload) once the day is past, nothing
of it is still open and the console holds all of it (``meshpos.register.days``). "Nothing of it is still
open", in the venue's words, is :func:`what_keeps_open`: a shift of the day not closed, an order of the day
neither paid nor voided, or a record of the day that counts in a drawer still open (a refund of an old
receipt is written to the receipt's own day, on today's shift: its day stays loaded until that shift
closes, so the drawer's expected cash never loses it).

**Changed** (shiftsum, the twentieth session): the day closer asks without the open drawers: a day whose
only tie is an open shift's records closes with its part of that shift's figures kept
(``model/kept_parts.py``); ending a day early still names them.

A manager may end today's business day early (``Venue.end_day``): the day is marked ended in the always
open ``stoplist`` document (map ``ended_days``: day -> who ended it, when, on which register), which
every device syncs, so every register's next sale goes to the next business day
(:func:`next_open_day`), and the ended day closes by the usual rule once the console holds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from pycrdt import Doc, Map

from meshpos.model._map_reads import holds
from meshpos.model._records import decoded
from meshpos.model._writes import put
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_kept import watched
from meshpos.model.ledger_types import Shift
from meshpos.model.numbering import format_number
from meshpos.model.records import ORDERS, SHIFTS

ENDED_MAP = "ended_days"  # in the stoplist document: business day -> who ended it early
MAX_ENDED_AHEAD = 31  # days skipped at most: a peer's junk marks cannot push sales further


class DayEnds:
    """The business days a manager ended early, as the ``stoplist`` document records them."""

    def __init__(self, doc: Doc[Any]) -> None:
        self._doc = doc
        self._ended: Map[Any] = doc.get(ENDED_MAP, type=Map)

    def ended(self, date: str) -> bool:
        return holds(self._ended, date)

    def kept(self) -> dict[str, Any] | None:
        """A dict for what a reader keeps of the days ended early, emptied whenever one is
        (``ledger_kept.watched``; None inside a transaction): the status keeps the business day
        in it (issue 18, receiver; the stop list's other roots change with every sale)."""
        return watched(self._doc, "days ended", (self._ended,))

    def end(self, date: str, *, user: str, device: str, now_ms: int) -> None:
        put(
            self._ended,
            date,
            {"user": user, "register": device, "at": now_ms},
            f"{ENDED_MAP}/{date}",
        )

    def days(self) -> list[str]:
        return sorted(self._ended.keys())

    def who(self, date: str) -> dict[str, Any] | None:
        found = decoded(self._ended.get(date))
        return found if isinstance(found, dict) else None


def next_day(date: str) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


def next_open_day(date: str, ended: Callable[[str], bool]) -> str:
    """``date``, or the first day after it not ended early (what a sale at that moment belongs to)."""
    for _ in range(MAX_ENDED_AHEAD):
        if not ended(date):
            return date
        date = next_day(date)
    return date


#: a closed day's key for a shift opened on it is this and its id (receipt ids and numbers have no "/")
SHIFT_KEY = "shift/"


def shift_key(shift_id: str) -> str:
    """The key a closed day is found by for a shift opened on it (``day_keys``)."""
    return SHIFT_KEY + shift_id


def records_key(shift_id: str, date: str) -> str:
    """The key a closed day ``date`` is found by for a shift opened on another day whose refunds it
    holds (``day_keys``): a refund of an older receipt is written to that receipt's day. A key finds
    one day, so the date is part of it: a report asks each closed day before the shift's own
    (``web/shifts``)."""
    return f"{SHIFT_KEY}{shift_id}@{date}"


def day_keys(ledger: Ledger) -> list[str]:
    """What finds a closed day again (``Engine.close_day``'s keys): its receipts' ids and numbers, the
    shifts opened on it (an X or Z report of an old shift loads its day), and the shifts opened on
    other days whose refunds it holds (their reports load it too: ``records_key``).

    **Changed** (outside, sixth round; the twentieth session): without the last, a reprinted X or Z
    lost its refunds of older receipts once their day closed (tests/outside/test_old_refund_in_z.py).
    Cash moves and "no sale" openings are written to the shift's own day, so they need no key. Left
    out on purpose: a payment of an order opened on an earlier day by a shift opened later (another
    register paying it) is on the order's day too, but finding those parses every payment of the day
    (~140 ms on the event loop at a close of 1,000 receipts, against ~20 ms now); refunds are few."""
    keys = ledger.receipt_ids()
    own = ledger.record_ids(SHIFTS)
    keys += [shift_key(shift_id) for shift_id in own]
    others = {r.shift_id for r in ledger.refunds()}
    keys += [records_key(shift_id, ledger.date) for shift_id in sorted(others - set(own))]
    return keys + [format_number(series, seq) for series, seq in ledger.issued_numbers()]


def _clock(ms: int, zone: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).strftime("%H:%M")


def what_keeps_open(
    ledger: Ledger,
    open_shifts: Iterable[Shift],
    name_of: Callable[[str], str],
    zone: dt.tzinfo,
    *,
    own_shifts: bool = True,
) -> list[str]:
    """Why ``ledger``'s day cannot end or close, each reason in the venue's words (empty: nothing).

    ``open_shifts``: every shift still open on any loaded day (a record of this day on one of them keeps
    the day); ``name_of``: a user's name from their id; ``zone``: the venue's time zone (a shift's
    opening time is read on the venue's clocks, not in UTC); ``own_shifts``: whether a shift opened on
    the day and still open keeps it (**changed**, ownday, the twenty-first session: the closer asks
    without them, and keeps their records, ``model/kept_shifts.py``; ending a day still names them)."""
    reasons = [
        f"the shift of {name_of(s.user)} on {s.register} (opened {_clock(s.opened_at_ms, zone)}) is open"
        for s in sorted(ledger.shifts(), key=lambda s: (s.opened_at_ms, s.id))
        if s.is_open and own_shifts
    ]
    unsettled = [i for i in ledger.order_ids() if not ledger.settled(i)]
    orders = [o for o in ledger.records_of(ORDERS, sorted(unsettled)) if o.status == "open"]
    for order in sorted(orders, key=ORDERS.sort):
        reasons.append(f"{order.words} on {order.register} is open")
    own = {s.id for s in ledger.shifts()}
    drawers = {s.id: s for s in open_shifts if s.is_open and s.id not in own}
    if not drawers:
        return reasons
    counted = (
        {r.shift_id for r in ledger.refunds()}
        | {m.shift_id for m in ledger.cash_moves()}
        | {p.shift_id for p in ledger.payments()}
    )
    for shift_id in sorted(counted & drawers.keys()):
        s = drawers[shift_id]
        reasons.append(
            f"its payments, refunds or cash moves count in the open shift of {name_of(s.user)} "
            f"on {s.register}"
        )
    return reasons
