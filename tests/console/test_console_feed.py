"""Contract: materialising a day as it grows (``LedgerFeed``) exports only what changed, and the tables
always equal a materialisation of the whole day, alarms included, on both databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.console import ConsoleDB, hash_token, ledger_rows, materialise, new_venue_token
from meshpos.console.materialise import LedgerFeed
from meshpos.console.records import MaterialiseResult
from meshpos.model import Ledger, Venue
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, make_register, sell, sync
from .test_console_materialise import (
    TABLE_NAMES,
    _rewrite,
    assert_matches_model,
    payment_path,
)

WHOLE = "cafe-whole"  # the same day materialised whole every time, to compare with


async def feed_once(db: ConsoleDB, feed: LedgerFeed) -> MaterialiseResult:
    return await feed.materialise(db, VENUE)


async def tables_of(db: ConsoleDB, venue: str) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name in TABLE_NAMES:
        rows = await db.records(venue, name)
        out[name] = [{k: v for k, v in row.items() if k != "seen_at_ms"} for row in rows]
    return out


async def alarms_of(db: ConsoleDB, venue: str) -> list[tuple[str, ...]]:
    return sorted(
        (a.kind, a.table, a.record_id, a.old_digest, a.new_digest, a.detail)
        for a in await db.alarms(venue)
    )


async def assert_same_as_whole(db: ConsoleDB, console: Doc[Any]) -> None:
    await materialise(db, WHOLE, LEDGER, console)
    assert await tables_of(db, VENUE) == await tables_of(db, WHOLE)
    assert await alarms_of(db, VENUE) == await alarms_of(db, WHOLE)


def upload(console: Doc[Any], *registers: Venue) -> None:
    """What the relays bring: everything each register holds that the console does not."""
    for register in registers:
        doc = register.replica.doc(LEDGER)
        console.apply_update(doc.get_update(console.get_state()))


def exported(texts: dict[str, str]) -> dict[str, int]:
    return {root: n for root, text in texts.items() if (n := len(json.loads(text)))}


def one_register_day(*products: str) -> tuple[Venue, Doc[Any], LedgerFeed]:
    """R1 with a shift open and one sale of each product, uploaded to a console; and that day's feed."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    for i, product in enumerate(products):
        sell(r1, (product, 1), at=NOW + i)
    console: Doc[Any] = Doc()
    upload(console, r1)
    return r1, console, LedgerFeed(console, DATE)


@pytest.fixture
async def both(venue_db: ConsoleDB) -> ConsoleDB:
    await venue_db.add_venue(WHOLE, "Whole", hash_token(new_venue_token()))
    return venue_db


async def test_a_growing_day_materialised_part_by_part_equals_the_whole(both: ConsoleDB) -> None:
    db = both
    r1 = make_register("R1")
    r2 = make_register("R2", catalog_from=r1)
    console: Doc[Any] = Doc()
    feed = LedgerFeed(console, DATE)
    t = NOW
    shared: dict[str, str] = {}

    def split_order() -> None:
        order = r1.open_order(CASHIER, t + 30, table="7")
        r1.add_line(CASHIER, order.id, "espresso", 3, t + 30)
        r1.add_line(MANAGER, order.id, "croissant", 2, t + 31, discount_id="staff")
        r1.apply_order_discount(MANAGER, order.id, "happy", t + 32)
        shared["split"] = order.id

    def refund() -> None:
        receipt = r1.ledger(DATE).receipts()[0]
        line = receipt.lines[0]
        r1.refund(MANAGER, receipt.id, t + 70, lines={line.line_id: 1}, reason="cold")

    def one_order_paid_on_both() -> None:
        order = r1.open_order(CASHIER, t + 80)
        r1.add_line(CASHIER, order.id, "burger", 1, t + 80)
        sync(r1, r2)
        r1.pay(CASHIER, order.id, "cash", t + 81)  # partitioned: both take the money
        r2.pay(CASHIER, order.id, "card", t + 82)

    def void() -> None:
        empty = r2.open_order(CASHIER, t + 90)
        r2.void_order(CASHIER, empty.id, t + 91, "guest left")

    def close() -> None:
        shift = r1.open_shift()
        assert shift is not None
        r1.close_shift(CASHIER, r1.expected_cash(shift) - 30, t + 100)

    steps: list[tuple[str, Callable[[], object]]] = [
        (
            "shifts",
            lambda: (r1.open_shift_now(CASHIER, 10_000, t), r2.open_shift_now(CASHIER, 0, t)),
        ),
        ("a sale", lambda: sell(r1, ("burger", 2), ("fries", 1), at=t + 10, tendered=5_000)),
        ("a sale on R2", lambda: sell(r2, ("lemonade", 2), method="card", at=t + 15)),
        ("an open order with a discount", split_order),
        ("half of it paid", lambda: r1.pay(CASHIER, shared["split"], "card", t + 33, amount=500)),
        ("the rest", lambda: r1.pay(CASHIER, shared["split"], "cash", t + 34, tendered=2_000)),
        ("cash moves", lambda: r1.cash_move(CASHIER, "in", 2_000, "float", t + 50)),
        ("stock", lambda: r1.inventory_move(MANAGER, "croissant", "writeoff", 2, t + 60, "burnt")),
        ("a refund", refund),
        ("an order paid on both registers", one_order_paid_on_both),
        ("a void on R2", void),
        ("the shift closed", close),
    ]
    for i, (what, step) in enumerate(steps):
        step()
        upload(console, r1, r2)
        await feed_once(db, feed)
        assert feed.whole == (i == 0), what  # after the first export, only what changed
        await assert_same_as_whole(db, console)
    kinds = sorted(a[0] for a in await alarms_of(db, VENUE))
    assert kinds == ["double_receipt", "overpaid"]
    sync(r1, r2)
    assert_matches_model(
        {n: await db.records(VENUE, n) for n in TABLE_NAMES}, Ledger.snapshot(console, DATE)
    )

    # a hostile peer rewrites records the console already holds: alarmed, never overwritten
    ledger = Ledger.snapshot(console, DATE)
    receipt, payment = ledger.receipts()[0], ledger.payments()[0]
    _rewrite(console, ["receipts", receipt.id], total=1)
    _rewrite(console, payment_path(console, payment), amount=1)
    result = await feed_once(db, feed)
    assert not feed.whole
    changed = sorted((a.table, a.record_id) for a in result.alarms if a.kind == "changed_record")
    assert changed == sorted([("receipts", receipt.id), ("payments", payment.id)])
    await assert_same_as_whole(db, console)


async def test_an_export_holds_what_changed_and_what_its_rows_are_read_with(
    both: ConsoleDB,
) -> None:
    r1, console, feed = one_register_day(*["espresso"] * 5)
    first = feed.export()
    assert feed.whole
    assert exported(first) == {"shifts": 1, "orders": 5, "receipts": 5}  # receipts stand for stock
    assert exported(feed.export()) == {}  # nothing changed
    assert not feed.whole

    receipt = sell(r1, ("fries", 1), at=NOW + 10)
    upload(console, r1)
    texts = feed.export()
    assert exported(texts) == {"orders": 1, "receipts": 1}  # its lines are its stock movements
    assert list(json.loads(texts["receipts"])) == [receipt.id]

    r1.refund(MANAGER, receipt.id, NOW + 11)  # a refund is read with its receipt and every
    upload(console, r1)  # refund of it: conflicts.over_refunds compares them
    assert exported(feed.export()) == {"refunds": 1, "inventory": 1, "receipts": 1}

    shift = r1.open_shift()
    assert shift is not None
    r1.close_shift(CASHIER, r1.expected_cash(shift), NOW + 12)  # a close is read with its shift
    upload(console, r1)
    assert exported(feed.export()) == {"shifts": 1, "shift_closes": 1}

    feed.reset()  # an export that was not materialised: the next one reads the whole day
    assert exported(feed.export()) == {
        "shifts": 1,
        "shift_closes": 1,
        "orders": 6,
        "receipts": 6,
        "refunds": 1,
        "inventory": 1,  # the refund's: a sale's are its receipt's lines
    }
    assert feed.whole
    feed.close()  # no longer observing: every export is the whole day
    console.get("cash_moves", type=Map)["a-move"] = {"kind": "in"}
    assert len(json.loads(feed.export()["cash_moves"])) == 1
    assert feed.whole


async def test_a_receipt_arriving_later_is_checked_against_the_orders_listing_it(
    both: ConsoleDB,
) -> None:
    """An order's conflicts read the receipts it lists: a receipt that comes later re-reads every
    order listing it, even one it does not name (a buggy or hostile register)."""
    db = both
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    paid = r1.pay(CASHIER, order.id, "card", NOW + 1)
    assert paid.receipt is not None
    console: Doc[Any] = Doc()
    upload(console, r1)
    # the console holds the order (which lists the receipt) but not the receipt record yet
    receipts = console.get("receipts", type=Map)
    held = json.loads(receipts.pop(paid.receipt.id))
    feed = LedgerFeed(console, DATE)
    await feed_once(db, feed)
    assert await db.records(VENUE, "receipts") == []
    # it arrives naming another order, with lines that are not this order's
    held["order_id"] = "some-other-order"
    held["lines"] = [dict(held["lines"][0], line_id="not-a-line-of-the-order")]
    receipts[paid.receipt.id] = json.dumps(held)
    texts = feed.export()
    assert exported(texts) == {"orders": 1, "receipts": 1}
    assert list(json.loads(texts["orders"])) == [order.id]
    result = await db.write_records(VENUE, ledger_rows(Ledger.from_export(texts, DATE)))
    assert [(a.kind, a.record_id) for a in result.alarms] == [("changed_after_receipt", order.id)]
    await assert_same_as_whole(db, console)


async def test_an_order_changed_after_its_receipt_is_read_with_the_receipts_it_lists(
    both: ConsoleDB,
) -> None:
    """A line another register added while the order was paid arrives alone: the export reads the
    order with the receipt its map lists (``receipts/<id>``), so the conflict is found as in the whole
    day."""
    db = both
    r1, r2 = make_register("R1"), make_register("R2")
    for register in (r1, r2):
        register.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    sync(r1, r2)
    r1.pay(CASHIER, order.id, "card", NOW + 1)  # partitioned: R2 adds a line meanwhile
    r2.add_line(CASHIER, order.id, "fries", 1, NOW + 1)
    console: Doc[Any] = Doc()
    upload(console, r1)
    feed = LedgerFeed(console, DATE)
    await feed_once(db, feed)
    assert await alarms_of(db, VENUE) == []
    upload(console, r2)
    texts = feed.export()
    assert exported(texts) == {"orders": 1, "receipts": 1}
    result = await db.write_records(VENUE, ledger_rows(Ledger.from_export(texts, DATE)))
    assert [(a.kind, a.record_id) for a in result.alarms] == [("changed_after_receipt", order.id)]
    await assert_same_as_whole(db, console)


async def test_a_corrupt_record_in_a_part_is_skipped_with_an_alarm(both: ConsoleDB) -> None:
    db = both
    r1, console, feed = one_register_day("burger")
    await feed_once(db, feed)
    good = sell(r1, ("fries", 1), at=NOW + 1)
    bad = sell(r1, ("espresso", 1), at=NOW + 2)
    upload(console, r1)
    _rewrite(console, ["receipts", bad.id], total=12.5)
    result = await feed_once(db, feed)
    stored = {r["id"] for r in await db.records(VENUE, "receipts")}
    assert good.id in stored
    assert bad.id not in stored
    assert [a.kind for a in result.alarms if bad.id in a.record_id] == ["corrupt_record"]
    feed.reset()
    again = await feed_once(db, feed)  # the whole day: the same, the alarm is not new
    assert feed.whole
    assert {r["id"] for r in await db.records(VENUE, "receipts")} == stored
    assert [a.new for a in again.alarms if a.kind == "corrupt_record"] == [False]


async def test_a_root_the_feed_does_not_know_makes_the_export_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should the model read a new root, the feed cannot know what its rows read with: whole day."""
    import meshpos.model.ledger as model_ledger

    monkeypatch.setattr(model_ledger, "_ROOTS", (*model_ledger._ROOTS, "tips"))
    r1, console, feed = one_register_day("burger")
    feed.export()
    sell(r1, ("burger", 1), at=NOW + 1)
    upload(console, r1)
    assert exported(feed.export())["receipts"] == 1
    assert not feed.whole
    console.get("tips", type=Map)["t1"] = {"amount": 100}
    texts = feed.export()
    assert feed.whole
    assert exported(texts)["receipts"] == 2
    assert exported(texts)["tips"] == 1
