"""A shift never closed: ``python -m meshpos.bench.long_shift --days N [--sales S] [--json]``.

The sixth outside round (the twentieth session) found a register whose cashier never closes the shift:
every business day since it opened stays loaded (its records count in its drawer:
``model.day_end.what_keeps_open``) and each X report read all of them on the node's loop (10 days x 300
sales: 240 ms). This builds, in memory, one register's shift open for ``--days`` days of ``--sales``
sales each and reads its X the way the node's pages do (``web.reads.VenueReads.shift_report``): the
first X after start (every loaded day read), then the X after one more sale today (what a cashier's
X costs on a working day), each as CPU time and, read again apart, Python calls (load-independent),
and the process's peak RSS. ``load_ms``: the days' documents applied into a fresh replica from their updates (what a start
reads from the store; the node's other start-up work is not in it). ``same``: the X equals the whole
read (``model.shift_report.shift_report``). docs/benchmarks.md (long shift).

**Changed** (shiftsum, the twentieth session): each past day is closed as its node closes it once the
day is past (its part of the open shift kept: ``model/kept_parts.py``; its document unloaded) on a
tree that has kept parts; a tree without them (main, run with this file for pairs) keeps every day,
as its node does. Added: ``z_cpu_ms`` (the Z at the close, ``close_with_z``), ``closed_days``, and
``same`` now checks the figures against the sales made (a whole read is no longer in memory). The
replica's captured updates are taken after each day, as the node's engine takes them after each write:
they stayed in memory (120,000 objects at 30 days: the peak RSS and the collector's work grew by them).

**Changed** (ownday, the twenty-first session): on a tree that keeps open shifts' records
(``model/kept_shifts.py``) the shift's own day closes too, and the Z loads it first (in ``z_cpu_ms``);
``loaded_days``, ``closed_days`` and ``rss_before_z_mb`` (the resident memory while the shift is open,
after a collection: the peak is a close's moment, with yesterday and today loaded) are taken before the Z (after it, the shift's day is loaded for its close).

Run one ``--days`` per process (the RSS is the process's peak), in pairs against main:
``python -m meshpos.bench.pair --base MAIN --tree . --pairs 2 --out F -- meshpos.bench.long_shift
--json --days 30``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.util
import json
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

from meshpos.errors import UnknownRecord
from meshpos.model import Replica, Venue
from meshpos.model.documents import day_of, is_ledger, ledger_name
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.shift_report import ShiftReport, close_with_z
from meshpos.web.reads import VenueReads

NOW = 1_764_064_800_000  # a fixed moment (2025-11-25 10:00 UTC): the same days every run
DAY_MS = 86_400_000


class _Reads(VenueReads):
    """The pages' reads over one venue (as the node answers them)."""

    def __init__(self, venue: Venue) -> None:
        self._venue = venue

    @property
    def venue(self) -> Venue:
        return self._venue


#: this tree keeps closed days' parts of an open shift (its node closes such days): the bench does too
KEEPS_PARTS = importlib.util.find_spec("meshpos.model.kept_parts") is not None
#: this tree keeps an open shift's record and closes its own day too (model/kept_shifts.py)
KEEPS_SHIFTS = importlib.util.find_spec("meshpos.model.kept_shifts") is not None
#: this tree keeps closed shifts' records and parts too, by one rule (model/day_keeping.py)
KEEPS_CLOSED = importlib.util.find_spec("meshpos.model.day_keeping") is not None


def _sell(venue: Venue, at: int, method: str, taken: dict[str, int]) -> None:
    order = venue.open_order(CASHIER, at)
    venue.add_line(CASHIER, order.id, "espresso", 1, at)
    paid = venue.pay(CASHIER, order.id, method, at)
    assert paid.receipt is not None
    taken[method] += paid.receipt.total
    taken["receipts"] += 1


class _Closed:
    """Past days closed as ``register/days.py`` closes them, in memory: the parts kept (their store
    meta entries held here), the document unloaded (the store keeps its update: not held here)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.states: dict[str, bytes] = {}
        self.meta: dict[str, str] = {}
        self.stored: dict[str, bytes] = {}  # the shift's own day as the store keeps it
        self.opened_on = ""
        self.after_z = False  # days closed after the Z: a reprint may load them (``_reprint``)
        if KEEPS_PARTS:
            venue.kept_parts = importlib.import_module("meshpos.model.kept_parts").KeptParts(
                self.states.get
            )
        if KEEPS_SHIFTS:
            venue.kept_shifts = importlib.import_module("meshpos.model.kept_shifts").KeptShifts(
                self.states.get
            )

    def close(self, date: str, shift_id: str) -> None:
        if not KEEPS_PARTS:
            return  # main: a day whose records count in an open drawer stays loaded
        venue, name = self.venue, ledger_name(date)
        kept = venue.kept_parts
        ledger, doc = venue.ledger(date), venue.replica.doc(name)
        state = doc.get_state()
        if KEEPS_CLOSED:  # (the node's rule: register/days.py)
            keeping = importlib.import_module("meshpos.model.day_keeping")
            keep = keeping.keeping(venue, ledger, state)
            self.meta.update(keep.meta)
            keeping.held(venue, keep, state)
            for key in keep.gone:
                self.meta.pop(key, None)
            venue.kept_shifts.forget([key.partition("/")[2] for key in keep.gone])
        else:
            if ledger.has_shift(shift_id):
                self.opened_on = date
            closing: Any = kept.closing  # (a tree before reprint: open shift id -> its day)
            spans = {} if self.after_z else {shift_id: self.opened_on}  # (its open shifts)
            parts = closing(ledger, spans)
            self.meta.update(kept.entries(date, parts, state))
            kept.put(date, parts, state)
            own = [s for s in ledger.shifts() if s.is_open]
            if own:  # the shift's own day (only a tree with kept shifts closes it)
                self.meta.update(venue.kept_shifts.entries(date, own, state))
                venue.kept_shifts.put(date, own, state)
            if KEEPS_SHIFTS:  # its records of shifts closed since are let go
                still = {s.id for s in own}
                venue.kept_shifts.forget(
                    s for s in venue.kept_shifts.of_day(date) if s not in still
                )
        if ledger.has_shift(shift_id) or self.after_z:
            self.stored[name] = doc.get_update()  # (loaded again for the Z, or by a reprint)
        self.states[name] = state
        del ledger, doc
        venue.forget_day(date)
        venue.replica.close(name)

    def open_shift_day(self) -> None:
        """Load the shift's own day for its close, as ``web/shifts.py`` does before a Z."""
        for name in list(self.stored):
            self.load(name)

    def load(self, name: str) -> None:
        self.venue.replica.reopen(name)
        self.venue.replica.apply(name, self.stored.pop(name))
        del self.states[name]


def _reprint(closed: _Closed, shift_id: str) -> tuple[ShiftReport, int]:
    """A reprint of the closed shift as ``web/shifts.py`` answers it, every day closed: the closed
    days it loads (the shift's own one when its record is not kept; a day of its span without a
    true part) and its report. (The days are loaded from the updates the bench kept of them.)"""
    venue = closed.venue
    loads = 0
    try:
        shift = venue.shift(shift_id)
    except UnknownRecord:  # its own day holds it
        own = min(closed.stored)  # (the earliest: the day it opened on)
        closed.load(own)
        loads += 1
        shift = venue.shift(shift_id)
    assert shift.close is not None
    first = venue.business_date(shift.opened_at_ms)
    last = venue.business_date(shift.close.closed_at_ms)
    holds = getattr(venue.kept_parts, "holds", lambda s, d: False)
    for name in sorted(closed.states):
        date = day_of(name)
        if first <= date <= last and not holds(shift_id, date):
            closed.load(name)
            loads += 1
    return _Reads(venue).shift_report(shift_id), loads


def _x_cpu(reads: _Reads, shift_id: str) -> tuple[ShiftReport, float]:
    """One X and its CPU milliseconds."""
    started = time.process_time()
    report = reads.shift_report(shift_id)
    return report, (time.process_time() - started) * 1000


def _x_calls(reads: _Reads, shift_id: str) -> tuple[ShiftReport, int]:
    """One X and its Python calls (profiled apart from the timed reads: the profiler slows them)."""
    profile = cProfile.Profile()
    profile.enable()
    report = reads.shift_report(shift_id)
    profile.disable()
    return report, pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def _rss_mb() -> float | None:
    """The process's resident memory now, after a collection (None where /proc has no VmRSS)."""
    gc.collect()
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    found = [int(line.split()[1]) for line in lines if line.startswith("VmRSS:")]
    return round(found[0] / 1024, 1) if found else None


def measure(days: int, sales: int) -> dict[str, Any]:
    venue = Venue(Replica(), device="R1")
    sample_catalog(venue.catalog, pin_hash="x")
    shift = venue.open_shift_now(CASHIER, 10_000, NOW)
    closed = _Closed(venue)
    taken = {"cash": 0, "card": 0, "receipts": 0}
    started = time.process_time()
    for day in range(days):
        # yesterday is past (the shift's own day, the first, stays on a tree without kept shifts)
        if day >= (1 if KEEPS_SHIFTS else 2):
            closed.close(venue.business_date(NOW + (day - 1) * DAY_MS), shift.id)
        for i in range(sales):
            _sell(venue, NOW + day * DAY_MS + i * 1000, "cash" if i % 3 else "card", taken)
        venue.replica.take_updates()  # (the engine takes each write's update to the store)
    build_s = time.process_time() - started
    reads = _Reads(venue)
    first, first_ms = _x_cpu(reads, shift.id)  # the first X after a start: every day read
    _, first_calls = _x_calls(_Reads(venue), shift.id)  # (the records' parses kept by then)
    today = NOW + (days - 1) * DAY_MS + sales * 1000
    _sell(venue, today, "cash", taken)
    _, after_ms = _x_cpu(reads, shift.id)  # a cashier's X on a working day
    _sell(venue, today + 1000, "cash", taken)
    after, after_calls = _x_calls(reads, shift.id)
    made = (taken["receipts"], taken["cash"] + taken["card"], taken["cash"], taken["card"])
    same = (after.receipts, after.sales, after.cash_taken, after.card_taken) == made
    updates = {n: venue.replica.doc(n).get_update() for n in venue.replica.names()}
    started = time.perf_counter()
    fresh = Replica()
    for name, update in updates.items():
        fresh.apply(name, update)
    if KEEPS_PARTS:  # a start reads the kept parts too
        importlib.import_module("meshpos.model.kept_parts").KeptParts(
            closed.states.get, closed.meta.items()
        )
    if KEEPS_SHIFTS:  # and the kept shifts
        importlib.import_module("meshpos.model.kept_shifts").KeptShifts(
            closed.states.get, closed.meta.items()
        )
    load_ms = (time.perf_counter() - started) * 1000
    expected = venue.expected_cash(venue.shift(shift.id))
    loaded_days = sum(1 for n in venue.replica.names() if is_ledger(n))
    rss_mb = _rss_mb()  # what the open shift holds now (the peak is a close's moment, two days)
    closed_days = len(closed.states)
    started = time.process_time()
    closed.open_shift_day()  # (its load counts in the Z: a close is rare)
    z = close_with_z(venue, CASHIER, expected, today + 2000)
    z_ms = (time.process_time() - started) * 1000
    same = same and z.z.sales == after.sales and z.z.drawer_expected == expected
    closed.after_z = True  # its own day and the last close (as the closer closes them)
    for ledger in list(venue.ledgers()):
        closed.close(ledger.date, shift.id)
    started = time.process_time()
    profile = cProfile.Profile()
    profile.enable()
    reprint, reprint_loads = _reprint(closed, shift.id)
    profile.disable()
    reprint_ms = (time.process_time() - started) * 1000
    same = same and reprint == z.z
    return {
        "days": days,
        "sales_per_day": sales,
        "loaded_days": loaded_days,
        "closed_days": closed_days,
        "receipts": after.receipts,
        "same": same and first.receipts + 2 == after.receipts,
        "z_cpu_ms": round(z_ms, 1),
        "reprint_loads": reprint_loads,
        "reprint_cpu_ms": round(reprint_ms, 1),  # (profiled: its loads and report)
        "reprint_calls": pstats.Stats(profile).total_calls,  # type: ignore[attr-defined]
        "x_first_cpu_ms": round(first_ms, 1),
        "x_first_calls": first_calls,
        "x_after_sale_cpu_ms": round(after_ms, 1),
        "x_after_sale_calls": after_calls,
        "load_ms": round(load_ms, 1),
        "build_cpu_s": round(build_s, 1),
        "rss_before_z_mb": rss_mb,
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.long_shift", description=__doc__)
    parser.add_argument("--days", type=int, default=10, help="business days the shift is open")
    parser.add_argument("--sales", type=int, default=300, help="sales per day")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    report = measure(args.days, args.sales)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:22} {value}")
    return 0 if report["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
