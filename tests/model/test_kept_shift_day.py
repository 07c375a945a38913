"""The day a shift opened on closes while the shift stays open (the twenty-first session, part ownday):
its record is kept beside the parts (``model/kept_shifts.py``), and the register's open shift, its X,
its Z and its expected cash stay exactly what the whole read of every day gives.

Random work over days as in tests/model/test_kept_parts.py, but the closer closes a past day whatever
shift of it is open (as ``register/days.py`` now does), keeping the records of its open shifts; a write
to the shift's own day (a cash move, a "no sale", the Z) loads it first, as ``web/shifts.py`` does. After
each step the kept reads equal the whole read, and the venue's open shifts (the register's own, the
peer's, ``Venue.open_shifts``, a last Z's look) equal the whole read's. On main the closer cannot close
the shift's own day and nothing answers the shift once it is closed
(``test_a_closed_shift_day_without_a_kept_record_loses_the_shift``)."""

from __future__ import annotations

import random

import pytest

from meshpos.model import Venue
from meshpos.model.day_end import what_keeps_open
from meshpos.model.day_index import DayIndex
from meshpos.model.day_keeping import held, keeping
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import KeptParts
from meshpos.model.kept_shifts import SHIFT_META, KeptShifts, encode
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.model.shift_report import a_shift_is_open, close_with_z, shift_overdue

from .conftest import NOW, sync
from .test_kept_parts import _Closer
from .test_shift_parts import DAY_MS, _as_on_main, _register


class _OwnDayCloser(_Closer):
    """:class:`_Closer` as the closer now is: a day with an open shift of its own closes too, the
    records of its open shifts written with its parts (and those of shifts closed since let go)."""

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        venue.kept_shifts = KeptShifts(self.states.get)

    def close(self, date: str) -> None:
        v, name = self.venue, ledger_name(date)
        ledger = v.ledger(date)
        assert not what_keeps_open(ledger, (), v.user_name, v.zone(), own_shifts=False)
        doc = v.replica.doc(name)
        state = doc.get_state()
        keep = keeping(v, ledger, state)  # (the closer's rule: register/days.py)
        self.meta.update(keep.meta)
        held(v, keep, state)
        for key in keep.gone:
            del self.meta[key]
        v.kept_shifts.forget(key[len(SHIFT_META) :] for key in keep.gone)
        self.stored[name], self.states[name] = doc.get_update(), state
        del ledger, doc
        v.forget_day(date)
        v.replica.close(name)

    def restart(self) -> None:
        self.venue.kept_parts = KeptParts(self.states.get, self.meta.items())
        self.venue.kept_shifts = KeptShifts(self.states.get, self.meta.items())

    def load_shift_day(self) -> None:
        """What ``web/shifts.py`` does before a write to the register's shift's own day."""
        shift = self.venue.open_shift()
        date = self.venue.kept_shifts.day_of(shift.id) if shift else None
        if date is not None:
            self.reopen(date)


def _work(
    rng: random.Random, v: Venue, c: _OwnDayCloser | None, day: int, sold: list[tuple[str, str]]
) -> None:
    at = NOW + day * DAY_MS + rng.randrange(3_600_000)
    kind = rng.choice(["sale", "sale", "sale", "refund", "move", "no_sale"])
    if kind in ("move", "no_sale") and c is not None:
        c.load_shift_day()
    if kind == "refund" and sold:
        receipt_id, date = rng.choice(sold)
        if c is not None and ledger_name(date) in c.stored:
            c.reopen(date)
        receipt = v.receipt(receipt_id)
        if not v.refunded_quantities(receipt.id):
            v.refund(MANAGER, receipt.id, at, lines={receipt.lines[0].line_id: 1}, reason="x")
    elif kind == "move":
        v.cash_move(CASHIER, rng.choice(["in", "out"]), rng.randrange(1, 900), "float", at)
    elif kind == "no_sale":
        v.no_sale(CASHIER, "change", at)
    else:
        order = v.open_order(CASHIER, at)
        v.add_line(CASHIER, order.id, rng.choice(["espresso", "croissant"]), 1, at)
        result = v.pay(CASHIER, order.id, rng.choice(["cash", "card"]), at)
        assert result.receipt is not None
        sold.append((result.receipt.id, v.business_date(at)))


def _check(r1: Venue, c: _OwnDayCloser, index: DayIndex, rng: random.Random) -> None:
    whole = c.whole()
    for device in ("R1", "R2"):
        truth_shift = whole.open_shift(device)
        assert r1.open_shift(device) == truth_shift
        if truth_shift is None:
            continue
        shift = r1.shift(truth_shift.id)
        assert shift == truth_shift
        blind = rng.random() < 0.2
        truth = _as_on_main(whole, shift, blind=blind)
        assert index.shift_report(shift, blind=blind) == truth
        expected = _as_on_main(whole, shift).drawer_expected
        assert r1.expected_cash(shift) == index.expected_cash(shift) == expected
    assert index.open_shift() == whole.open_shift("R1")
    assert {s.id for s in r1.open_shifts()} == {s.id for s in whole.open_shifts()}
    assert a_shift_is_open(r1) == a_shift_is_open(whole)


@pytest.mark.parametrize("seed", range(6))
def test_the_shift_day_closes_and_every_read_is_the_whole_read(seed: int) -> None:
    rng = random.Random(seed)
    r1 = _register("R1")
    r2 = _register("R2", catalog_from=r1.replica)
    closer = _OwnDayCloser(r1)
    index = DayIndex(r1)
    sold: dict[str, list[tuple[str, str]]] = {"R1": [], "R2": []}
    own_closed = 0  # reads made while the register's shift's own day was closed
    first = r1.business_date(NOW)
    for day in range(6):
        for _ in range(10):
            v = rng.choice([r1, r2])
            _work(rng, v, closer if v is r1 else None, day, sold[v.device])
            if rng.random() < 0.25:  # a peer's late records: r1 loads its closed days for them
                for name in list(closer.stored):
                    closer.reopen(name[len("ledger/") :])
                sync(r1.replica, r2.replica)
            today = r1.business_date(NOW + day * DAY_MS)
            past = [ledger.date for ledger in r1.ledgers() if ledger.date < today]
            if past and rng.random() < 0.5:
                closer.close(rng.choice(past))
            _check(r1, closer, index, rng)
            own_closed += ledger_name(first) in closer.stored
        if rng.random() < 0.5:
            closer.restart()
            _check(r1, closer, index, rng)
    assert own_closed > 3
    at = NOW + 6 * DAY_MS
    for ledger in [d for d in r1.ledgers() if d.date < r1.business_date(at)]:
        closer.close(ledger.date)
    assert ledger_name(first) in closer.stored
    closer.restart()
    assert shift_overdue(r1, at) == f"shift open since {first}: close it"
    closer.load_shift_day()  # (web/shifts.py, before the Z)
    z = close_with_z(r1, CASHIER, 0, at)
    assert z.z == _as_on_main(closer.whole(), r1.shift(z.z.shift.id))  # the Z at the close
    assert z.z.shift.close is not None
    assert r1.ledger(first).shift(z.z.shift.id).close == z.z.shift.close  # on its own day
    closer.close(first)  # closed again: its record let go, the shift answered closed by no one
    assert r1.open_shift() is None
    assert SHIFT_META + z.z.shift.id not in closer.meta


def test_a_closed_shift_day_without_a_kept_record_loses_the_shift() -> None:
    """What main does if its day closes anyway: the register has no open shift (a new one could be
    opened beside it) and no last-Z look sees it: the kept record is what answers."""
    r1 = _register("R1")
    shift = r1.open_shift()
    assert shift is not None
    closer = _Closer(r1)
    date = r1.business_date(NOW)
    state = r1.replica.doc(ledger_name(date)).get_state()
    entries = {SHIFT_META + shift.id: encode(date, shift, state)}
    closer.stored[ledger_name(date)] = r1.replica.doc(ledger_name(date)).get_update()
    closer.states[ledger_name(date)] = state
    r1.forget_day(date)
    r1.replica.close(ledger_name(date))
    assert r1.open_shift() is None  # without the record
    assert not a_shift_is_open(r1)
    r1.kept_shifts = KeptShifts(closer.states.get, entries.items())
    assert r1.open_shift() == shift
    assert a_shift_is_open(r1)
    assert r1.shift(shift.id) == shift


def test_a_damaged_or_stale_record_is_named_and_never_less_than_open() -> None:
    """A damaged entry is named (the node opens its shift's day at start: ``node.py``) and not
    answered; a record older than its day's close still answers "open" and its day is stale (the
    closer opens it again at its first look)."""
    r1 = _register("R1")
    shift = r1.open_shift()
    assert shift is not None
    date = r1.business_date(NOW)
    state = r1.replica.doc(ledger_name(date)).get_state()
    good = encode(date, shift, state)
    bad = {SHIFT_META + "s2": '{"date": 3}', SHIFT_META + "s3": "not json"}
    states = {ledger_name(date): state}
    kept = KeptShifts(states.get, [(SHIFT_META + shift.id, good), *bad.items()])
    assert sorted(i for i, _ in kept.damaged) == ["s2", "s3"]
    assert all("kept open shift" in exc.message for _, exc in kept.damaged)
    assert kept.open_shifts() == [shift]
    assert kept.stale() == []
    later = r1.replica.doc(ledger_name(date))
    r1.cash_move(CASHIER, "in", 100, "float", NOW + 1)  # the day changed after the record
    states[ledger_name(date)] = later.get_state()
    assert kept.stale() == [date]
    assert kept.open_shifts() == [shift]  # still "open": never less than the truth
