"""The console's all-time figures (Status tab: totals and per-register receipts; ``GET /metrics``) follow
the live days, not the venue's history (console/reports_history.py).

The Status tab asks for them every 2 s; read from the report tables whole they cost a pass over every row
the venue ever uploaded. Here: the same figures as the whole-table queries through every change a day goes
through (sales today, a late receipt reopening a closed day, that day closing again, a newer day closing),
and, on SQLite, the statements a call runs with 2 closed days and with 12: the same ones, each record
table read through its business-date index for the days not closed, no closed day's rows read again."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pycrdt import Doc

from meshpos.console import (
    ConsoleDB,
    hash_token,
    materialise,
    new_venue_token,
    open_console_db,
    reports,
)
from meshpos.console.cursor import Cursor
from meshpos.console.tables import TABLES
from meshpos.model import Venue
from meshpos.model.sample import CASHIER

from .conftest import VENUE
from .day import NOW, make_register, sell
from .test_console_shared import _as_schema

DAY_MS = 86_400_000


def _date(venue: Venue, at: int) -> str:
    return venue.business_date(at)


async def _upload(db: ConsoleDB, venue: Venue, date: str, *, close: bool) -> None:
    """What a relay's upload of the day leaves: the document appended, materialised, maybe closed."""
    name = f"ledger/{date}"
    doc: Doc[Any] = Doc()
    doc.apply_update(venue.replica.doc(name).get_update())
    await db.append_updates(VENUE, name, [doc.get_update()])
    await materialise(db, VENUE, name, doc, at_ms=NOW)
    if close:
        state = doc.get_state()
        await db.close_document(VENUE, name, state, doc.get_update(state))


async def _history(db: ConsoleDB, days: int) -> tuple[Venue, list[str]]:
    """``days`` closed days of two sales each on R1 (cash and card), ending two days ago."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 10_000, NOW - (days + 1) * DAY_MS)  # open all along: sells any day
    dates = []
    for d in range(days):
        at = NOW - (days + 1 - d) * DAY_MS
        sell(r1, ("espresso", 1), at=at)
        sell(r1, ("croissant", 2), method="card", at=at + 1000)
        dates.append(_date(r1, at))
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    for date in dates:
        await _upload(db, r1, date, close=True)
    return r1, dates


async def _same_as_whole_tables(db: ConsoleDB) -> dict[str, int]:
    whole_totals = await db.report(lambda cur: reports.totals(cur, VENUE, None))
    whole_registers = await db.report(lambda cur: reports.registers(cur, VENUE))
    assert await db.totals(VENUE) == whole_totals
    assert await db.register_report(VENUE) == whole_registers
    return whole_totals


async def test_all_time_figures_match_the_whole_tables_as_days_sell_reopen_and_close(
    db: ConsoleDB,
) -> None:
    r1, dates = await _history(db, 4)
    assert (await _same_as_whole_tables(db))["receipts"] == 8
    summed = db.history.days_summed  # type: ignore[attr-defined]

    sell(r1, ("fries", 1), at=NOW)  # today, not closed: read live every time
    await _upload(db, r1, _date(r1, NOW), close=False)
    assert (await _same_as_whole_tables(db))["receipts"] == 9
    assert db.history.days_summed == summed  # type: ignore[attr-defined]

    late = NOW - 4 * DAY_MS  # a register back after days offline: a receipt of a closed day
    assert _date(r1, late) == dates[1]
    sell(r1, ("burger", 1), at=late + 5000)
    await _upload(db, r1, dates[1], close=False)  # the append reopens the day
    assert (await _same_as_whole_tables(db))["receipts"] == 10

    await _upload(db, r1, dates[1], close=True)  # it closes again, with the late receipt
    assert (await _same_as_whole_tables(db))["receipts"] == 10

    yesterday = _date(r1, NOW - DAY_MS)
    sell(r1, ("lemonade", 1), at=NOW - DAY_MS)
    await _upload(db, r1, yesterday, close=True)  # a newer day closes: only it is summed
    before = db.history.days_summed  # type: ignore[attr-defined]
    assert (await _same_as_whole_tables(db))["receipts"] == 11
    assert db.history.days_summed == before + 1  # type: ignore[attr-defined]


class _Recording:
    """A cursor that keeps every statement a report runs (with its IN values) to plan them after."""

    def __init__(self, cur: Cursor) -> None:
        self.cur = cur
        self.statements: list[tuple[str, Sequence[Any], Sequence[Any] | None]] = []

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append((sql, params, None))
        return await self.cur.fetchall(sql, params)

    async def fetch_in(
        self, sql: str, params: Sequence[Any], values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        self.statements.append((sql, params, values))
        return await self.cur.fetch_in(sql, params, values)


async def _record_table_plans(db: ConsoleDB) -> list[tuple[str, list[str]]]:
    """The statements one register report and one totals call run (after a first call of each),
    each with SQLite's plan of it; their SQL the same for any history."""
    await db.register_report(VENUE)
    await db.totals(VENUE)
    recorded: list[_Recording] = []
    read = db._read  # type: ignore[attr-defined]

    async def recording_read(job: Any) -> Any:
        async def run(cur: Cursor) -> Any:
            recorder = _Recording(cur)
            recorded.append(recorder)
            return await job(recorder)

        return await read(run)

    db._read = recording_read  # type: ignore[attr-defined]
    try:
        await db.register_report(VENUE)
        await db.totals(VENUE)
    finally:
        db._read = read  # type: ignore[attr-defined]

    async def plans(cur: Cursor) -> list[tuple[str, list[str]]]:
        out = []
        for rec in recorded:
            for sql, params, values in rec.statements:
                explain = f"EXPLAIN QUERY PLAN {sql}"
                rows = (
                    await cur.fetchall(explain, params)
                    if values is None
                    else await cur.fetch_in(explain, params, values)
                )
                out.append((sql, [str(r[-1]) for r in rows]))
        return out

    return list(await db.report(plans))


async def test_a_status_call_reads_the_same_rows_with_two_closed_days_or_twelve(
    tmp_path: Path,
) -> None:
    """Before: one statement per call read every row of eight tables (SEARCH ... (venue_id=?)), a
    cost that grew with every day the venue ever sold. Now: the same statements for a short and a
    long history, each record table searched by business date (the days not closed only)."""
    runs = []
    for days in (2, 12):
        path = tmp_path / f"history-{days}.db"
        db = await open_console_db(f"sqlite:///{path}")
        try:
            r1, _ = await _history(db, days)
            sell(r1, ("fries", 1), at=NOW)
            await _upload(db, r1, _date(r1, NOW), close=False)
            runs.append(await _record_table_plans(db))
        finally:
            await db.close()
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("ANALYZE")  # statistics, as PRAGMA optimize leaves them in time, and
            conn.execute(  # as they are for a venue of a year: a million rows, a thousand a key
                "UPDATE sqlite_stat1 SET stat = CASE WHEN idx IS NULL THEN '1000000' "
                "ELSE '1000000 1000000 1000' END"
            )
        db = await open_console_db(f"sqlite:///{path}")
        try:
            runs.append(await _record_table_plans(db))  # the planner with statistics
        finally:
            await db.close()
    short, short_analyzed, long, long_analyzed = runs
    assert [sql for sql, _ in short] == [sql for sql, _ in long]
    for sql, steps in [*short_analyzed, *long, *long_analyzed]:
        tables = [t for t in TABLES if f" {t} " in f" {sql} "]
        if not tables:
            continue  # the documents rows: one small row per day
        reads = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]  # not "MULTI-INDEX OR"
        assert reads, (sql, steps)
        # the first table read (the outer loop) through its business-date index; a table joined to
        # it (the refunds' lines, their receipt lines: refund_tax.py) by the key of each row found
        assert "business_date" in reads[0], (sql, steps)
        for step in reads:
            assert step.startswith("SEARCH"), (sql, steps)
            assert "(venue_id=?)" not in step, (sql, steps)  # never the venue's whole table


async def test_a_schema_7_database_gets_the_business_date_indexes_of_payments_and_cash_moves(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'seven.db'}"
    await (await open_console_db(url)).close()
    _as_schema(url, 7)
    await (await open_console_db(url)).close()
    with contextlib.closing(sqlite3.connect(tmp_path / "seven.db")) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"payments_by_business_date", "cash_moves_by_business_date"} <= names
