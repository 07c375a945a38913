"""An X of a shift left open for days reads the live day again, not every day since it opened, and its
figures are the ones the whole read gives (the twentieth session, part longshift).

``_as_on_main`` is ``model.shift_report.shift_report`` as it was before the per-day parts: every figure
of the kept read (``DayIndex.shift_report``) is compared with it after each step of random work
(sales of both kinds, refunds of older receipts, cash moves, "no sale" openings, a peer's records)."""

from __future__ import annotations

import random

import pytest

from meshpos.model import Replica, Venue
from meshpos.model import day_index as day_index_module
from meshpos.model.day_index import DayIndex
from meshpos.model.kept_parts import DayPart
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import NoSale, Shift
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.sample import CASHIER, MANAGER, sample_catalog
from meshpos.model.shift_report import ShiftReport, day_part, shift_overdue

from .conftest import NOW, sync

DAY_MS = 86_400_000


def _as_on_main(venue: Venue, shift: Shift, *, blind: bool = False) -> ShiftReport:
    receipts = sales = cash_taken = card_taken = refunds = cash_refunds = 0
    cash_in = cash_out = 0
    no_sales: list[NoSale] = []
    for ledger in venue.ledgers():
        for receipt in ledger.receipts():
            if receipt.shift_id == shift.id:
                receipts += 1
                sales += receipt.total
        for p in ledger.payments():
            if p.shift_id == shift.id:
                if p.method == "cash":
                    cash_taken += p.amount + p.tip
                else:
                    card_taken += p.amount + p.tip
        for r in ledger.refunds():
            if r.shift_id == shift.id:
                refunds += r.amount
                cash_refunds += r.amount if r.method == "cash" else 0
        for m in ledger.cash_moves():
            if m.shift_id == shift.id:
                cash_in += m.amount if m.kind == "in" else 0
                cash_out += m.amount if m.kind == "out" else 0
        no_sales += [n for n in ledger.records(NO_SALES) if n.shift_id == shift.id]
    expected = shift.opening_cash + cash_taken + cash_in - cash_out - cash_refunds
    hidden = blind and shift.is_open
    return ShiftReport(
        report="X" if shift.is_open else "Z",
        shift=shift,
        receipts=receipts,
        sales=sales,
        cash_taken=cash_taken,
        card_taken=card_taken,
        refunds=refunds,
        cash_refunds=cash_refunds,
        cash_in=cash_in,
        cash_out=cash_out,
        drawer_expected=None if hidden else expected,
        no_sales=tuple(sorted(no_sales, key=NO_SALES.sort)),
    )


def _register(device: str, catalog_from: Replica | None = None) -> Venue:
    replica = Replica()
    if catalog_from is not None:
        replica.apply("catalog", catalog_from.doc("catalog").get_update())
    venue = Venue(replica, device=device)
    if catalog_from is None:
        sample_catalog(venue.catalog, pin_hash="x")
    venue.open_shift_now(CASHIER, 5_000, NOW)
    return venue


def _step(rng: random.Random, v: Venue, day: int, sold: list[str]) -> None:
    at = NOW + day * DAY_MS + rng.randrange(3_600_000)
    kind = rng.choice(["sale", "sale", "sale", "refund", "move", "no_sale"])
    if kind == "refund" and sold:
        receipt = v.receipt(rng.choice(sold))
        if not v.refunded_quantities(receipt.id):
            v.refund(MANAGER, receipt.id, at, lines={receipt.lines[0].line_id: 1}, reason="x")
    elif kind == "move":
        v.cash_move(CASHIER, rng.choice(["in", "out"]), rng.randrange(1, 900), "float", at)
    elif kind == "no_sale":
        v.no_sale(CASHIER, "change", at)
    else:
        order = v.open_order(CASHIER, at)
        v.add_line(
            CASHIER, order.id, rng.choice(["espresso", "croissant"]), 1 + rng.randrange(3), at
        )
        result = v.pay(CASHIER, order.id, rng.choice(["cash", "card"]), at)
        assert result.receipt is not None
        sold.append(result.receipt.id)


@pytest.mark.parametrize("seed", range(4))
def test_kept_x_and_z_equal_the_whole_read(seed: int) -> None:
    rng = random.Random(seed)
    r1 = _register("R1")
    r2 = _register("R2", catalog_from=r1.replica)
    index = DayIndex(r1)
    sold: dict[str, list[str]] = {"R1": [], "R2": []}
    for day in range(4):
        for _ in range(12):
            v = rng.choice([r1, r2])
            _step(rng, v, day, sold[v.device])
            if rng.random() < 0.3:
                sync(r1.replica, r2.replica)  # a peer's records arrive on old and live days
            for shift in (s for s in (r1.open_shift(), r1.open_shift("R2")) if s is not None):
                blind = rng.random() < 0.2
                assert index.shift_report(shift, blind=blind) == _as_on_main(r1, shift, blind=blind)
    sync(r1.replica, r2.replica)
    closed = r1.close_shift(CASHIER, 0, NOW + 4 * DAY_MS, z=True)
    assert index.shift_report(closed) == _as_on_main(r1, closed)  # the Z, reprinted
    assert index.shift_report(closed).report == "Z"


def test_an_x_after_a_sale_reads_the_live_day_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten days of an open shift: the first X reads them all, the next after a sale today only today."""
    v = _register("R1")
    for day in range(10):
        for i in range(3):
            at = NOW + day * DAY_MS + i * 1000
            order = v.open_order(CASHIER, at)
            v.add_line(CASHIER, order.id, "espresso", 1, at)
            v.pay(CASHIER, order.id, "card" if i else "cash", at)
    index = DayIndex(v)
    read: list[str] = []

    def counted(ledger: Ledger, shift_id: str) -> DayPart:
        read.append(ledger.date)
        return day_part(ledger, shift_id)

    monkeypatch.setattr(day_index_module, "day_part", counted)
    shift = v.open_shift()
    assert shift is not None
    first = index.shift_report(shift)
    assert len(read) == len(v.ledgers()) == 10
    read.clear()
    order = v.open_order(CASHIER, NOW + 9 * DAY_MS + 60_000)
    v.add_line(CASHIER, order.id, "espresso", 1, NOW + 9 * DAY_MS + 60_000)
    v.pay(CASHIER, order.id, "cash", NOW + 9 * DAY_MS + 60_000)
    second = index.shift_report(shift)
    assert read == [v.ledgers()[0].date]  # the live day, newest
    assert second.receipts == first.receipts + 1
    assert second == _as_on_main(v, shift)
    read.clear()
    assert index.shift_report(shift) == second  # nothing changed: nothing read
    assert read == []


def test_a_shift_past_its_business_day_is_overdue() -> None:
    """Said from the first minute of the next business day (the cut-off hour, 04:00 here), not before;
    another register's shift is its own status's to say; a closed shift says nothing."""
    v = _register("R1")  # opened at NOW, 10:00 UTC
    r2 = _register("R2", catalog_from=v.replica)
    date = v.business_date(NOW)
    cutoff = NOW + DAY_MS - 6 * 3_600_000  # 04:00 the next morning
    assert shift_overdue(v, NOW) == ""
    assert shift_overdue(v, cutoff - 1) == ""
    assert shift_overdue(v, cutoff) == f"shift open since {date}: close it"
    sync(v.replica, r2.replica)
    v.close_shift(CASHIER, 5_000, cutoff)
    assert shift_overdue(v, cutoff + DAY_MS) == ""  # R2's shift is R2's to say
    assert shift_overdue(r2, cutoff) == f"shift open since {date}: close it"
