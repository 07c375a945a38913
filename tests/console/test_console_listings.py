"""``GET /api/venues/{venue}/shifts``, ``/receipts`` and ``/records`` answer the recent (and open) records, or the days
asked, never the venue's whole history (a month of them is not read for the listing), on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from meshpos.console import ConsoleDB, materialise
from meshpos.console.api import make_console_handler
from meshpos.console.listings import RECENT_DAYS
from meshpos.console.server import ConsoleServer
from meshpos.httpapi.server import HttpServer
from meshpos.model.sample import CASHIER

from ..web.kit import Client
from .conftest import VENUE
from .day import NOW, ledger_doc, make_register, sell

TOKEN = "shift-list-admin-token"
SHIFTS = f"/api/venues/{VENUE}/shifts"
RECEIPTS = f"/api/venues/{VENUE}/receipts"
RECORDS = f"/api/venues/{VENUE}/records"
DAY_MS = 86_400_000
DAYS = 30


@pytest.fixture
async def month(venue_db: ConsoleDB) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    """R1 opens a shift on each of 30 days, sells once and closes it; R2 opened one on the first day
    and never closed it. Answers the client and each shift's and receipt's business date by id."""
    r1, r2 = make_register("R1"), make_register("R2")
    dates: dict[str, str] = {}
    forgotten = r2.open_shift_now(CASHIER, 50, NOW - (DAYS - 1) * DAY_MS)
    dates[forgotten.id] = r2.business_date(NOW - (DAYS - 1) * DAY_MS)
    for back in range(DAYS - 1, -1, -1):
        at = NOW - back * DAY_MS
        shift = r1.open_shift_now(CASHIER, 100, at)
        receipt = sell(r1, ("fries", 1), method="card", at=at + 60_000)
        dates[receipt.id] = r1.business_date(at)
        r1.close_shift(CASHIER, 100, at + 3_600_000)
        dates[shift.id] = r1.business_date(at)
    for venue in (r1, r2):
        for date in sorted(set(dates.values())):
            if f"ledger/{date}" in venue.replica.names():
                await materialise(venue_db, VENUE, f"ledger/{date}", ledger_doc(venue, date))
    server = ConsoleServer(venue_db, "127.0.0.1", 0)
    api = HttpServer(make_console_handler(server, TOKEN), "127.0.0.1", 0)
    await api.start()
    try:
        base = f"http://127.0.0.1:{api.port}"
        doc = await Client(base, "").ok("GET", "/api/openapi.json")
        yield Client(base, TOKEN, doc), dates
    finally:
        await api.stop()


async def test_without_a_day_the_recent_and_the_open_shifts_and_the_recent_receipts(
    month: tuple[Client, dict[str, str]],
) -> None:
    client, dates = month
    days = sorted(set(dates.values()))
    recent = set(days[-RECENT_DAYS:])
    receipts = await client.ok("GET", RECEIPTS)  # before: all 30 receipts of the month
    assert len(receipts) == RECENT_DAYS
    assert {r["business_date"] for r in receipts} == recent
    listed = await client.ok("GET", SHIFTS)  # before: all 31 shifts of the month
    open_ones = [s["id"] for s in listed if s["closed_at_ms"] is None]
    assert len(open_ones) == 1
    assert dates[open_ones[0]] == days[0]  # the forgotten drawer shows, however old
    shifts = {s for s, d in dates.items() if d in recent} - {r["id"] for r in receipts}
    assert {s["id"] for s in listed} == shifts | set(open_ones)
    assert len(listed) == RECENT_DAYS + 1
    rows = await client.ok("GET", f"{RECORDS}?table=receipts")  # before: every row of the table
    assert {r["id"] for r in rows} == {r["id"] for r in receipts}
    payments = await client.ok("GET", f"{RECORDS}?table=payments")
    assert {p["business_date"] for p in payments} == recent
    assert len(payments) == RECENT_DAYS


async def test_a_day_or_a_range_is_asked(month: tuple[Client, dict[str, str]]) -> None:
    client, dates = month
    days = sorted(set(dates.values()))
    one = await client.ok("GET", f"{SHIFTS}?date={days[3]}")
    sold = await client.ok("GET", f"{RECEIPTS}?date={days[3]}")
    assert len(sold) == 1
    assert {s["id"] for s in one} | {sold[0]["id"]} == {s for s, d in dates.items() if d == days[3]}
    every = await client.ok("GET", f"{SHIFTS}?from={days[0]}&to={days[-1]}")
    all_sold = await client.ok("GET", f"{RECEIPTS}?from={days[0]}&to={days[-1]}")
    assert {s["id"] for s in every} | {r["id"] for r in all_sold} == set(dates)
    assert [
        r["id"] for r in await client.ok("GET", f"{RECORDS}?table=receipts&date={days[3]}")
    ] == [sold[0]["id"]]
    rows = await client.ok("GET", f"{RECORDS}?table=shifts&from={days[0]}&to={days[-1]}")
    assert {r["id"] for r in rows} == {s["id"] for s in every}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=2025-11-01", "'to' is missing"),
        ("to=2025-11-01", "'from' is missing"),
        ("from=2025-11-05&to=2025-11-01", "'to' (2025-11-01) is before 'from'"),
        ("from=2024-01-01&to=2025-11-01", "'to': the listing covers at most 366 days"),
        ("from=2025-02-30&to=2025-03-01", "'from': 2025-02-30 is not a day of the calendar"),
        ("date=2025-11-01&to=2025-11-02", "'to': give `date` or a range, not both"),
        ("date=2025-02-30", "'date': 2025-02-30 is not a day of the calendar"),
    ],
)
async def test_a_range_that_is_not_one_is_422_naming_the_parameter(
    month: tuple[Client, dict[str, str]], query: str, named: str
) -> None:
    client, _ = month
    for path in (SHIFTS, RECEIPTS, f"{RECORDS}?table=receipts&"):
        sep = "" if path.endswith("&") else "?"
        assert named in await client.error(422, "bad_range", "GET", f"{path}{sep}{query}")
