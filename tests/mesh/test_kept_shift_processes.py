"""A shift left open over several business days, with real processes (the twentieth session, part
shiftsum; the twenty-first, part ownday): a console and a register on loopback, the register's store
holding a shift it opened five days ago with cash and card sales on that day and the four after, never
closed.

Every past day closes on the register once the console holds it (its part of the shift's figures kept in
the store's meta, ``model/kept_parts.py``), the shift's own day too (its record kept beside the parts,
``model/kept_shifts.py``): nothing of the shift stays loaded. The X (``GET
/api/shifts/current/report``) and the expected cash (``GET /api/shifts/current``) are the whole read's,
before and after a restart; a cash move loads the shift's day (its record goes there) and counts; the Z
at the close is the whole read's and is written to the shift's own day. On main the shift's own day never
closes (its shift is open): ``closed_here`` times out.
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
from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER
from meshpos.model.shift_report import ShiftReport, shift_report
from meshpos.store import SqliteStore

from .kit import CATALOG
from .test_business_days import Bed, business_bed, closed_here, days

DAY_MS = 86_400_000
FIGURES = ("receipts", "sales", "cash_taken", "card_taken", "refunds", "drawer_expected")


def _shift_over_days() -> tuple[list[str], dict[str, bytes], ShiftReport]:
    """R1's documents: a shift opened five days ago, two sales a day on it and the four days after,
    never closed; the dates, the updates and the shift's report from every day (the truth)."""
    start = int(time.time() * 1000) - 5 * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R1", role="register")
    shift = venue.open_shift_now(CASHIER, 10_000, start)
    dates = []
    for day in range(5):
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
    every = set(dates)
    whole = tuple(getattr(truth, k) for k in FIGURES)
    assert whole[:2] == (10, truth.sales)
    wait_for(lambda: closed_here(node, every), 90, "the shift's days closed", on=[node.events])
    assert not days(node)["loaded"]  # nothing of the shift stays loaded, its own day neither
    shift = node.call("GET", "/api/shifts/current")
    assert shift["expected_cash"] == truth.drawer_expected
    assert shift["shift"]["id"] == truth.shift.id
    assert shift["shift"]["opening_cash"] == truth.shift.opening_cash
    assert _figures(node.call("GET", "/api/shifts/current/report")) == whole
    assert closed_here(node, every)  # the X read their kept parts and the kept shift

    node.stop()
    node.start()
    assert closed_here(node, every)  # not loaded at the start
    assert _figures(node.call("GET", "/api/shifts/current/report")) == whole
    move = {"user": CASHIER, "kind": "in", "amount": 500, "reason": "float"}
    node.call("POST", "/api/shifts/current/cash-moves", move)
    assert dates[0] in days(node)["loaded"]  # the move went to the shift's own day
    assert truth.drawer_expected is not None
    expected = truth.drawer_expected + 500
    assert node.call("GET", "/api/shifts/current")["expected_cash"] == expected
    z = node.call("POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": expected})["z"]
    assert _figures(z)[:-1] == whole[:-1]
    assert z["drawer_expected"] == expected
    assert z["shift"]["close"]["counted_cash"] == expected
    assert closed_here(node, every - {dates[0]})  # the Z read their kept parts, not the days
    node.stop()
    assert _closed_on(load_config(config, env={}).db_path, dates[0], truth.shift.id)


def _closed_on(db: Path, date: str, shift_id: str) -> bool:
    """Does day ``date`` in the register's store hold the shift's close (the Z on its own day)?"""

    async def read() -> bool:
        async with await SqliteStore.open(db) as store:
            update = await store.load(ledger_name(date))
            assert update is not None, f"{date} is not in the store"
            replica = Replica()
            replica.apply(ledger_name(date), update)
            shift = Venue(replica, device="R1", role="register").ledger(date).shift(shift_id)
            return shift.close is not None and shift.close.z

    return asyncio.run(read())
