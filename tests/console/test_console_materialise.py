"""Contract: a ledger day materialised into tables equals the model's own reads, on both databases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.console import (
    RECORD_TABLES,
    ConsoleDB,
    hash_token,
    ledger_rows,
    materialise,
    materialise_stored,
    new_venue_token,
)
from meshpos.errors import StoreError
from meshpos.model import Ledger, Payment
from meshpos.model.record_spec import Column
from meshpos.model.sample import CASHIER

from ..model.test_record_encoding import as_older_node_wrote_it
from .conftest import VENUE
from .day import DATE, LEDGER, NOW, ledger_doc, make_register, sell, simulate_day, sync

TABLE_NAMES = [t.name for t in RECORD_TABLES] + ["receipt_lines", "refund_lines"]


async def dump(db: ConsoleDB) -> dict[str, list[dict[str, Any]]]:
    return {name: await db.records(VENUE, name) for name in TABLE_NAMES}


def assert_matches_model(tables: dict[str, list[dict[str, Any]]], ledger: Ledger) -> None:
    """Every table holds exactly what the model reads from the document."""
    orders = ledger.orders()
    by_id = {
        name: {row["id"]: row for row in rows}
        for name, rows in tables.items()
        if rows and "id" in rows[0]
    }
    assert set(by_id.get("receipts", {})) == {r.id for r in ledger.receipts()}
    assert set(by_id.get("payments", {})) == {p.id for p in ledger.payments()}
    assert set(by_id.get("refunds", {})) == {f.id for f in ledger.refunds()}
    assert set(by_id.get("shifts", {})) == {s.id for s in ledger.shifts()}
    assert set(by_id.get("orders", {})) == {o.id for o in orders}
    assert set(by_id.get("cash_moves", {})) == {m.id for m in ledger.cash_moves()}
    assert set(by_id.get("inventory_moves", {})) == {m.id for m in ledger.inventory()}
    for r in ledger.receipts():
        row = by_id["receipts"][r.id]
        assert (row["number"], row["total"], row["tax"], row["subtotal"], row["discount"]) == (
            r.number, r.total, r.tax, r.subtotal, r.discount,
        )  # fmt: skip
        assert (row["order_id"], row["shift_id"], row["issued_at_ms"], row["business_date"]) == (
            r.order_id, r.shift_id, r.issued_at_ms, DATE,
        )  # fmt: skip
        lines = [ln for ln in tables["receipt_lines"] if ln["receipt_id"] == r.id]
        assert [(ln["line_id"], ln["quantity"], ln["amount"], ln["tax"]) for ln in lines] == [
            (ln.line_id, ln.quantity, ln.amount, ln.tax) for ln in r.lines
        ]
    for p in ledger.payments():
        row = by_id["payments"][p.id]
        assert (row["amount"], row["tip"], row["method"], row["change_given"], row["order_id"]) == (
            p.amount, p.tip, p.method, p.change, p.order_id,
        )  # fmt: skip
    for f in ledger.refunds():
        row = by_id["refunds"][f.id]
        assert (row["amount"], row["receipt_id"], row["method"]) == (
            f.amount,
            f.receipt_id,
            f.method,
        )
        lines = [ln for ln in tables["refund_lines"] if ln["refund_id"] == f.id]
        assert [(ln["line_id"], ln["quantity"], ln["amount"]) for ln in lines] == [
            (ln.line_id, ln.quantity, ln.amount) for ln in f.lines
        ]
    for o in orders:
        row = by_id["orders"][o.id]
        assert (row["status"], row["total"], row["paid"], row["tips"], row["line_count"]) == (
            o.status, o.totals.total, o.totals.paid, o.totals.tips, len(o.lines),
        )  # fmt: skip
    for s in ledger.shifts():
        row = by_id["shifts"][s.id]
        assert (row["register"], row["opening_cash"]) == (s.register, s.opening_cash)
        assert row["counted_cash"] == (s.close.counted_cash if s.close else None)
        assert row["expected_cash"] == (s.close.expected_cash if s.close else None)
    for rows in tables.values():
        for row in rows:
            for value in row.values():
                assert value is None or type(value) in (int, str), row  # never a float or Decimal


@pytest.mark.parametrize("one_map", [False, True], ids=["part maps", "one map per order"])
async def test_a_day_written_by_an_older_node_materialises_the_same(
    venue_db: ConsoleDB, one_map: bool
) -> None:
    """A day whose records are maps of values (an older node's), or the day as the node before this
    one wrote it (sale stock movements and the completing payment as records of their own), fills the
    tables exactly as the same day does now: materialising one after the other changes nothing and
    alarms nothing."""
    r1, _ = simulate_day()
    old_doc = as_older_node_wrote_it(ledger_doc(r1), facts_as_text=one_map, one_map=one_map)
    older = await materialise(venue_db, VENUE, LEDGER, old_doc, at_ms=NOW)
    assert not older.alarms
    assert_matches_model(await dump(venue_db), r1.ledger(DATE))
    again = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    assert not again.changed
    assert not again.alarms


async def test_ledger_rows_are_plain_values() -> None:
    r1, _ = simulate_day()
    ledger = r1.ledger(DATE)
    batch = ledger_rows(ledger)
    assert batch.document == LEDGER
    assert len(batch.rows["receipts"]) == len(ledger.receipts()) == 5
    assert len(batch.rows["payments"]) == len(ledger.payments()) == 6
    assert batch.conflicts == ()
    for rows in batch.rows.values():
        for row in rows:
            values = [*row.fixed.values(), *row.state.values()]
            values += [
                v for lines in row.children.values() for line in lines for v in line.values()
            ]
            assert all(v is None or type(v) in (int, str) for v in values)


def _holds_declared_types(columns: tuple[Column, ...], values: Mapping[str, object]) -> None:
    assert list(values) == [c.name for c in columns]
    for column in columns:
        value = values[column.name]
        if value is None:
            assert column.nullable, column.name
        else:
            assert type(value) is (int if column.type == "int" else str), (column.name, value)


async def test_every_row_holds_the_columns_and_types_its_spec_declares() -> None:
    """The rows are built from the record specs' getters and the tables from their columns: each value
    has the declared type (an int column never gets text, nor a float), in the declared column."""
    r1, _ = simulate_day()
    batch = ledger_rows(r1.ledger(DATE))
    assert list(batch.rows) == [t.name for t in RECORD_TABLES]
    for table in RECORD_TABLES:
        rows = batch.rows[table.name]
        assert rows, f"the simulated day has no {table.name}"
        for row in rows:
            _holds_declared_types(table.fixed, row.fixed)
            _holds_declared_types(table.mutable, row.state)
            for child in table.children:
                for line in row.children[child.name]:
                    _holds_declared_types(child.columns, line)


async def test_a_simulated_day_materialises_as_the_model_reads_it(venue_db: ConsoleDB) -> None:
    r1, r2 = simulate_day()
    ledger = r1.ledger(DATE)
    result = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    assert result.alarms == ()
    counts = {name: c.inserted for name, c in result.tables.items()}
    assert counts == {
        "shifts": 2, "orders": 7, "payments": 6, "receipts": 5, "refunds": 2, "cash_moves": 2,
        "inventory_moves": len(ledger.inventory()), "no_sales": 1,
    }  # fmt: skip
    assert_matches_model(await dump(venue_db), ledger)

    totals = await venue_db.totals(VENUE)
    assert totals["receipts"] == 5
    assert totals["sales"] == sum(r.total for r in ledger.receipts())
    assert totals["tax"] == sum(r.tax for r in ledger.receipts())
    assert totals["payments"] == sum(p.amount for p in ledger.payments()) == totals["sales"]
    assert totals["tips"] == sum(p.tip for p in ledger.payments()) == 150
    assert totals["refunds"] == sum(f.amount for f in ledger.refunds())
    assert totals["net_sales"] == totals["sales"] - totals["refunds"]
    assert (totals["cash_in"], totals["cash_out"]) == (2_000, 500)
    assert (totals["orders_open"], totals["shifts_open"]) == (1, 1)
    assert await venue_db.totals(VENUE, "2025-11-26") == dict.fromkeys(totals, 0)
    assert all(type(v) is int for v in totals.values())

    report = await venue_db.receipt_report(VENUE, DATE)
    assert [r["number"] for r in report] == [r.number for r in ledger.receipts()]
    refunded = {f.receipt_id: 0 for f in ledger.refunds()}
    for f in ledger.refunds():
        refunded[f.receipt_id] += f.amount
    assert {r["id"]: r["refunded"] for r in report if r["refunded"]} == refunded
    page = await venue_db.receipt_report(VENUE, limit=2, offset=1)
    assert [r["id"] for r in page] == [r["id"] for r in report[1:3]]

    shifts = {s["register"]: s for s in await venue_db.shift_report(VENUE)}
    closed = r1.ledger(DATE).shifts()[0]
    assert closed.close is not None
    assert shifts["R1"]["expected_cash"] == closed.close.expected_cash
    assert shifts["R1"]["drawer_expected"] == closed.close.expected_cash  # console agrees with R1
    assert shifts["R1"]["difference"] == -30
    open_shift = r2.open_shift()
    assert open_shift is not None
    assert shifts["R2"]["closed_at_ms"] is None
    assert shifts["R2"]["drawer_expected"] == r2.expected_cash(open_shift)
    assert shifts["R1"]["sales"] + shifts["R2"]["sales"] == totals["sales"]


async def test_materialising_twice_changes_nothing(venue_db: ConsoleDB) -> None:
    r1, _ = simulate_day()
    first = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    before = await dump(venue_db)
    again = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW + 99_999)
    assert not again.changed
    assert {n: c.unchanged for n, c in again.tables.items()} == {
        n: c.inserted for n, c in first.tables.items()
    }
    assert await dump(venue_db) == before
    assert await venue_db.alarms(VENUE) == []


async def test_divergent_replicas_merge_and_materialise(venue_db: ConsoleDB) -> None:
    r1 = make_register("R1")
    r2 = make_register("R2", catalog_from=r1)
    r1.open_shift_now(CASHIER, 1_000, NOW)
    r2.open_shift_now(CASHIER, 2_000, NOW)
    shared = r1.open_order(CASHIER, NOW + 1, table="4")
    r1.add_line(CASHIER, shared.id, "burger", 1, NOW + 2)
    sync(r1, r2)
    # partition: both sell, and both add to the shared open order
    sell(r1, ("espresso", 2), at=NOW + 10)
    r2.add_line(CASHIER, shared.id, "fries", 2, NOW + 11)
    sell(r2, ("lemonade", 1), method="card", at=NOW + 12)
    first = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    second = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r2))
    assert second.tables["orders"].updated == 1  # the shared order grew on R2
    assert second.tables["receipts"].inserted == 1
    assert first.alarms == second.alarms == ()
    sync(r1, r2)
    r1.pay(CASHIER, shared.id, "card", NOW + 20)  # after the merge R1 settles the shared order
    sync(r1, r2)
    merged = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r2))
    assert merged.tables["orders"].updated == 1
    assert merged.alarms == ()
    ledger = r2.ledger(DATE)
    assert_matches_model(await dump(venue_db), ledger)
    row = next(o for o in await venue_db.records(VENUE, "orders") if o["id"] == shared.id)
    assert (row["status"], row["line_count"]) == ("paid", 2)
    assert (await venue_db.totals(VENUE))["sales"] == sum(r.total for r in ledger.receipts())


async def test_an_order_paid_on_two_registers_is_alarmed(venue_db: ConsoleDB) -> None:
    r1 = make_register("R1")
    r2 = make_register("R2", catalog_from=r1)
    r1.open_shift_now(CASHIER, 0, NOW)
    r2.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    sync(r1, r2)
    r1.pay(CASHIER, order.id, "cash", NOW + 1)
    r2.pay(CASHIER, order.id, "card", NOW + 2)
    sync(r1, r2)
    result = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    kinds = sorted(a.kind for a in result.alarms)
    assert kinds == ["double_receipt", "overpaid"]
    assert all(a.record_id == order.id and a.new for a in result.alarms)
    assert result.tables["payments"].inserted == 2  # both are facts: the money was taken twice
    again = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    assert sorted(a.kind for a in again.alarms) == kinds
    assert not any(a.new for a in again.alarms)
    assert not again.changed
    assert len(await venue_db.alarms(VENUE)) == 2


def payment_path(doc: Doc[Any], payment: Payment) -> list[str]:
    """Where a payment is stored: ``payments/<id>`` in its order's map, or the key of the receipt it
    issued (``ledger_layout.receipt_payment``)."""
    order_map = doc.get("orders", type=Map)[payment.order_id]
    key = next(k for k, v in order_map.items() if payment.id in k or payment.id in str(v))
    return ["orders", payment.order_id, key]


def _rewrite(doc: Doc[Any], path: list[str], **changes: Any) -> None:
    """Overwrite one raw record in place, as a buggy or hostile peer could."""
    container = doc.get(path[0], type=Map)
    for key in path[1:-1]:
        container = container[key]
    stored = container[path[-1]]
    record = json.loads(stored) if isinstance(stored, str) else dict(stored)  # JSON text, or a map
    record.update(changes)
    container[path[-1]] = json.dumps(record) if isinstance(stored, str) else record


async def test_same_id_different_content_is_alarmed_not_overwritten(venue_db: ConsoleDB) -> None:
    r1, _ = simulate_day()
    await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    before = await dump(venue_db)
    ledger = r1.ledger(DATE)
    receipt = ledger.receipts()[0]
    payment = ledger.payments()[0]
    refund = ledger.refunds()[0]
    move = ledger.cash_moves()[0]
    stock = next(m for m in ledger.inventory() if m.kind == "refund")  # a stored one
    shift = ledger.shifts()[0]
    forged = ledger_doc(r1)
    _rewrite(forged, ["receipts", receipt.id], total=1)
    _rewrite(forged, payment_path(forged, payment), amount=1)
    _rewrite(forged, ["refunds", refund.id], amount=999_999)
    _rewrite(forged, ["cash_moves", move.id], amount=7)
    _rewrite(forged, ["inventory", stock.id], quantity=500)
    _rewrite(forged, ["shifts", shift.id], opening_cash=0)
    result = await materialise(venue_db, VENUE, LEDGER, forged, at_ms=NOW + 5)
    changed = {a.table: a for a in result.alarms if a.kind == "changed_record"}
    assert set(changed) == {
        "receipts",
        "payments",
        "refunds",
        "cash_moves",
        "inventory_moves",
        "shifts",
    }
    for table in changed:
        assert result.tables[table].alarms == 1
    assert changed["receipts"].record_id == receipt.id
    old_digest = next(r["digest"] for r in before["receipts"] if r["id"] == receipt.id)
    assert changed["receipts"].old_digest == old_digest != changed["receipts"].new_digest
    assert '"total":1' in changed["receipts"].detail
    assert changed["receipts"].first_seen_ms == NOW + 5
    after = await dump(venue_db)
    orders_before, orders_after = before.pop("orders"), after.pop("orders")
    assert after == before  # no money record was overwritten
    # an order's totals are derived (mutable by design): they follow what the document says now
    diff = [(b, a) for b, a in zip(orders_before, orders_after, strict=True) if a != b]
    assert [(b["id"], b["paid"] - a["paid"]) for b, a in diff] == [
        (payment.order_id, payment.amount - 1)
    ]
    after["orders"] = orders_after
    assert len(await venue_db.alarms(VENUE)) == 6 + len(
        [a for a in result.alarms if a.kind != "changed_record"]
    )

    again = await materialise(venue_db, VENUE, LEDGER, forged, at_ms=NOW + 9)
    assert {a.table for a in again.alarms if a.kind == "changed_record"} == set(changed)
    assert all(not a.new and a.first_seen_ms == NOW + 5 for a in again.alarms)
    assert await dump(venue_db) == after


async def test_shift_close_updates_in_place(venue_db: ConsoleDB) -> None:
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 1_000, NOW)
    sell(r1, ("burger", 1), at=NOW + 1)
    first = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    assert first.tables["shifts"].inserted == 1
    r1.close_shift(CASHIER, 2_250, NOW + 2)
    second = await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1))
    assert second.tables["shifts"].updated == 1
    assert second.alarms == ()
    (row,) = await venue_db.shift_report(VENUE)
    assert (row["counted_cash"], row["expected_cash"], row["difference"]) == (2_250, 2_250, 0)
    assert row["drawer_expected"] == 2_250


async def test_materialise_stored_document(venue_db: ConsoleDB) -> None:
    r1, _ = simulate_day()
    # what a relay uploads: every update R1 captured (its own and those merged from R2)
    updates = [u.update for u in r1.replica.take_updates() if u.document == LEDGER]
    assert len(updates) > 20
    for i in range(0, len(updates), 8):
        await venue_db.append_updates(VENUE, LEDGER, updates[i : i + 8])
    result = await materialise_stored(venue_db, VENUE, LEDGER)
    assert result.tables["receipts"].inserted == 5
    assert_matches_model(await dump(venue_db), r1.ledger(DATE))
    empty = await materialise_stored(venue_db, VENUE, "ledger/2025-11-26")
    assert empty.inserted == 0


async def test_other_documents_have_no_rows(venue_db: ConsoleDB) -> None:
    r1, _ = simulate_day()
    for name in ("catalog", "stoplist", f"kitchen/{DATE}"):
        result = await materialise(venue_db, VENUE, name, r1.replica.doc(name))
        assert result.tables == {}
        assert not result.changed
    with pytest.raises(StoreError, match="not a meshpos document name"):
        await materialise(venue_db, VENUE, "ledger/yesterday", Doc())


async def test_a_corrupt_record_is_skipped_with_an_alarm_and_the_rest_of_the_day_reported(
    venue_db: ConsoleDB,
) -> None:
    r1, _ = simulate_day()
    doc = ledger_doc(r1)
    receipts = r1.ledger(DATE).receipts()
    receipt = receipts[-1]
    _rewrite(doc, ["receipts", receipt.id], total=12.5)
    result = await materialise(venue_db, VENUE, LEDGER, doc)
    stored = {row["id"] for row in await venue_db.records(VENUE, "receipts")}
    assert stored == {r.id for r in receipts} - {receipt.id}
    corrupt = [a for a in result.alarms if a.kind == "corrupt_record"]
    assert len(corrupt) == 1, result.alarms
    assert receipt.id in corrupt[0].record_id
    assert "total" in corrupt[0].detail


async def test_unknown_venue_is_refused(db: ConsoleDB) -> None:
    r1, _ = simulate_day()
    with pytest.raises(StoreError, match="unknown venue"):
        await materialise(db, VENUE, LEDGER, ledger_doc(r1))
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    with pytest.raises(StoreError, match="unknown table"):
        await db.records(VENUE, "venues")


async def test_venues_do_not_see_each_other(venue_db: ConsoleDB) -> None:
    await venue_db.add_venue("cafe-2", "Other", hash_token(new_venue_token()))
    r1, _ = simulate_day()
    doc = ledger_doc(r1)
    await materialise(venue_db, VENUE, LEDGER, doc)
    result = await materialise(venue_db, "cafe-2", LEDGER, doc)  # same UUIDs, other venue
    assert result.alarms == ()
    assert result.tables["receipts"].inserted == 5
    assert (await venue_db.totals("cafe-2")) == (await venue_db.totals(VENUE))
