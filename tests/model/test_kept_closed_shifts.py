"""A reprint of a closed shift reads kept records and parts alone, and they are the whole read's (the
twenty-second session, part reprint).

Random work over days as in tests/model/test_kept_shift_day.py, with shifts closing (after a cash move, a
"no sale", a refund of an older receipt) and new ones opening on both registers, past days closed by the
closer's rule (``model/day_keeping.py``), a peer's late records and restarts. After each step every
closed shift of the whole read is reprinted as ``web/shifts.py`` does: it needs no day loaded (its
record is kept or on a loaded day; every closed day of its span has a true part) and its report is the
whole read's. On 8ab35f3 a closed shift's record was let go as its day closed and a day closed after its
shift kept no part of it (``test_on_8ab35f3_a_reprint_loaded_days``).
"""

from __future__ import annotations

import random

import pytest

from meshpos.errors import UnknownRecord
from meshpos.model import Shift, Venue
from meshpos.model.day_index import DayIndex
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import DayPart, KeptParts
from meshpos.model.kept_shifts import CLOSED_META, KeptShifts, encode
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, sync
from .test_kept_shift_day import _OwnDayCloser
from .test_shift_parts import DAY_MS, _as_on_main, _register


def _work(
    rng: random.Random, v: Venue, c: _OwnDayCloser | None, at: int, sold: list[tuple[str, str]]
) -> None:
    kind = rng.choice(["sale", "sale", "sale", "refund", "move", "no_sale", "close"])
    if kind in ("move", "no_sale", "close") and c is not None:
        c.load_shift_day()  # (web/shifts.py: their records go to the shift's own day)
    if kind == "refund" and sold:
        receipt_id, date = rng.choice(sold)
        if c is not None and ledger_name(date) in c.stored:
            c.reopen(date)  # its day loads on demand (``open_day_of``)
        receipt = v.receipt(receipt_id)
        if not v.refunded_quantities(receipt.id):
            v.refund(MANAGER, receipt.id, at, lines={receipt.lines[0].line_id: 1}, reason="x")
    elif kind == "move":
        v.cash_move(CASHIER, "in", rng.randrange(1, 900), "float", at)
    elif kind == "no_sale":
        v.no_sale(CASHIER, "change", at)
    elif kind == "close":
        shift = v.open_shift()
        assert shift is not None
        v.close_shift(CASHIER, rng.randrange(10_000), at, z=rng.random() < 0.5)
        v.open_shift_now(CASHIER, 1_000, at + 1)
    else:
        order = v.open_order(CASHIER, at)
        v.add_line(CASHIER, order.id, rng.choice(["espresso", "croissant"]), 1, at)
        result = v.pay(CASHIER, order.id, rng.choice(["cash", "card"]), at)
        assert result.receipt is not None
        sold.append((result.receipt.id, v.business_date(at)))


def _loads(r1: Venue, c: _OwnDayCloser, shift_id: str) -> tuple[Shift | None, list[str]]:
    """What a reprint of ``shift_id`` would load (``web/shifts.py``), and the shift if it needs none."""
    try:
        shift = r1.shift(shift_id)
    except UnknownRecord:
        return None, ["its own day"]
    assert shift.close is not None
    first, last = r1.business_date(shift.opened_at_ms), r1.business_date(shift.close.closed_at_ms)
    closed = sorted(name[len("ledger/") :] for name in c.stored)
    return shift, [d for d in closed if first <= d <= last and not r1.kept_parts.holds(shift_id, d)]


def _check(r1: Venue, c: _OwnDayCloser, index: DayIndex) -> int:
    """Every closed shift's reprint loads nothing and is the whole read's; how many read kept
    things (a closed day in their span, or their record kept)."""
    whole = c.whole()
    kept = 0
    for truth in (s for d in whole.ledgers() for s in d.shifts() if s.close is not None):
        shift, loads = _loads(r1, c, truth.id)
        assert loads == [], f"a reprint of {truth.id} loads {loads}"
        assert shift == truth
        assert index.shift_report(shift) == _as_on_main(whole, shift)
        kept += ledger_name(r1.business_date(shift.opened_at_ms)) in c.stored
    return kept


@pytest.mark.parametrize("seed", range(6))
def test_every_closed_shift_reprints_from_kept_records_alone(seed: int) -> None:
    rng = random.Random(seed)
    r1 = _register("R1")
    r2 = _register("R2", catalog_from=r1.replica)
    closer = _OwnDayCloser(r1)
    index = DayIndex(r1)
    sold: dict[str, list[tuple[str, str]]] = {"R1": [], "R2": []}
    kept = 0
    for day in range(8):
        for step in range(10):
            v = rng.choice([r1, r2])
            at = NOW + day * DAY_MS + step * 60_000
            _work(rng, v, closer if v is r1 else None, at, sold[v.device])
            if rng.random() < 0.2:  # a peer's late records: r1 loads its closed days for them
                for name in list(closer.stored):
                    closer.reopen(name[len("ledger/") :])
                sync(r1.replica, r2.replica)
            today = r1.business_date(at)
            past = [ledger.date for ledger in r1.ledgers() if ledger.date < today]
            if past and rng.random() < 0.6:
                closer.close(rng.choice(past))
            kept += _check(r1, closer, index)
        if rng.random() < 0.5:
            closer.restart()
            kept += _check(r1, closer, index)
    at = NOW + 8 * DAY_MS
    for name in list(closer.stored):
        closer.reopen(name[len("ledger/") :])
    sync(r1.replica, r2.replica)
    for ledger in [d for d in r1.ledgers() if d.date < r1.business_date(at)]:
        closer.close(ledger.date)
    closer.restart()
    kept += _check(r1, closer, index)
    assert kept > 20  # (reprints that read a kept record: the test can fail)


def _closed_shift_day() -> tuple[Venue, _OwnDayCloser, Shift, str]:
    """R1's shift closed on its own day, that day closed (its record kept), then reprinted."""
    r1 = _register("R1")
    closer = _OwnDayCloser(r1)
    at = NOW + 60_000
    r1.close_shift(CASHIER, 5_000, at)
    shift = r1.shift(r1.ledgers()[0].shifts()[0].id)
    r1.open_shift_now(CASHIER, 0, NOW + DAY_MS)  # (the next day: the first is past)
    date = r1.business_date(NOW)
    closer.close(date)
    return r1, closer, shift, date


def test_on_8ab35f3_a_reprint_loaded_days() -> None:
    """Without the closed record (what 8ab35f3 kept) the shift is unknown until its day loads."""
    r1, closer, shift, _ = _closed_shift_day()
    assert r1.shift(shift.id) == shift
    assert _loads(r1, closer, shift.id)[1] == []
    r1.kept_shifts = KeptShifts(closer.states.get)  # no closed record
    assert _loads(r1, closer, shift.id) == (None, ["its own day"])


def test_a_damaged_or_stale_closed_record_is_named_and_the_day_loaded() -> None:
    r1, closer, shift, date = _closed_shift_day()
    key = CLOSED_META + shift.id
    assert key in closer.meta
    shifts = {k: v for k, v in closer.meta.items() if k.startswith(("shiftopen/", CLOSED_META))}
    damaged = {**shifts, key: '{"date": 3}'}
    kept = KeptShifts(closer.states.get, damaged.items())
    assert [i for i, _ in kept.damaged_closed] == [shift.id]
    assert "kept closed shift" in kept.damaged_closed[0][1].message
    assert kept.shift(shift.id) is None  # not answered: a reprint loads the day
    assert not kept.damaged
    name = ledger_name(date)
    state = closer.states[name]
    other = {**shifts, key: encode(date, shift, b"\x00")}  # made at another state of the day
    kept = KeptShifts(closer.states.get, other.items())
    assert kept.shift(shift.id) is None
    assert kept.stale() == [date]  # (the closer opens it again at its first look)
    r1.kept_shifts = kept
    r1.kept_parts = KeptParts(closer.states.get, closer.meta.items())
    assert _loads(r1, closer, shift.id) == (None, ["its own day"])
    assert closer.states[name] == state
    closer.restart()
    assert _loads(r1, closer, shift.id)[1] == []


def test_a_dropped_days_closed_records_and_refund_parts_are_pruned() -> None:
    """``register/retention.py``: a closed record goes with its dropped day, and a part with a
    refund goes once its shift's own day is dropped (its reprint is refused); not before."""
    r1, closer, shift, date = _closed_shift_day()
    kept = KeptShifts(closer.states.get, closer.meta.items())
    dropped: set[str] = set()
    assert kept.prunable(dropped.__contains__) == []
    dropped.add(ledger_name(date))
    assert kept.prunable(dropped.__contains__) == [CLOSED_META + shift.id]
    kept.forget_closed([CLOSED_META + shift.id])
    assert kept.shift(shift.id) is None
    parts = KeptParts(closer.states.get)
    refund = DayPart(refunds=100)
    earlier = r1.business_date(NOW - DAY_MS)
    parts.put(earlier, {shift.id: refund}, b"\x00")
    dropped = {ledger_name(earlier)}
    assert parts.prunable(set(), dropped.__contains__) == []  # (its shift's day is kept)
    key = f"shiftpart/{shift.id}@{earlier}"
    assert parts.prunable(set(), dropped.__contains__, lambda s: s == shift.id) == [key]
