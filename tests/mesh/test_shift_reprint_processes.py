"""A reprint of a long shift's Z loads no day whose part is kept (the twenty-first session, part
shifts), with real processes: a console and a register on loopback, the register's store holding a
shift it opened twelve days ago with cash and card sales on each day after but one, never closed.

The eleven past days after the shift's own close (their parts kept, the quiet day's with nothing in
it); the Z closes the shift, and its own day then closes too. ``GET /api/shifts/{id}/report`` (the
reprint) is the whole read's and loads no day (``days_opened`` in the status's counters stays):
**changed** (reprint, the twenty-second session): the closed shift's record is kept as its day closes
(``model/kept_shifts.py``); on 8ab35f3 the reprint loaded its own day (``assert (2 - 1) == 0``), and
before the twenty-first session every closed day of the shift's span: twelve.
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

from .kit import CATALOG
from .test_business_days import Bed, business_bed, closed_here
from .test_kept_shift_processes import DAY_MS, _figures, _write

DAYS = 12  # the shift opened this many business days ago
QUIET = 5  # the day (counted from its first) without a sale of the shift


def _long_shift() -> tuple[str, list[str], dict[str, bytes], ShiftReport]:
    """R1's documents: a shift opened ``DAYS`` days ago, two sales on each day since but ``QUIET``
    and today; (shift id, its past days, the updates, its report read from every day)."""
    start = int(time.time() * 1000) - DAYS * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R1", role="register")
    shift = venue.open_shift_now(CASHIER, 10_000, start)
    dates = []
    for day in range(DAYS):
        at = start + day * DAY_MS
        if day != QUIET:
            for method in ("cash", "card"):
                order = venue.open_order(CASHIER, at)
                venue.add_line(CASHIER, order.id, "espresso", 2, at)
                venue.pay(CASHIER, order.id, method, at)
        venue.ledger(venue.business_date(at))  # (the quiet day exists too)
        dates.append(venue.business_date(at))
    updates = {n: replica.doc(n).get_update() for n in replica.names() if n != "catalog"}
    return shift.id, dates, updates, shift_report(venue, venue.shift(shift.id))


def _opened(node: Any) -> int:
    counters: dict[str, int] = node.status()["counters"]
    return counters.get("days_opened", 0)


@pytest.mark.slow
def test_a_reprint_of_a_long_shift_loads_only_its_own_day(tmp_path: Path) -> None:
    shift_id, dates, updates, truth = _long_shift()
    with business_bed(tmp_path) as bed:
        _run(bed, shift_id, dates, updates, truth)


def _run(
    bed: Bed, shift_id: str, dates: list[str], updates: dict[str, bytes], t: ShiftReport
) -> None:
    config = bed.register("R1", 11)
    asyncio.run(_write(load_config(config, env={}).db_path, updates))
    node = bed.nodes["R1"].start()
    past = set(dates[1:])
    whole = _figures(
        {
            k: getattr(t, k)
            for k in ("receipts", "sales", "cash_taken", "card_taken", "refunds", "drawer_expected")
        }
    )
    assert whole[0] == 2 * (DAYS - 1)
    wait_for(lambda: closed_here(node, past), 90, "the shift's past days closed", on=[node.events])
    z = node.call(
        "POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": t.drawer_expected}
    )["z"]
    assert _figures(z) == whole
    every = set(dates)
    wait_for(lambda: closed_here(node, every), 60, "the shift's own day closed", on=[node.events])
    before = _opened(node)
    reprint = node.call("GET", f"/api/shifts/{shift_id}/report")
    assert reprint["report"] == "Z"
    assert _figures(reprint) == whole
    assert _opened(node) - before == 0  # (8ab35f3: its own day, 1; before: twelve)
    assert closed_here(node, past)  # (its own day closes again by the rule: not asked here)
