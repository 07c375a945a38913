"""A past day whose only tie is an open shift closes with its part of that shift's figures kept
(``model/kept_parts.py``), and the shift's X, its Z and its expected cash stay exactly what the whole
read of every day gives (the twentieth session, part shiftsum).

Random work over days (sales of both kinds, refunds of older receipts, cash moves, "no sale" openings,
a peer's records), with past days closed as the closer closes them (parts first, then the replica
unloads the day) and opened again (a refund of one of its receipts, a peer's late records). After each
step the kept reads (``DayIndex``, ``Venue.expected_cash``, ``shift_report``) equal the whole read of a
replica holding every day (``_as_on_main``, tests/model/test_shift_parts.py). On main nothing keeps a
part: the same close leaves the X short of the closed days (``test_a_closed_day_without_parts``)."""

from __future__ import annotations

import random

import pytest

from meshpos.errors import DayClosed, RecordUnusable
from meshpos.model import Replica, Venue
from meshpos.model.day_index import DayIndex
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import PART_META, DayPart, KeptParts, encode
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.model.shift_report import close_with_z, shift_report

from .conftest import NOW, sync
from .test_shift_parts import DAY_MS, _as_on_main, _register


class _Closer:
    """What ``register/days.py`` and the engine do to a day, in memory: keep its parts (as the store's
    meta would, re-read from their entries), unload it, answer its state vector; load it again."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.stored: dict[str, bytes] = {}  # closed ledger document -> its update (the store)
        self.states: dict[str, bytes] = {}  # closed ledger document -> its state vector
        self.meta: dict[str, str] = {}
        venue.kept_parts = KeptParts(self.states.get)

    def close(self, date: str) -> None:
        v, name = self.venue, ledger_name(date)
        open_ids = {s.id: d.date for d in v.ledgers() for s in d.shifts() if s.is_open}
        ledger = v.ledger(date)
        if ledger.has_open_shift():
            return  # its own shift is open: it stays (``what_keeps_open``)
        doc = v.replica.doc(name)
        state = doc.get_state()
        spans: dict[str, tuple[str, str | None]] = {s: (d, None) for s, d in open_ids.items()}
        parts = v.kept_parts.closing(ledger, spans)
        self.meta.update(v.kept_parts.entries(date, parts, state))
        v.kept_parts.put(date, parts, state)
        self.stored[name], self.states[name] = doc.get_update(), state
        del ledger, doc
        v.forget_day(date)
        v.replica.close(name)

    def reopen(self, date: str) -> None:
        name = ledger_name(date)
        self.venue.replica.reopen(name)
        self.venue.replica.apply(name, self.stored.pop(name))
        del self.states[name]

    def restart(self) -> None:
        """The parts as a restarted node reads them: from their meta entries."""
        self.venue.kept_parts = KeptParts(self.states.get, self.meta.items())

    def whole(self) -> Venue:
        """A venue holding every day, the closed ones too (what main keeps loaded)."""
        replica = Replica()
        for name in self.venue.replica.names():
            replica.apply(name, self.venue.replica.doc(name).get_update())
        for name, update in self.stored.items():
            replica.apply(name, update)
        return Venue(replica, device=self.venue.device)


def _work(
    rng: random.Random, v: Venue, c: _Closer | None, day: int, sold: list[tuple[str, str]]
) -> None:
    """One step on register ``v`` (``c``: its closer, None for the peer, which closes nothing)."""
    at = NOW + day * DAY_MS + rng.randrange(3_600_000)
    kind = rng.choice(["sale", "sale", "sale", "refund", "move", "no_sale"])
    if kind == "refund" and sold:
        receipt_id, date = rng.choice(sold)
        if c is not None and ledger_name(date) in c.stored:
            c.reopen(date)  # its day loads on demand (``open_day_of``)
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


def _check(r1: Venue, c: _Closer, index: DayIndex, rng: random.Random) -> None:
    whole = c.whole()
    for shift in (s for s in (r1.open_shift(), r1.open_shift("R2")) if s is not None):
        blind = rng.random() < 0.2
        truth = _as_on_main(whole, shift, blind=blind)
        assert index.shift_report(shift, blind=blind) == truth
        assert shift_report(r1, shift, blind=blind) == truth
        expected = _as_on_main(whole, shift).drawer_expected
        assert r1.expected_cash(shift) == index.expected_cash(shift) == expected


@pytest.mark.parametrize("seed", range(6))
def test_kept_parts_give_the_whole_read(seed: int) -> None:
    rng = random.Random(seed)
    r1 = _register("R1")
    r2 = _register("R2", catalog_from=r1.replica)
    closer = _Closer(r1)
    index = DayIndex(r1)
    sold: dict[str, list[tuple[str, str]]] = {"R1": [], "R2": []}
    closed_reads = 0  # reads made while a past day was closed, its parts kept
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
            if past and rng.random() < 0.4:
                closer.close(rng.choice(past))
            _check(r1, closer, index, rng)
            closed_reads += bool(closer.stored)
        if rng.random() < 0.5:
            closer.restart()
            _check(r1, closer, index, rng)
    assert closed_reads > 5
    at = NOW + 6 * DAY_MS
    for name in list(closer.stored):  # (the peer's records of them, then closed again)
        closer.reopen(name[len("ledger/") :])
    sync(r1.replica, r2.replica)
    for ledger in [d for d in r1.ledgers() if d.date < r1.business_date(at)]:
        closer.close(ledger.date)
    assert closer.stored
    closer.restart()
    z = close_with_z(r1, CASHIER, 0, at)
    assert z.z == _as_on_main(closer.whole(), r1.shift(z.z.shift.id))  # the Z at the close
    assert z.z.shift.close is not None
    assert z.z.shift.close.expected_cash == z.z.drawer_expected  # what the close wrote


def test_a_closed_day_without_parts_leaves_the_x_short() -> None:
    """What main would read had it closed the day: the test above can fail."""
    r1 = _register("R1")
    closer = _Closer(r1)
    sold: list[tuple[str, str]] = []
    for day in range(3):
        _work(random.Random(1), r1, closer, day, sold)
        order = r1.open_order(CASHIER, NOW + day * DAY_MS + 5)
        r1.add_line(CASHIER, order.id, "espresso", 1, NOW + day * DAY_MS + 5)
        r1.pay(CASHIER, order.id, "cash", NOW + day * DAY_MS + 5)
    date = r1.business_date(NOW + DAY_MS)
    shift = r1.open_shift()
    assert shift is not None
    truth = shift_report(r1, shift)
    closer.close(date)
    assert shift_report(r1, shift) == truth
    r1.kept_parts = KeptParts(closer.states.get)  # no parts: as a close on main would leave it
    assert shift_report(r1, shift).receipts < truth.receipts


def test_a_part_older_than_its_close_or_damaged_is_never_added() -> None:
    r1 = _register("R1")
    closer = _Closer(r1)
    for day in range(2):
        at = NOW + day * DAY_MS + 5
        order = r1.open_order(CASHIER, at)
        r1.add_line(CASHIER, order.id, "espresso", 1, at)
        r1.pay(CASHIER, order.id, "cash", at)
    date = r1.business_date(NOW + DAY_MS)
    shift = r1.open_shift()
    assert shift is not None
    closer.close(date)
    assert r1.kept_parts.holds(shift.id, date)  # a reprint reads it (web/shifts.py)
    name = ledger_name(date)
    closer.reopen(date)  # a change after its part was made, then closed without a new part
    order = r1.open_order(CASHIER, NOW + DAY_MS + 60_000)
    r1.add_line(CASHIER, order.id, "espresso", 1, NOW + DAY_MS + 60_000)
    r1.pay(CASHIER, order.id, "cash", NOW + DAY_MS + 60_000)
    doc = r1.replica.doc(name)
    closer.stored[name], closer.states[name] = doc.get_update(), doc.get_state()
    del doc
    r1.forget_day(date)
    r1.replica.close(name)
    assert not r1.kept_parts.fresh(date)
    assert not r1.kept_parts.holds(shift.id, date)  # a reprint loads the day
    with pytest.raises(DayClosed, match=date):
        shift_report(r1, shift)
    with pytest.raises(DayClosed, match=date):
        r1.expected_cash(shift)
    good = encode(DayPart(receipts=1), closer.states[name])
    damaged = {f"{PART_META}{shift.id}@{date}": good.replace('"receipts"', '"receipt"')}
    r1.kept_parts = KeptParts(closer.states.get, damaged.items())
    assert not r1.kept_parts.holds(shift.id, date)
    with pytest.raises(RecordUnusable, match="damaged"):
        shift_report(r1, shift)


def test_a_day_without_records_of_an_open_shift_keeps_an_empty_part() -> None:
    """A day of an open shift's span with none of its records keeps a part with nothing in it, so a
    reprint of the shift need not load it (the twenty-first session, part shifts); on main such a day
    kept no part and a reprint loaded it."""
    r1 = _register("R1")
    closer = _Closer(r1)
    shift = r1.open_shift()
    assert shift is not None
    quiet = r1.business_date(NOW + DAY_MS)
    r1.ledger(quiet)  # the day exists, with nothing of the shift on it
    closer.close(quiet)
    assert r1.kept_parts.holds(shift.id, quiet)
    assert r1.kept_parts.of(shift.id, r1.replica.names()) == [DayPart()]
    other = r1.business_date(NOW - DAY_MS)  # a day before the shift opened: none of its business
    r1.ledger(other)
    closer.close(other)
    assert not r1.kept_parts.holds(shift.id, other)


def test_only_a_closed_shifts_parts_of_dropped_days_without_refunds_are_prunable() -> None:
    """(``KeptParts.prunable``; the twenty-first session, part shifts.) An open shift's X adds every
    part of it; a closed shift's part with a refund may be of a day before its first (a refund of an
    older receipt), which its reprint adds: both stay. On main no part was ever pruned."""
    state = encode(DayPart(), b"\x00")  # (the state vector of an empty document)
    entries = {
        f"{PART_META}open@2026-01-02": state,
        f"{PART_META}closed@2026-01-02": state,
        f"{PART_META}closed@2026-01-03": state,
        f"{PART_META}refunded@2026-01-02": encode(DayPart(refunds=500), b"\x00"),
    }
    kept = KeptParts(lambda name: b"\x00", entries.items())
    dropped = {ledger_name("2026-01-02")}
    pruned = kept.prunable({"open"}, dropped.__contains__)
    assert pruned == [f"{PART_META}closed@2026-01-02"]
    kept.forget(pruned)
    assert kept.shifts_of("2026-01-02") == {"open", "refunded"}
    assert kept.shifts_of("2026-01-03") == {"closed"}
