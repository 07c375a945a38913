"""A shift left open over several business days, with real processes (the twentieth session, part
shiftsum): a console and a register on loopback, the register's store holding a shift it opened three
days ago with cash and card sales on that day and the two after, never closed.

The two past days after the shift's own close on the register once the console holds them (their part
of the shift's figures kept in the store's meta, ``model/kept_parts.py``); the shift's own day stays
loaded. The X (``GET /api/shifts/current/report``) and the expected cash (``GET /api/shifts/current``)
are the whole read's, before and after a restart, and so is the Z at the close. On main the past days
never close (their records count in the open drawer): ``closed_here`` times out.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER
from meshpos.model.shift_report import ShiftReport, shift_report
from meshpos.store import SqliteStore

from .kit import CATALOG
from .test_business_days import Bed, business_bed, closed_here, days

DAY_MS = 86_400_000
FIGURES = ("receipts", "sales", "cash_taken", "card_taken", "refunds", "drawer_expected")


def _shift_over_days() -> tuple[list[str], dict[str, bytes], ShiftReport]:
    """R1's documents: a shift opened three days ago, two sales a day on it and the two days after,
    never closed; the dates, the updates and the shift's report from every day (the truth)."""
    start = int(time.time() * 1000) - 3 * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R1", role="register")
    shift = venue.open_shift_now(CASHIER, 10_000, start)
    dates = []
    for day in range(3):
        at = start + day * DAY_MS
        for method in ("cash", "card"):
            order = venue.open_order(CASHIER, at)
            venue.add_line(CASHIER, order.id, "espresso", 2, at)
            venue.pay(CASHIER, order.id, method, at)
        dates.append(venue.business_date(at))
    updates = {n: replica.doc(n).get_update() for n in replica.names() if n != "catalog"}
    return dates, updates, shift_report(venue, venue.shift(shift.id))


async def _write(db: Path, updates: dict[str, bytes]) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append(list(updates.items()))


def _figures(report: dict[str, Any]) -> tuple[object, ...]:
    return tuple(report[k] for k in FIGURES)


@pytest.mark.slow
def test_the_past_days_of_an_open_shift_close_and_its_x_and_z_stay_exact(tmp_path: Path) -> None:
    dates, updates, truth = _shift_over_days()
    with business_bed(tmp_path) as bed:
        _run(bed, dates, updates, truth)


def _run(bed: Bed, dates: list[str], updates: dict[str, bytes], truth: ShiftReport) -> None:
    config = bed.register("R1", 11)
    asyncio.run(_write(load_config(config, env={}).db_path, updates))
    node = bed.nodes["R1"].start()
    past = set(dates[1:])
    whole = tuple(getattr(truth, k) for k in FIGURES)
    assert whole[:2] == (6, truth.sales)
    wait_for(lambda: closed_here(node, past), 60, "the shift's past days closed", on=[node.events])
    assert dates[0] in days(node)["loaded"]  # the shift's own day holds it
    assert _figures(node.call("GET", "/api/shifts/current/report")) == whole
    assert node.call("GET", "/api/shifts/current")["expected_cash"] == truth.drawer_expected

    node.stop()
    node.start()
    assert closed_here(node, past)  # not loaded at the start
    assert _figures(node.call("GET", "/api/shifts/current/report")) == whole
    counted = truth.drawer_expected
    z = node.call("POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": counted})["z"]
    assert _figures(z) == whole
    assert closed_here(node, past)  # the Z read their kept parts, not the days
