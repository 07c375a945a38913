"""Where an order is now, and who approved its discounts, at the console (issue 17, schema 7).

An order's ``table_label`` and ``tab`` are where it was opened: insert-only, in the row's digest, so a
move never raised an alarm and never reached the console. Schema 7 adds ``current_table`` and
``current_tab`` as mutable columns (out of the digest), and the discounts' approvers in the mutable
``line_detail`` and ``order_discounts``: a schema-6 console's stored rows keep their digests, raise no
``changed_record`` alarm, and get where the order is once their day is materialised again. A removed
line's void detail says whether the kitchen had it, so the voids report lists line voids too.
"""

from __future__ import annotations

import json
from typing import Any

from pycrdt import Doc

from meshpos.console import ConsoleDB, hash_token, manager_reports, new_venue_token, open_console_db
from meshpos.console.manager_reports import Days, ReceiptSearch
from meshpos.console.materialise import materialise
from meshpos.model import Venue
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, ledger_doc, make_register
from .test_console_shared import _as_schema

DAYS = Days(DATE, DATE)


def _moved_day() -> tuple[Venue, str, str]:
    """R1: an order opened at table 4, moved to table 7, with a line and an order discount a manager
    approved for the cashier, then paid; a second order opened on no table, still open."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW + 1, table="4")
    r1.add_line(
        CASHIER, order.id, "croissant", 2, NOW + 2, discount_id="staff", approved_by=MANAGER
    )
    r1.add_line(CASHIER, order.id, "espresso", 1, NOW + 3)
    r1.apply_order_discount(CASHIER, order.id, "happy", NOW + 4, approved_by=MANAGER)
    r1.set_place(CASHIER, order.id, NOW + 5, table="7", tab="")
    paid = r1.pay(CASHIER, order.id, "card", NOW + 6)
    assert paid.receipt is not None
    still_open = r1.open_order(CASHIER, NOW + 7)
    r1.add_line(CASHIER, still_open.id, "espresso", 1, NOW + 7)
    return r1, paid.receipt.id, still_open.id


async def _orders(db: ConsoleDB) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in await db.records(VENUE, "orders")}


async def _receipt(db: ConsoleDB, receipt_id: str) -> dict[str, Any]:
    found = await db.report(lambda cur: manager_reports.receipt_detail(cur, VENUE, receipt_id))
    assert found is not None
    return found


async def _found_by_table(db: ConsoleDB, table: str) -> list[str]:
    search = ReceiptSearch(table=table)
    _, rows = await db.report(lambda cur: manager_reports.receipts(cur, VENUE, DAYS, search, 50, 0))
    return [str(r["table"]) for r in rows]


async def _new_db(url: str, doc: Doc[Any]) -> ConsoleDB:
    db = await open_console_db(url)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    await materialise(db, VENUE, LEDGER, doc)
    return db


async def test_a_schema_6_console_gets_where_orders_are_without_alarms(db_url: str) -> None:
    r1, receipt_id, _ = _moved_day()
    doc = ledger_doc(r1)
    db = await _new_db(db_url, doc)
    stored = {k: o["digest"] for k, o in (await _orders(db)).items()}
    await db.close()
    _as_schema(db_url, 6)  # what a schema-6 console stored: the same digests, no current place

    db = await open_console_db(db_url)
    try:
        before = await _orders(db)
        assert {o["current_table"] for o in before.values()} == {None}  # not known yet
        # until its day is materialised again a report shows where the order was opened
        assert (await _receipt(db, receipt_id))["table"] == "4"

        again = await materialise(db, VENUE, LEDGER, doc)
        assert again.alarms == ()
        assert await db.alarms(VENUE) == []
        assert again.tables["orders"].updated == len(before)  # each filled in once
        after = await _orders(db)
        assert {k: o["digest"] for k, o in after.items()} == stored  # insert-only part unchanged
        moved = next(o for o in after.values() if o["table_label"] == "4")
        assert (moved["current_table"], moved["current_tab"]) == ("7", "")
        detail = await _receipt(db, receipt_id)
        assert (detail["table"], detail["opened_table"]) == ("7", "4")
        assert await _found_by_table(db, "7") == ["7"]  # where it is now
        assert await _found_by_table(db, "4") == ["7"]  # and where it was opened
        assert not (await materialise(db, VENUE, LEDGER, doc)).changed
    finally:
        await db.close()


async def test_a_move_after_upload_updates_the_order_without_an_alarm(db_url: str) -> None:
    r1, _, still_open = _moved_day()
    db = await _new_db(db_url, ledger_doc(r1))
    try:
        first = (await _orders(db))[still_open]
        assert (first["table_label"], first["current_table"], first["current_tab"]) == ("", "", "")
        r1.set_place(CASHIER, still_open, NOW + 20, table="", tab="Smith")
        later = await materialise(db, VENUE, LEDGER, ledger_doc(r1))
        assert later.alarms == ()
        assert later.tables["orders"].updated == 1
        row = (await _orders(db))[still_open]
        assert (row["current_table"], row["current_tab"], row["digest"]) == (
            "",
            "Smith",
            first["digest"],
        )
    finally:
        await db.close()


async def test_discount_approvers_are_named_at_the_console(db_url: str) -> None:
    r1, receipt_id, _ = _moved_day()
    db = await _new_db(db_url, ledger_doc(r1))
    try:
        detail = await _receipt(db, receipt_id)
        by_name = {line["name"]: line["discount_approved_by"] for line in detail["lines"]}
        assert by_name == {"Croissant": MANAGER, "Espresso": ""}
        assert [(d["discount_id"], d["approved_by"]) for d in detail["order_discounts"]] == [
            ("happy", MANAGER)
        ]
        order = next(o for o in (await _orders(db)).values() if o["table_label"] == "4")
        lines = json.loads(order["line_detail"])
        assert {ln["name"]: ln["approved_by"] for ln in lines} == by_name
    finally:
        await db.close()


async def test_a_line_voided_after_the_kitchen_had_it_is_in_the_voids_report(db_url: str) -> None:
    """Only a void: not a line removed before it was sent (a correction), nor one split off to
    another bill (still sold)."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW + 1, table="5")
    for product, quantity in (("burger", 2), ("fries", 1), ("lemonade", 1)):
        r1.add_line(CASHIER, order.id, product, quantity, NOW + 2)
    burger, fries, lemonade = r1.order(order.id).lines
    r1.send_to_kitchen(CASHIER, order.id, NOW + 3)
    r1.remove_line(CASHIER, order.id, burger.id, NOW + 4, "dropped", approved_by=MANAGER)
    r1.split_order(CASHIER, order.id, {fries.id: 1}, NOW + 5)
    r1.add_line(CASHIER, order.id, "espresso", 1, NOW + 6)
    espresso = next(ln for ln in r1.order(order.id).lines if ln.product_id == "espresso")
    r1.remove_line(CASHIER, order.id, espresso.id, NOW + 7, "typo")  # never sent: a correction
    assert lemonade.id in {ln.id for ln in r1.order(order.id).lines}
    db = await _new_db(db_url, ledger_doc(r1))
    try:
        found = await db.report(lambda cur: manager_reports.voids(cur, VENUE, DAYS))
        assert [
            (v["id"], v["voided"], v["table"], v["lines"], v["voided_by"], v["reason"])
            for v in found
        ] == [
            (order.id, "line", "5", [{"name": "Burger", "quantity": 2}], CASHIER, "dropped"),
        ]
        assert found[0]["approved_by"] == MANAGER
    finally:
        await db.close()
