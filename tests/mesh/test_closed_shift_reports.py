"""The X or Z report of a shift whose business days have closed, through a real node process's API.

A node unloads a past day once the console holds it (docs/architecture.md (Documents)); a report of one
of its shifts used to answer 404 because days were found only by receipt. Now a closing day is indexed
by the shifts opened on it too, the report loads every closed day the shift's records are on (a shift
across the cut-off hour sold on two), and a day closed before that index is found with ``?date=``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc

from meshpos.config import load_config
from meshpos.localapi import ApiError
from meshpos.model import Replica, Venue
from meshpos.model.day_end import SHIFT_KEY, day_keys
from meshpos.model.documents import ledger_name
from meshpos.model.ledger import Ledger
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore
from meshpos.store.base import summarize

from .kit import CATALOG, NodeProcess, make_device, make_venue
from .test_business_days import DAY_MS, days

OPENING_CASH = 1_000


@dataclass(frozen=True)
class PastShift:
    shift_id: str
    dates: list[str]  # the business days its records are on, in order
    updates: dict[str, bytes]  # each day's ledger
    totals: list[int]  # its receipts' totals, cash


def shift_across_the_cutoff(days_ago: int, now_ms: int) -> PastShift:
    """A shift of register P opened ``days_ago`` days ago with a cash sale, a second cash sale a day
    later (the next business day's ledger), then closed: its records are on two days."""
    at = now_ms - days_ago * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="P", role="register")
    shift = venue.open_shift_now(CASHIER, OPENING_CASH, at)
    totals, dates = [], []
    for when in (at, at + DAY_MS):
        order = venue.open_order(CASHIER, when)
        venue.add_line(CASHIER, order.id, "espresso", 1, when)
        paid = venue.pay(CASHIER, order.id, "cash", when)
        assert paid.receipt is not None
        totals.append(paid.receipt.total)
        dates.append(venue.business_date(when))
    venue.close_shift(CASHIER, OPENING_CASH + sum(totals), at + DAY_MS + 1)
    assert dates[0] < dates[1]
    updates = {d: replica.doc(ledger_name(d)).get_update() for d in dates}
    return PastShift(shift.id, dates, updates, totals)


async def _close_days(db: Path, shift: PastShift, *, indexed_by_shift: bool) -> None:
    """Store the shift's days closed as a node's DayCloser does; without ``indexed_by_shift``, as a
    node of release 0.2.0 did (receipt ids and numbers only)."""
    async with await SqliteStore.open(db) as store:
        await store.append([(ledger_name(d), u) for d, u in shift.updates.items()])
        for date, update in shift.updates.items():
            doc: Doc[Any] = Doc()
            doc.apply_update(update)
            keys = day_keys(Ledger(doc, date))
            del doc
            if not indexed_by_shift:
                keys = [k for k in keys if not k.startswith(SHIFT_KEY)]
            await store.close_day(ledger_name(date), *summarize(update), keys)


def node_with(tmp_path: Path, shift: PastShift, *, indexed_by_shift: bool) -> NodeProcess:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    db = load_config(config, env={}).db_path
    asyncio.run(_close_days(db, shift, indexed_by_shift=indexed_by_shift))
    return NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()


def refused(node: NodeProcess, path: str) -> ApiError:
    with pytest.raises(ApiError) as error:
        node.call("GET", path)
    return error.value


def assert_whole(report: dict[str, Any], shift: PastShift) -> None:
    assert report["report"] == "Z"
    assert report["shift"]["id"] == shift.shift_id
    assert (report["receipts"], report["sales"]) == (2, sum(shift.totals))
    assert (report["cash_taken"], report["card_taken"]) == (sum(shift.totals), 0)
    assert report["drawer_expected"] == OPENING_CASH + sum(shift.totals)


def test_the_z_report_of_a_shift_on_closed_days_loads_them(tmp_path: Path) -> None:
    shift = shift_across_the_cutoff(30, int(time.time() * 1000))
    node = node_with(tmp_path, shift, indexed_by_shift=True)
    try:
        assert set(shift.dates) <= set(days(node)["closed"])
        report = node.call("GET", f"/api/shifts/{shift.shift_id}/report")
        assert_whole(report, shift)  # both days' sales: the day after the cut-off was loaded too
        assert set(shift.dates) <= set(days(node)["loaded"])
        unknown = refused(node, "/api/shifts/no-such-shift/report")
        assert (unknown.status, unknown.error_code) == (404, "unknown_shift")
        assert node.stop() == 0
    finally:
        node.kill()


def test_a_shift_of_a_day_closed_before_the_index_is_found_by_its_date(tmp_path: Path) -> None:
    shift = shift_across_the_cutoff(30, int(time.time() * 1000))
    node = node_with(tmp_path, shift, indexed_by_shift=False)
    try:
        path = f"/api/shifts/{shift.shift_id}/report"
        unknown = refused(node, path)
        assert (unknown.status, unknown.error_code) == (404, "unknown_shift")
        assert not set(shift.dates) & set(days(node)["loaded"])  # a miss loads nothing
        assert_whole(node.call("GET", f"{path}?date={shift.dates[0]}"), shift)
        bad = refused(node, f"{path}?date=2026-13-01")
        assert (bad.status, bad.error_code) == (400, "bad_field")
        assert node.stop() == 0
    finally:
        node.kill()
