"""The console's all-time figures (the Status tab's totals and per-register receipts, ``GET /metrics``)
at the cost of the live days, not of the venue's history.

The Status tab asks for them every 2 seconds and a scrape asks for every venue's; read from the report
tables whole, they cost a pass over every row the venue ever uploaded (~50 ms CPU a call on SQLite with
30 days of 800 receipts, linear in the days). A closed business day's rows no longer change: every row
carries its ledger document's date (``materialise``), a day closes only once materialised after its last
change (``hub_days``), and an append to it reopens it (``documents.closed = 0``, its version counts up).
So the closed days' figures are summed once and kept, keyed by which ledger days were closed at which
version; each call reads the ``documents`` rows of the venue's closed days (one small row per day) and
the rows of the days not closed (today's, a day not closed yet or reopened by a late receipt) through the
business-date indexes. When the closed days change only by newer days closing, their figures are added;
any other change (a day reopened, or one closed out of order) sums the closed days again, once.

What this assumes is what ``materialise`` does: a record row's ``business_date`` names a ledger document
the venue holds. Rows of a date older than the oldest closed day or newer than the newest are read live,
whatever their documents; a venue with no closed day is read whole, as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from meshpos.console.cursor import Cursor
from meshpos.console.refund_tax import refund_lines_sql, with_net, with_tax
from meshpos.console.reports import DEVICE_COLUMNS, TOTALS
from meshpos.model.documents import LEDGER

_LEDGER_PREFIX = f"{LEDGER}/"
SUMMED = (*TOTALS, "refunded_tax")  # refunded_tax: refund_tax.py, summed in Python


@dataclass(slots=True)
class Figures:
    """Sums of the report tables' rows over some business days."""

    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMMED, 0))
    devices: dict[str, list[int]] = field(default_factory=dict)  # device -> [receipts, last seen]

    def add(self, other: Figures) -> None:
        for name, value in other.totals.items():
            self.totals[name] += value
        for device, (receipts, seen) in other.devices.items():
            mine = self.devices.setdefault(device, [0, seen])
            mine[0] += receipts
            mine[1] = max(mine[1], seen)

    def copy(self) -> Figures:
        return Figures(dict(self.totals), {d: list(v) for d, v in self.devices.items()})


@dataclass(frozen=True, slots=True)
class _Where:
    """Which rows of a record table: SQL after ``venue_id = ?``, its parameters, and dates bound
    last through ``Cursor.fetch_in`` (``{in}`` in the SQL) when ``dates`` is not None."""

    sql: str
    params: tuple[Any, ...] = ()
    dates: tuple[str, ...] | None = None


async def _fetch(cur: Cursor, sql: str, params: tuple[Any, ...], where: _Where) -> list[Any]:
    if where.dates is None:
        return await cur.fetchall(sql, params)
    if not where.dates:
        return []
    return await cur.fetch_in(sql, params, where.dates)


async def figures(cur: Cursor, venue_id: str, where: _Where) -> Figures:
    """The rows ``where`` selects, summed: one grouped statement per table, each through an index."""
    out = Figures()
    for name, (expr, table, extra) in TOTALS.items():
        sql = f"SELECT {expr} FROM {table} WHERE venue_id = ?{extra}{where.sql}"
        rows = await _fetch(cur, sql, (venue_id, *where.params), where)
        out.totals[name] = sum(int(r[0] or 0) for r in rows)  # chunks of an IN list add up
    rows = await _fetch(cur, refund_lines_sql(where.sql), (venue_id, *where.params), where)
    taxes = (with_tax(row)["tax"] for row in rows)
    out.totals["refunded_tax"] = sum(tax for tax in taxes if tax is not None)
    for table, column in DEVICE_COLUMNS:
        device = f"COALESCE({column}, '')"  # an expression: SQLite groups what the dates select,
        # not every row of the venue through the device's index
        sql = (
            f"SELECT {device}, COUNT(*), MAX(seen_at_ms) FROM {table} WHERE venue_id = ?"
            f"{where.sql} GROUP BY {device}"
        )
        part = Figures()
        for device, count, seen in await _fetch(cur, sql, (venue_id, *where.params), where):
            if device:
                part.devices[str(device)] = [int(count) if table == "receipts" else 0, int(seen)]
        out.add(part)
    return out


def _fingerprint(days: list[tuple[str, int]]) -> str:
    return hashlib.sha256(repr(days).encode()).hexdigest()


@dataclass(slots=True)
class _Closed:
    """What is kept per venue: the closed days' figures, the newest closed day and a fingerprint
    of every closed ledger day with its version (a few bytes, whatever the history)."""

    newest: str
    fingerprint: str
    figures: Figures


class HistoryFigures:
    """The closed days' figures of each venue, kept across calls (per console process)."""

    def __init__(self) -> None:
        self._closed: dict[str, _Closed] = {}
        self.days_summed = 0  # closed days whose rows were read: what tests count

    async def _closed_days(self, cur: Cursor, venue_id: str) -> list[tuple[str, int]]:
        rows = await cur.fetchall(
            "SELECT name, version FROM documents WHERE venue_id = ? AND closed = 1 ORDER BY name",
            (venue_id,),
        )
        return [
            (str(name)[len(_LEDGER_PREFIX) :], int(version))
            for name, version in rows
            if str(name).startswith(_LEDGER_PREFIX)
        ]

    async def _sum_days(self, cur: Cursor, venue_id: str, dates: list[str]) -> Figures:
        self.days_summed += len(dates)
        return await figures(cur, venue_id, _Where(" AND business_date {in}", (), tuple(dates)))

    async def all_time(self, cur: Cursor, venue_id: str) -> Figures:
        """Every row of the venue, summed: the kept closed days plus the live ones read now."""
        closed = await self._closed_days(cur, venue_id)
        if not closed:
            self._closed.pop(venue_id, None)
            return await figures(cur, venue_id, _Where(""))
        kept = self._closed.get(venue_id)
        fingerprint = _fingerprint(closed)
        if kept is None or kept.fingerprint != fingerprint:
            older = [d for d in closed if kept is not None and d[0] <= kept.newest]
            if kept is not None and _fingerprint(older) == kept.fingerprint:
                added = await self._sum_days(cur, venue_id, [d for d, _ in closed[len(older) :]])
                summed = kept.figures.copy()
                summed.add(added)
            else:  # a day reopened or closed out of order: its figures cannot be taken back
                summed = await self._sum_days(cur, venue_id, [d for d, _ in closed])
            kept = self._closed[venue_id] = _Closed(closed[-1][0], fingerprint, summed)
        oldest, newest = closed[0][0], closed[-1][0]
        closed_dates = {d for d, _ in closed}
        between = await cur.fetchall(  # ledger days not closed between the oldest and newest closed
            "SELECT name FROM documents WHERE venue_id = ? AND closed = 0 AND name > ? AND name < ?",
            (venue_id, _LEDGER_PREFIX + oldest, _LEDGER_PREFIX + newest),
        )
        gaps = tuple(
            sorted(
                str(n)[len(_LEDGER_PREFIX) :]
                for (n,) in between
                if str(n)[len(_LEDGER_PREFIX) :] not in closed_dates
            )
        )
        total = kept.figures.copy()
        for edge in (" AND business_date < ?", " AND business_date > ?"):  # not one OR: SQLite
            # reads such an OR through the venue's whole index when it has statistics
            total.add(
                await figures(cur, venue_id, _Where(edge, (oldest if "<" in edge else newest,)))
            )
        if gaps:
            total.add(await figures(cur, venue_id, _Where(" AND business_date {in}", (), gaps)))
        return total


def totals_of(found: Figures) -> dict[str, int]:
    return with_net(dict(found.totals))


def registers_of(found: Figures) -> list[dict[str, Any]]:
    return [
        {"register": device, "receipts": receipts, "last_record_ms": seen}
        for device, (receipts, seen) in sorted(found.devices.items())
    ]
