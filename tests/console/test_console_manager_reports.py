"""Reports a manager reads at the console (issue 16), on SQLite and PostgreSQL: every figure is checked
against what the model says the simulated day holds (tests/console/day.py), every answer against the
console's OpenAPI document, and every date-range query against SQLite's plan (an index, never a scan of
the venue's history)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from meshpos.console import (
    ConsoleDB,
    hash_token,
    materialise,
    new_venue_token,
    open_console_db,
    stock_reports,
)
from meshpos.console import manager_reports as q
from meshpos.console.api import make_console_handler
from meshpos.console.cursor import Cursor
from meshpos.console.report_range import MAX_RANGE_DAYS
from meshpos.console.server import ConsoleServer
from meshpos.httpapi.server import HttpServer
from meshpos.model import Venue
from meshpos.model.sample import CASHIER, MANAGER

from ..web.kit import Client
from .conftest import VENUE
from .day import DATE, LEDGER, NOW, ledger_doc, simulate_day
from .test_console_shared import _as_schema as as_schema

TOKEN = "reports-admin-token"
BASE = f"/api/venues/{VENUE}/reports"
DAY = f"from={DATE}&to={DATE}"


@pytest.fixture
async def day(venue_db: ConsoleDB) -> AsyncIterator[tuple[Client, Venue, ConsoleDB]]:
    """The simulated day materialised, the catalog stored, the console's API on loopback."""
    r1, _r2 = simulate_day()
    await venue_db.append_updates(VENUE, "catalog", [r1.replica.doc("catalog").get_update()])
    await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    server = ConsoleServer(venue_db, "127.0.0.1", 0)
    api = HttpServer(make_console_handler(server, TOKEN), "127.0.0.1", 0)
    await api.start()
    try:
        base = f"http://127.0.0.1:{api.port}"
        doc = await Client(base, "").ok("GET", "/api/openapi.json")
        yield Client(base, TOKEN, doc), r1, venue_db
    finally:
        await api.stop()


def _names(venue: Venue) -> dict[str, str]:
    return {u.id: u.name for u in venue.catalog.users()}


async def test_receipts_are_searched_by_number_table_cashier_and_amount_a_page_at_a_time(
    day: tuple[Client, Venue, ConsoleDB],
) -> None:
    client, r1, _ = day
    ledger = r1.ledger(DATE)
    receipts = sorted(ledger.receipts(), key=lambda r: (r.issued_at_ms, r.number, r.id))
    found = await client.ok("GET", f"{BASE}/receipts?{DAY}")
    assert found["total"] == len(receipts) > 3
    assert [r["number"] for r in found["items"]] == [r.number for r in receipts]
    names = _names(r1)
    assert {r["cashier"] for r in found["items"]} == {names[r.user] for r in receipts}
    refunded = Counter[str]()
    for refund in ledger.refunds():
        refunded[refund.receipt_id] += refund.amount
    assert {r["id"]: r["refunded"] for r in found["items"]} == {
        r.id: refunded[r.id] for r in receipts
    }

    page = await client.ok("GET", f"{BASE}/receipts?{DAY}&limit=2&offset=2")
    assert (page["total"], [r["id"] for r in page["items"]]) == (
        len(receipts),
        [r.id for r in receipts[2:4]],
    )

    one = receipts[1]
    by_number = await client.ok("GET", f"{BASE}/receipts?{DAY}&number={one.number.lower()[-3:]}")
    assert one.id in {r["id"] for r in by_number["items"]}
    assert all(one.number[-3:] in r["number"] for r in by_number["items"])
    exact = await client.ok("GET", f"{BASE}/receipts?{DAY}&number={one.number}")
    assert [r["id"] for r in exact["items"]] == [one.id]

    tables = {o.id: o.table for o in ledger.orders()}
    at_seven = await client.ok("GET", f"{BASE}/receipts?{DAY}&table=7")
    assert [r["id"] for r in at_seven["items"]] == [
        r.id for r in receipts if tables[r.order_id] == "7"
    ]
    assert at_seven["items"]
    assert all(r["table"] == "7" for r in at_seven["items"])

    cashier = names[CASHIER]
    by_cashier = await client.ok("GET", f"{BASE}/receipts?{DAY}&cashier={cashier[:3].upper()}")
    assert [r["id"] for r in by_cashier["items"]] == [r.id for r in receipts if r.user == CASHIER]
    nobody = await client.ok("GET", f"{BASE}/receipts?{DAY}&cashier=nobody-at-all")
    assert nobody == {
        "total": 0,
        "limit": 50,
        "offset": 0,
        "currency": r1.catalog.settings().currency,
        "items": [],
    }

    by_amount = await client.ok("GET", f"{BASE}/receipts?{DAY}&amount={one.total}")
    assert [r["id"] for r in by_amount["items"]] == [r.id for r in receipts if r.total == one.total]

    other_day = await client.ok("GET", f"{BASE}/receipts?from=2025-11-26&to=2026-01-31")
    assert other_day["total"] == 0


async def test_a_receipts_detail_has_its_lines_modifiers_discounts_payments_and_refunds(
    day: tuple[Client, Venue, ConsoleDB],
) -> None:
    client, r1, _ = day
    ledger = r1.ledger(DATE)
    orders = {o.id: o for o in ledger.orders()}
    refunds = ledger.refunds()
    for receipt in ledger.receipts():
        detail = await client.ok("GET", f"{BASE}/receipts/{receipt.id}")
        order = orders[receipt.order_id]
        assert (detail["number"], detail["register"], detail["total"]) == (
            receipt.number,
            receipt.register,
            receipt.total,
        )
        assert detail["cashier"] == _names(r1)[receipt.user]
        assert detail["issued_at_ms"] == receipt.issued_at_ms
        assert (detail["table"], detail["opened_table"]) == (order.table, order.opened_table)
        lines = {line.id: line for line in order.lines}
        assert [x["line_id"] for x in detail["lines"]] == [x.line_id for x in receipt.lines]
        for shown in detail["lines"]:
            line = lines[shown["line_id"]]
            assert [m["name"] for m in shown["modifiers"]] == [m.name for m in line.modifiers]
            assert shown["discount_id"] == line.discount_id
            by = line.approved_by  # who approved its discount, by name too (schema 7)
            assert (shown["discount_approved_by"], shown["discount_approved_by_name"]) == (
                by,
                _names(r1)[by] if by else "",
            )
        assert [(d["discount_id"], d["kind"], d["value"]) for d in detail["order_discounts"]] == [
            *order.discounts
        ]
        assert [d["approved_by"] for d in detail["order_discounts"]] == [
            *order.discounts_approved_by
        ]
        assert sorted(p["id"] for p in detail["payments"]) == sorted(receipt.payment_ids)
        assert sum(p["amount"] for p in detail["payments"]) == receipt.total
        mine = [f for f in refunds if f.receipt_id == receipt.id]
        assert sorted((f["id"], f["amount"]) for f in detail["refunds"]) == sorted(
            (f.id, f.amount) for f in mine
        )
        for shown, refund in zip(
            sorted(detail["refunds"], key=lambda f: f["id"]),
            sorted(mine, key=lambda f: f.id),
            strict=True,
        ):
            assert [(x["line_id"], x["quantity"]) for x in shown["lines"]] == [
                (x.line_id, x.quantity) for x in refund.lines
            ]
        assert detail["shift"]["opened_at_ms"] is not None
    # what the day shows: modifiers, a line discount and an order discount are all there
    shown = [await client.ok("GET", f"{BASE}/receipts/{r.id}") for r in ledger.receipts()]
    assert any(m for d in shown for line in d["lines"] for m in line["modifiers"])
    assert any(line["discount_id"] for d in shown for line in d["lines"])
    assert any(d["order_discounts"] for d in shown)
    assert any(line["discount_approved_by_name"] for d in shown for line in d["lines"])
    assert any(x["approved_by_name"] for d in shown for x in d["order_discounts"])
    await client.error(404, "unknown_receipt", "GET", f"{BASE}/receipts/no-such-receipt")


async def test_sales_by_product_category_cashier_and_hour_add_up_to_the_receipts(
    day: tuple[Client, Venue, ConsoleDB],
) -> None:
    client, r1, _ = day
    receipts = r1.ledger(DATE).receipts()
    quantity, amount = Counter[str](), Counter[str]()
    for receipt in receipts:
        for line in receipt.lines:
            quantity[line.product_id] += line.quantity
            amount[line.product_id] += line.amount
    by_product = await client.ok("GET", f"{BASE}/sales?{DAY}&by=product")
    assert {r["product_id"]: (r["quantity"], r["amount"]) for r in by_product} == {
        p: (quantity[p], amount[p]) for p in quantity
    }
    category = {p.id: p.category for p in r1.catalog.products()}
    by_category = await client.ok("GET", f"{BASE}/sales?{DAY}&by=category")
    expected = Counter[str]()
    for product, value in amount.items():
        expected[category[product]] += value
    assert {r["category"]: r["amount"] for r in by_category} == dict(expected)
    by_cashier = await client.ok("GET", f"{BASE}/sales?{DAY}&by=cashier")
    totals = Counter[str]()
    for receipt in receipts:
        totals[receipt.user] += receipt.total
    names = _names(r1)
    assert {r["cashier"]: r["total"] for r in by_cashier} == {
        names[u]: t for u, t in totals.items()
    }
    by_hour = await client.ok("GET", f"{BASE}/sales?{DAY}&by=hour")
    hours = Counter[int]()
    for receipt in receipts:  # the sample venue's time zone is UTC
        hours[receipt.issued_at_ms // 3_600_000 % 24] += receipt.total
    assert {r["hour"]: r["total"] for r in by_hour} == dict(hours)


async def test_refunds_voids_and_shifts_with_x_and_z_reports(
    day: tuple[Client, Venue, ConsoleDB],
) -> None:
    client, r1, _ = day
    ledger = r1.ledger(DATE)
    refunds = await client.ok("GET", f"{BASE}/refunds?{DAY}")
    numbers = {r.id: r.number for r in ledger.receipts()}
    assert sorted((f["id"], f["amount"], f["number"]) for f in refunds) == sorted(
        (f.id, f.amount, numbers[f.receipt_id]) for f in ledger.refunds()
    )
    assert all(f["cashier"] == _names(r1)[MANAGER] for f in refunds)
    voids = await client.ok("GET", f"{BASE}/voids?{DAY}")
    assert [v["id"] for v in voids] == [o.id for o in ledger.orders() if o.status == "void"]

    shifts = {s["id"]: s for s in await client.ok("GET", f"{BASE}/shifts?{DAY}")}
    model = {s.id: s for s in ledger.shifts()}
    assert set(shifts) == set(model)
    for shift_id, shift in model.items():
        shown = shifts[shift_id]
        if shift.close is None:
            assert (shown["report"], shown["cash_difference"]) == ("X", None)
        else:
            assert shown["report"] == "Z"
            assert shown["counted_cash"] == shift.close.counted_cash
            assert shown["cash_difference"] == shift.close.counted_cash - shown["drawer_expected"]
            assert shown["cash_difference"] == shift.close.difference  # the register agrees
    assert {s["report"] for s in shifts.values()} == {"X", "Z"}


def _on_hand(venue: Venue) -> Counter[str]:
    out = Counter[str]()
    for move in venue.ledger(DATE).inventory():
        out[move.product_id] += stock_reports.STOCK_SIGN[move.kind] * move.quantity
    return out


async def test_stock_on_hand_and_movements_with_supplies_and_write_offs_entered_here(
    day: tuple[Client, Venue, ConsoleDB],
) -> None:
    client, r1, _ = day
    expected = _on_hand(r1)
    stock = {s["product_id"]: s for s in await client.ok("GET", f"{BASE}/stock")}
    assert {p: s["on_hand"] for p, s in stock.items() if s["on_hand"]} == {
        p: n for p, n in expected.items() if n
    }
    assert stock["croissant"]["name"] == r1.catalog.product("croissant").name

    path = f"/api/venues/{VENUE}/stock"
    entry = await client.ok("POST", path, {"product_id": "croissant", "kind": "supply", "quantity": 12, "note": "bakery"})  # fmt: skip
    await client.ok("POST", path, {"product_id": "croissant", "kind": "write_off", "quantity": 5})
    after = {s["product_id"]: s["on_hand"] for s in await client.ok("GET", f"{BASE}/stock")}
    assert after["croissant"] == expected["croissant"] + 12 - 5

    today = entry["business_date"]
    moves = [
        *await client.ok("GET", f"{BASE}/stock/croissant?{DAY}"),
        *await client.ok("GET", f"{BASE}/stock/croissant?from={today}&to={today}"),
    ]
    assert sum(m["change"] for m in moves) == after["croissant"]
    assert [m["change"] for m in moves if m["source"] == "console"] == [12, -5]
    assert {m["kind"] for m in moves} >= {"sale", "supply", "writeoff", "write_off"}
    numbers = {r.id: r.number for r in r1.ledger(DATE).receipts()}
    sold = [m for m in moves if m["kind"] == "sale"]
    assert sold
    assert all(m["receipt_number"] == numbers[m["note"]] for m in sold)
    audited = await client.ok("GET", f"/api/venues/{VENUE}/audit")
    assert [(a["action"], a["subject"], a["detail"]["after"]["quantity"]) for a in audited] == [
        ("stock.write_off", "croissant", 5),
        ("stock.supply", "croissant", 12),
    ]  # newest first

    # refused, nothing stored
    await client.error(404, "unknown_product", "POST", path, {"product_id": "nope", "kind": "supply", "quantity": 1})  # fmt: skip
    message = await client.error(400, "bad_field", "POST", path, {"product_id": "croissant", "kind": "supply", "quantity": 0})  # fmt: skip
    assert "quantity" in message
    again = {s["product_id"]: s["on_hand"] for s in await client.ok("GET", f"{BASE}/stock")}
    assert again == after
    assert await client.ok("GET", f"/api/venues/{VENUE}/audit") == audited


async def test_every_report_exports_csv(day: tuple[Client, Venue, ConsoleDB]) -> None:
    client, r1, _ = day
    receipts = r1.ledger(DATE).receipts()
    for path, rows in (
        (f"receipts?{DAY}&limit=1", len(receipts)),  # the export is every match, not the page
        (f"sales?{DAY}&by=product", None),
        (f"shifts?{DAY}", None),
        (f"refunds?{DAY}", None),
        (f"voids?{DAY}", None),
        ("stock?", None),
        (f"stock/croissant?{DAY}", None),
    ):
        answer = await client.call("GET", f"{BASE}/{path}&format=csv")
        assert answer.status == 200, answer.body
        assert answer.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(answer.body.decode())))
        json_rows = await client.ok("GET", f"{BASE}/{path}".replace("&limit=1", ""))
        items = json_rows["items"] if isinstance(json_rows, dict) else json_rows
        assert len(table) - 1 == (rows if rows is not None else len(items)) > 0, path


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("from=2025-13-01&to=2025-11-25", 400, "bad_field", "from"),
        ("from=2025-11-25", 400, "missing_field", "to"),
        ("from=2025-11-25&to=yesterday", 400, "bad_field", "to"),
        ("from=2025-11-26&to=2025-11-25", 422, "bad_range", "to"),
        ("from=2025-02-30&to=2025-03-01", 422, "bad_range", "from"),
        (f"from=2024-01-01&to={2024 + MAX_RANGE_DAYS // 365}-01-02", 422, "bad_range", "to"),
        (f"{DAY}&limit=0", 400, "bad_field", "limit"),
        (f"{DAY}&amount=-1", 400, "bad_field", "amount"),
        (f"{DAY}&format=xlsx", 400, "bad_field", "format"),
    ],
)
async def test_a_bad_range_or_parameter_is_refused_naming_it(
    day: tuple[Client, Venue, ConsoleDB], query: str, status: int, code: str, field: str
) -> None:
    client, _, _ = day
    message = await client.error(status, code, "GET", f"{BASE}/receipts?{query}")
    assert repr(field) in message, message


class Recording:
    """A cursor that notes every statement it runs (to ask SQLite how it runs them)."""

    def __init__(self, cur: Cursor) -> None:
        self.cur = cur
        self.statements: list[tuple[str, Sequence[Any]]] = []

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append((sql, params))
        return await self.cur.fetchall(sql, params)


async def test_a_date_range_report_reads_its_days_through_indexes(tmp_path: Path) -> None:
    """SQLite's plan of every statement of a range report: no table read whole (PostgreSQL plans
    tables this small as scans whatever their indexes, so the plans are SQLite's)."""
    db = await open_console_db(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
        r1, _r2 = simulate_day()
        await materialise(db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
        await _check_plans(db, r1)
    finally:
        await db.close()


async def _check_plans(db: ConsoleDB, r1: Venue) -> None:
    days = q.Days(DATE, DATE)
    receipt = r1.ledger(DATE).receipts()[0]
    reports: list[Callable[[Any], Awaitable[Any]]] = [
        lambda cur: q.receipts(cur, VENUE, days, q.ReceiptSearch("1", "7", ("u",), 5), 10, 0),
        lambda cur: q.receipt_detail(cur, VENUE, receipt.id),
        lambda cur: q.sales_by_product(cur, VENUE, days),
        lambda cur: q.sales_by_cashier(cur, VENUE, days),
        lambda cur: q.sales_by_quarter(cur, VENUE, days),
        lambda cur: q.refunds(cur, VENUE, days),
        lambda cur: q.voids(cur, VENUE, days),
        lambda cur: q.shifts(cur, VENUE, days),
        lambda cur: stock_reports.stock_movements(cur, VENUE, "croissant", days),
    ]
    for report in reports:

        async def plans(cur: Cursor, report: Any = report) -> list[str]:
            recording = Recording(cur)
            await report(recording)
            out = []
            for sql, params in recording.statements:
                rows = await cur.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)
                out += [str(row[-1]) for row in rows]
            return out

        steps = await db.report(plans)
        scans = [s for s in steps if s.startswith("SCAN") and "USING" not in s]
        assert steps
        assert not scans, f"{report}: {steps}"
        assert any("INDEX" in s for s in steps), steps


async def test_a_schema_4_database_gets_the_reports_tables_and_fills_orders_detail_again(
    db_url: str,
) -> None:
    """Rows stored before schema 5 have no line detail: the detail shows their lines without
    modifiers (never an error), and the day's next materialisation fills it in."""
    db = await open_console_db(db_url)
    r1, _r2 = simulate_day()
    try:
        await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
        await materialise(db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    finally:
        await db.close()
    as_schema(db_url, 4)

    db = await open_console_db(db_url)
    try:
        latte = next(
            r for r in r1.ledger(DATE).receipts() if any(x.product_id == "latte" for x in r.lines)
        )
        old = await db.report(lambda cur: q.receipt_detail(cur, VENUE, latte.id))
        assert old is not None
        assert [x["modifiers"] for x in old["lines"]] == [[]]
        await materialise(db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW + 1)
        again = await db.report(lambda cur: q.receipt_detail(cur, VENUE, latte.id))
        assert again is not None
        assert [m["id"] for m in again["lines"][0]["modifiers"]] == ["large", "oat"]
        entry = stock_reports.StockEntry("e1", "croissant", 3, "supply", "", "console", NOW, DATE)
        await db.add_stock_entry(VENUE, entry)
        on_hand = await db.report(lambda cur: stock_reports.stock_on_hand(cur, VENUE))
        assert on_hand["croissant"] == _on_hand(r1)["croissant"] + 3
    finally:
        await db.close()
