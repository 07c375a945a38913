"""The records this build writes, the previous release reads alike (docs/architecture.md (Documents),
**Changed** (issue 18)): a day sold here, with this build's shorter record ids and without the fields
that hold nothing (no table, tab, modifiers, discount or kitchen station), is materialised by the N−1
release's own console code (``ledger_rows`` through its model's typed reads, in its virtualenv:
previous.py) into the rows this build's console makes of it, its kitchen ticket reads the same, and
nothing is skipped as corrupt."""

from __future__ import annotations

import json
from typing import Any

from pycrdt import Doc

from meshpos.console.materialise import ledger_rows
from meshpos.model import CorruptRegistry, Ledger
from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.model.ids import RECORD_ID_CHARS
from meshpos.model.kitchen import Kitchen
from meshpos.model.sample import CASHIER, MANAGER
from tests.model.conftest import NOW, make_venue

from .previous import Release

#: the rows of a day (table -> row id -> every column, children as lists), and how many records the
#: reads skipped as corrupt; the same code runs here and in the previous release
ROWS = """
import json, sys
from pycrdt import Doc
from meshpos.console.materialise import ledger_rows
from meshpos.model import CorruptRegistry, Ledger
from meshpos.model.kitchen import Kitchen
date, update, kitchen = sys.stdin.read().split()
doc = Doc()
doc.apply_update(bytes.fromhex(update))
corrupt = CorruptRegistry()
batch = ledger_rows(Ledger(doc, date, corrupt=corrupt))
kitchen_doc = Doc()
kitchen_doc.apply_update(bytes.fromhex(kitchen))
tickets = [repr(t) for t in Kitchen(kitchen_doc, date, corrupt=corrupt).tickets()]
rows = {
    table: {
        r.id: {**r.fixed, **r.state, **{k: [dict(c) for c in v] for k, v in r.children.items()}}
        for r in found
    }
    for table, found in batch.rows.items()
}
print(json.dumps({"rows": rows, "tickets": tickets, "corrupt": len(corrupt)}, default=str))
"""


def _day() -> tuple[str, bytes, bytes]:
    """A day sold on this build: a table's order (two lines, card), an order with no table or tab
    (cash, with change) sent to the kitchen, an empty order voided, a refund, two orders with three
    order discounts each (one paid); the ledger's and the kitchen's states."""
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    first = venue.open_order(CASHIER, NOW, table="T4")
    venue.add_line(CASHIER, first.id, "espresso", 2, NOW + 1)
    venue.add_line(CASHIER, first.id, "croissant", 1, NOW + 2)
    paid = venue.pay(CASHIER, first.id, "card", NOW + 3)
    second = venue.open_order(CASHIER, NOW + 4)
    venue.add_line(CASHIER, second.id, "burger", 1, NOW + 5)
    venue.add_line(CASHIER, second.id, "fries", 2, NOW + 5)
    assert venue.send_to_kitchen(CASHIER, second.id, NOW + 5) is not None
    venue.pay(CASHIER, second.id, "cash", NOW + 6, tendered=5_000)
    empty = venue.open_order(CASHIER, NOW + 7)
    venue.void_order(CASHIER, empty.id, NOW + 8, "opened by mistake")
    assert paid.receipt is not None
    venue.refund(MANAGER, paid.receipt.id, NOW + 9, reason="cold")
    # order discounts apply in the order given (model/discount_turns.py): this build's keys make the
    # previous release, pricing them in key order, come to the same totals (the orders' rows)
    for given in (("voucher5", "happy", "voucher5"), ("happy", "voucher5", "voucher5")):
        discounted = venue.open_order(CASHIER, NOW + 10)
        venue.add_line(CASHIER, discounted.id, "burger", 1, NOW + 10)
        for discount in given:
            discounted = venue.apply_order_discount(MANAGER, discounted.id, discount, NOW + 11)
        assert discounted.totals.discount == (1075 if given[0] == "voucher5" else 1125)
    venue.pay(CASHIER, discounted.id, "card", NOW + 12)  # one closed, one left open
    date = venue.business_date(NOW)
    kitchen = venue.replica.doc(kitchen_name(date)).get_update()
    return date, venue.replica.doc(ledger_name(date)).get_update(), kitchen


def _rows_here(date: str, update: bytes, kitchen: bytes) -> dict[str, Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    corrupt = CorruptRegistry()
    batch = ledger_rows(Ledger(doc, date, corrupt=corrupt))
    kitchen_doc: Doc[Any] = Doc()
    kitchen_doc.apply_update(kitchen)
    tickets = [repr(t) for t in Kitchen(kitchen_doc, date, corrupt=corrupt).tickets()]
    rows = {
        table: {
            r.id: {
                **r.fixed,
                **r.state,
                **{k: [dict(c) for c in v] for k, v in r.children.items()},
            }
            for r in found
        }
        for table, found in batch.rows.items()
    }
    found = {"rows": rows, "tickets": tickets, "corrupt": len(corrupt)}
    return json.loads(json.dumps(found, default=str))


def test_n_minus_1_materialises_a_day_this_build_sold_into_the_same_rows(
    previous_release: Release,
) -> None:
    date, update, kitchen = _day()
    ours = _rows_here(date, update, kitchen)
    theirs = json.loads(previous_release.run(ROWS, stdin=f"{date} {update.hex()} {kitchen.hex()}"))
    assert ours["corrupt"] == 0
    assert theirs["corrupt"] == 0, "the previous release skipped records of this build's as corrupt"
    assert {t: len(r) for t, r in ours["rows"].items() if r} == {
        t: len(r) for t, r in theirs["rows"].items() if r
    }
    order = next(iter(o for o in ours["rows"]["orders"].values() if o["table_label"] == ""), None)
    assert order is not None, "the day holds no order without a table: the test proves nothing"
    assert any(len(i) == RECORD_ID_CHARS for i in ours["rows"]["orders"])
    assert len(ours["tickets"]) == 1
    assert theirs["tickets"] == ours["tickets"]  # the kitchen screen shows the ticket alike
    for table, found in theirs["rows"].items():
        for row_id, columns in found.items():
            mine = ours["rows"][table][row_id]
            shared = {c: v for c, v in columns.items() if c in mine}
            assert shared == {c: mine[c] for c in shared}, f"{table} {row_id}"
    discounts = sorted(o["discount"] for o in theirs["rows"]["orders"].values() if o["discount"])
    assert discounts == [1075, 1125], discounts  # the previous release prices them as given
