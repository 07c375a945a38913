"""A reprint of a shift that closed on an earlier business day loads no day (the twenty-second session,
part reprint), with real processes: a console and a register on loopback, the register's store holding
two shifts of its own: A opened twelve days ago, sales on each day after but one, closed ten days
later without a sale that day; B opened after A's close, a sale that day and the next, closed then.

Every day is past, so all close once the console holds them, keeping the records of their closed shifts
and a part of every shift whose span covers them (``model/day_keeping.py``). ``GET
/api/shifts/{id}/report`` of each is the whole read's (a Z) and opens no day (``days_opened`` in the
status's counters), before and after a restart. On main a closed shift's record was not kept and a day
closed after its shift kept no part of it: A's reprint opened its own day and the ten of its span
(``assert 11 == 0``), B's its own day and the next (``assert 2 == 0``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER
from meshpos.model.shift_report import ShiftReport, shift_report

from .kit import CATALOG, NodeProcess
from .test_business_days import business_bed, closed_here
from .test_kept_shift_processes import DAY_MS, FIGURES, _figures, _write
from .test_shift_reprint_processes import _opened

DAYS = 12  # the first shift opened this many business days ago
QUIET = 4  # a day of A's span without a sale of it
CLOSED_ON = 10  # the day A closed on (no sale of A that day); B opened then and closed the next


def _sell(venue: Venue, at: int) -> None:
    for method in ("cash", "card"):
        order = venue.open_order(CASHIER, at)
        venue.add_line(CASHIER, order.id, "espresso", 2, at)
        venue.pay(CASHIER, order.id, method, at)


def _two_shifts() -> tuple[list[str], dict[str, bytes], list[ShiftReport]]:
    """R1's documents (the two shifts above), its days, and each shift's Z read from every day."""
    start = int(time.time() * 1000) - DAYS * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R1", role="register")
    a = venue.open_shift_now(CASHIER, 10_000, start)
    dates = []
    for day in range(CLOSED_ON):
        if day != QUIET:
            _sell(venue, start + day * DAY_MS)
        dates.append(venue.ledger(venue.business_date(start + day * DAY_MS)).date)
    at = start + CLOSED_ON * DAY_MS
    venue.close_shift(CASHIER, venue.expected_cash(venue.shift(a.id)), at, z=True)
    b = venue.open_shift_now(CASHIER, 5_000, at + 1_000)
    _sell(venue, at + 2_000)
    dates.append(venue.business_date(at))
    _sell(venue, at + DAY_MS)
    dates.append(venue.business_date(at + DAY_MS))
    venue.close_shift(CASHIER, venue.expected_cash(venue.shift(b.id)), at + DAY_MS + 1_000)
    updates = {n: replica.doc(n).get_update() for n in replica.names() if n != "catalog"}
    truths = [shift_report(venue, venue.shift(s.id)) for s in (a, b)]
    return dates, updates, truths


@pytest.mark.slow
def test_a_reprint_of_a_shift_closed_days_ago_loads_no_day(tmp_path: Path) -> None:
    dates, updates, truths = _two_shifts()
    assert len(set(dates)) == DAYS
    assert all(t.report == "Z" for t in truths)
    with business_bed(tmp_path) as bed:
        config = bed.register("R1", 11)
        asyncio.run(_write(load_config(config, env={}).db_path, updates))
        node = bed.nodes["R1"].start()
        every = set(dates)
        wait_for(lambda: closed_here(node, every), 90, "every day closed", on=[node.events])
        _reprints(node, truths)
        node.stop()
        node.start()
        assert closed_here(node, every)  # (closed in the store: not loaded at the start)
        _reprints(node, truths)
        assert closed_here(node, every)


def _reprints(node: NodeProcess, truths: list[ShiftReport]) -> None:
    for truth in truths:
        before = _opened(node)
        reprint = node.call("GET", f"/api/shifts/{truth.shift.id}/report")
        assert reprint["report"] == "Z"
        assert truth.shift.close is not None
        assert reprint["shift"]["close"]["closed_at_ms"] == truth.shift.close.closed_at_ms
        assert _figures(reprint) == tuple(getattr(truth, k) for k in FIGURES)
        assert _opened(node) - before == 0
