"""A simulated business day on two registers, built through the model's rules (meshpos.model.Venue)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycrdt import Doc

from meshpos.model import Ledger, Receipt, Replica, Venue
from meshpos.model.sample import CASHIER, MANAGER, sample_catalog

NOW = 1_764_064_800_000  # 2025-11-25 10:00 UTC
DATE = "2025-11-25"
LEDGER = f"ledger/{DATE}"


def make_register(device: str, catalog_from: Venue | None = None) -> Venue:
    replica = Replica()
    if catalog_from is not None:
        replica.apply("catalog", catalog_from.replica.doc("catalog").get_update())
    venue = Venue(replica, device=device)
    if catalog_from is None:
        sample_catalog(venue.catalog, pin_hash="x")
    replica.take_updates()
    return venue


def sync(*venues: Venue) -> None:
    """Full-state exchange between every pair (what anti-entropy converges to)."""
    for src in venues:
        for dst in venues:
            if src is not dst:
                for name in src.replica.names():
                    dst.replica.apply(
                        name,
                        src.replica.doc(name).get_update(dst.replica.doc(name).get_state()),
                    )


def sell(
    venue: Venue,
    *items: tuple[str, int],
    method: str = "cash",
    at: int = NOW,
    modifiers: Sequence[str] = (),
    **pay: Any,
) -> Receipt:
    order = venue.open_order(CASHIER, at)
    for product, quantity in items:
        venue.add_line(CASHIER, order.id, product, quantity, at, modifiers=modifiers)
    result = venue.pay(CASHIER, order.id, method, at, **pay)
    assert result.receipt is not None
    return result.receipt


def simulate_day() -> tuple[Venue, Venue]:
    """R1 and R2 sell, split, discount, void, refund, move cash and stock; R1 closes its shift.

    R2 sells while partitioned from R1 and keeps its shift and one order open.
    """
    r1 = make_register("R1")
    r2 = make_register("R2", catalog_from=r1)
    t = NOW
    r1.open_shift_now(CASHIER, 10_000, t)
    r2.open_shift_now(CASHIER, 5_000, t + 1)
    sync(r1, r2)

    a = sell(r1, ("burger", 2), ("fries", 1), at=t + 10, tendered=5_000)
    b = sell(r1, ("latte", 1), method="card", at=t + 20, modifiers=("large", "oat"), tip=100)
    split = r1.open_order(CASHIER, t + 30, table="7")
    r1.add_line(CASHIER, split.id, "espresso", 3, t + 30)
    # the discounts a cashier may not give alone, approved by the manager on the spot
    r1.add_line(CASHIER, split.id, "croissant", 2, t + 31, discount_id="staff", approved_by=MANAGER)
    r1.apply_order_discount(CASHIER, split.id, "happy", t + 32, approved_by=MANAGER)
    r1.pay(CASHIER, split.id, "card", t + 33, amount=500)
    r1.pay(CASHIER, split.id, "cash", t + 34, tendered=2_000, tip=50)
    empty = r1.open_order(CASHIER, t + 40)
    r1.void_order(CASHIER, empty.id, t + 41, "guest left")
    r1.cash_move(CASHIER, "in", 2_000, "change float", t + 50)
    r1.cash_move(CASHIER, "out", 500, "flowers", t + 51)
    r1.no_sale(CASHIER, "change for a guest", t + 52)
    r1.inventory_move(MANAGER, "croissant", "writeoff", 2, t + 60, "burnt")
    r1.inventory_move(MANAGER, "croissant", "supply", 24, t + 61, "bakery")
    burger = next(line for line in a.lines if line.product_id == "burger")
    r1.refund(MANAGER, a.id, t + 70, lines={burger.line_id: 1}, reason="cold")
    r1.refund(MANAGER, b.id, t + 71)

    # R2, partitioned from R1 meanwhile
    sell(r2, ("lemonade", 2), method="card", at=t + 15)
    sell(r2, ("export-beans", 1), at=t + 25)
    still_open = r2.open_order(CASHIER, t + 35, tab="Bob")
    r2.add_line(CASHIER, still_open.id, "fries", 1, t + 35)

    sync(r1, r2)
    shift = r1.open_shift()
    assert shift is not None
    r1.close_shift(CASHIER, r1.expected_cash(shift) - 30, t + 100)
    sync(r1, r2)
    return r1, r2


def ledger_doc(venue: Venue, date: str = DATE) -> Doc[Any]:
    """A copy of the venue's ledger day as the console would rebuild it from uploads."""
    doc: Doc[Any] = Doc()
    doc.apply_update(venue.replica.doc(f"ledger/{date}").get_update())
    return doc


def ledger_of(venue: Venue, date: str = DATE) -> Ledger:
    return venue.ledger(date)
