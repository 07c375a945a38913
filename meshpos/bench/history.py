"""``meshpos bench history``: what a register's history costs it, measured from outside a real node process.

Issue 15 wants every cost to depend on the live day only. This bench builds a register with ``--days`` closed
days of ``--receipts-per-day`` sales and an open day of ``--open-day`` sales (:mod:`history_fixture`), and the
same register with the same open day and no history, starts each as a ``meshpos node`` process in the same
run and measures, from outside:

* ``start_s`` — from the process start until its API answers ``GET /health``, and ``start_cpu_ms`` the
  node's CPU by then; ``start_after_crash_s``/``_cpu_ms`` the same for a start that finds no clean-close
  stamp and checks the whole file (issue 18), and ``history_quick_check_ms`` that check alone;
* ``rss_start_mb`` / ``rss_mb`` — the node process's resident memory after start / after the sales;
* ``idle_cpu_ms_per_s`` — CPU the node burns while nobody uses it (no page, no peer), and
  ``idle_cpu_page_open_ms_per_s`` with the register page's event stream open and nothing changing;
* ``sale_p99_ms`` — one sale is the register page's four calls (open an order, add two lines, pay) while
  a reader plays the page: ``GET /api/events`` open and, on each ``changed`` event, what the page's
  ``load()`` fetches (catalog, current shift, orders, receipts, the open order), never two loads at once;
* ``old_refund_ms`` — a manager's refund of the first receipt of the oldest day (of the open day without
  history), with the page still open.

Then the ratios of the history run to the run without, and ``open_day_kb_per_receipt``: a third register
with a ``--kb-day``-receipt open day and no history; its RSS after start minus the no-history register's,
per extra receipt. Nothing is asserted: the issue's ``targets`` are printed next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sqlite3
import time
from pathlib import Path
from typing import Any

from meshpos.bench.history_fixture import MAX_RECEIPTS, Fixture, FixtureMaker, progress
from meshpos.bench.history_node import Page, RegisterProcess, cpu_ms, rss_kb
from meshpos.bench.report import work_dir
from meshpos.errors import MeshposError
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.store.lock import lock_path

TARGETS: dict[str, float] = {
    "rss_ratio_vs_no_history": 1.3,
    "start_ratio_vs_no_history": 1.3,
    "sale_p99_ratio_vs_no_history": 1.3,
    "rss_mb": 150,
    "sale_p99_ms": 50,
    "old_refund_ms": 200,
    "open_day_kb_per_receipt": 5,
}


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--days", type=int, default=365, help="closed days of history")
    parser.add_argument("--receipts-per-day", type=int, default=1000, help="sales per closed day")
    parser.add_argument("--open-day", type=int, default=5000, help="sales of today's open day")
    parser.add_argument(
        "--kb-day", type=int, default=20_000, help="open-day size for open_day_kb_per_receipt"
    )
    parser.add_argument(
        "--sales",
        type=int,
        default=100,
        help="sales measured per register (p99 of fewer is their worst)",
    )
    parser.add_argument(
        "--sales-budget-s",
        type=float,
        default=120.0,
        help="stop selling after this long (at least one sale is made)",
    )
    parser.add_argument("--idle-s", type=float, default=5.0, help="length of each idle window")
    parser.add_argument("--dir", default=None, help="where the fixtures go (default: a temp dir)")


def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _idle(register: RegisterProcess, seconds: float) -> float:
    before = cpu_ms(register.pid)
    await asyncio.sleep(seconds)
    return round((cpu_ms(register.pid) - before) / seconds, 2)


def _sale(register: RegisterProcess, page: Page) -> float:
    """The register page's four calls for one sale; its wall time in ms."""
    began = time.perf_counter()
    order = register.call("POST", "/api/orders", {"user": CASHIER})
    page.order_id = order["id"]
    for product in ("espresso", "croissant"):
        register.call(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": product}
        )
    register.call(
        "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"}
    )
    page.order_id = ""
    return (time.perf_counter() - began) * 1000


async def _checked_start(fixture: Fixture, label: str) -> tuple[float, float]:
    """A start as after a crash: the lock file without the clean-close stamp (``store.clean_close``),
    so the node checks the whole file; seconds to ``/health`` and the node's CPU ms by then. The node is
    then stopped cleanly, which stamps the file for the measured start."""
    lock_path(fixture.config.db_path).write_text("")
    register = RegisterProcess(fixture)
    try:
        progress(f"{label}: starting the node after a (simulated) crash")
        start_s = await register.start()
        return start_s, cpu_ms(register.pid)
    finally:
        await register.stop()


async def _measure(fixture: Fixture, label: str, args: argparse.Namespace) -> dict[str, Any]:
    checked_s, checked_cpu = await _checked_start(fixture, label)
    register = RegisterProcess(fixture)
    try:
        progress(f"{label}: starting the node")
        start_s = await register.start()
        start_cpu = cpu_ms(register.pid)
        rss_start = rss_kb(register.pid)
        progress(f"{label}: up in {start_s:.2f} s, {rss_start / 1024:.0f} MB; idle")
        idle = await _idle(register, args.idle_s)
        page = Page(register)
        page.open()
        try:
            await page.loaded(timeout=900)
            idle_page = await _idle(register, args.idle_s)
            times: list[float] = []
            began = time.perf_counter()
            while len(times) < max(1, args.sales):
                if times and time.perf_counter() - began > args.sales_budget_s:
                    progress(f"{label}: sales budget spent after {len(times)} sales")
                    break
                times.append(await asyncio.to_thread(_sale, register, page))
                if len(times) % 10 == 0:
                    progress(f"{label}: {len(times)} sales, last {times[-1]:.0f} ms")
            progress(f"{label}: refunding the oldest receipt")
            refund_began = time.perf_counter()
            await asyncio.to_thread(
                register.call,
                "POST",
                f"/api/receipts/{fixture.oldest_receipt}/refunds",
                {"user": MANAGER},
            )
            old_refund_ms = (time.perf_counter() - refund_began) * 1000
        finally:
            page.close()
        return {
            "start_s": round(start_s, 3),
            "start_cpu_ms": round(start_cpu),
            "start_after_crash_s": round(checked_s, 3),
            "start_after_crash_cpu_ms": round(checked_cpu),
            "rss_start_mb": round(rss_start / 1024, 1),
            "rss_mb": round(rss_kb(register.pid) / 1024, 1),
            "rss_helpers_mb": round(register.helpers_rss_kb() / 1024, 1),
            "idle_cpu_ms_per_s": idle,
            "idle_cpu_page_open_ms_per_s": idle_page,
            "sales": len(times),
            "sale_p50_ms": round(_percentile(times, 0.5), 1),
            "sale_p99_ms": round(_percentile(times, 0.99), 1),
            "sale_max_ms": round(max(times), 1),
            "page_loads": page.loads,
            "old_refund_ms": round(old_refund_ms, 1),
        }
    finally:
        await register.stop()


async def _start_rss_kb(fixture: Fixture, label: str) -> tuple[int, float]:
    register = RegisterProcess(fixture)
    try:
        progress(f"{label}: starting the node")
        start_s = await register.start()
        return rss_kb(register.pid), start_s
    finally:
        await register.stop()


def _quick_check_ms(fixture: Fixture) -> float:
    """``PRAGMA quick_check`` of the fixture's file alone (what a start after a crash adds), warm cache."""
    path = fixture.config.db_path
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    try:
        began = time.perf_counter()
        conn.execute("PRAGMA quick_check").fetchall()
        return round((time.perf_counter() - began) * 1000, 1)
    finally:
        conn.close()


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


async def _main(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    maker = FixtureMaker(root, args.receipts_per_day, int(time.time() * 1000))
    bare = await maker.build("no-history", 0, args.open_day)
    history = await maker.build("history", args.days, args.open_day)
    progress(
        f"history fixture: {args.days:,} days, {history.db_mb:,} MB on disk, "
        f"built in {history.build_s:.1f} s"
    )
    runs = {
        "no_history": await _measure(bare, "no history", args),
        "history": await _measure(history, "history", args),
    }
    big = await maker.build("kb-day", 0, args.kb_day)
    big_rss, big_start = await _start_rss_kb(big, f"{args.kb_day:,}-receipt open day")
    bare_kb = runs["no_history"]["rss_start_mb"] * 1024
    h, b = runs["history"], runs["no_history"]
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "fixture": {
            "days": args.days,
            "receipts_per_day": args.receipts_per_day,
            "open_day": args.open_day,
            "history_receipts": args.days * args.receipts_per_day + args.open_day,
            "history_db_mb": history.db_mb,
            "history_build_s": history.build_s,
            "history_quick_check_ms": await asyncio.to_thread(_quick_check_ms, history),
        },
        **runs,
        "kb_day": {
            "receipts": args.kb_day,
            "rss_start_mb": round(big_rss / 1024, 1),
            "start_s": round(big_start, 3),
            "db_mb": big.db_mb,
        },
        "rss_mb": h["rss_mb"],
        "start_s": h["start_s"],
        "sale_p99_ms": h["sale_p99_ms"],
        "old_refund_ms": h["old_refund_ms"],
        "idle_cpu_ms_per_s": h["idle_cpu_ms_per_s"],
        "rss_ratio_vs_no_history": _ratio(h["rss_mb"], b["rss_mb"]),
        "start_ratio_vs_no_history": _ratio(h["start_s"], b["start_s"]),
        "sale_p99_ratio_vs_no_history": _ratio(h["sale_p99_ms"], b["sale_p99_ms"]),
        "open_day_kb_per_receipt": round((big_rss - bare_kb) / (args.kb_day - args.open_day), 2),
        "targets": {f"{key}_max": value for key, value in TARGETS.items()},
    }
    report["targets_met"] = {
        key: report[key] is not None and report[key] <= value for key, value in TARGETS.items()
    }
    return report


def _table(report: dict[str, Any]) -> str:
    f = report["fixture"]
    lines = [
        f"history: {f['days']:,} closed days x {f['receipts_per_day']:,} receipts + an open day of "
        f"{f['open_day']:,} ({f['history_db_mb']:,} MB on disk); without: the same open day",
        f"{'figure':<30}{'history':>14}{'no history':>14}{'ratio':>8}{'target':>10}",
    ]
    h, b = report["history"], report["no_history"]
    ratios = {
        "rss_mb": "rss_ratio_vs_no_history",
        "start_s": "start_ratio_vs_no_history",
        "sale_p99_ms": "sale_p99_ratio_vs_no_history",
    }
    for key in h:
        ratio = report.get(ratios.get(key, ""))
        target = TARGETS.get(key)
        lines.append(
            f"{key:<30}{h[key]:>14}{b[key]:>14}{'' if ratio is None else ratio:>8}"
            f"{'' if target is None else '<= ' + str(target):>10}"
        )
    lines.append(
        f"{'open_day_kb_per_receipt':<30}{report['open_day_kb_per_receipt']:>14}"
        f"{'':>14}{'':>8}{'<= ' + str(TARGETS['open_day_kb_per_receipt']):>10}"
    )
    for key in ratios.values():
        lines.append(f"{key:<30}{report[key]!s:>14}{'':>22}{'<= 1.3':>10}")
    load = report["machine"]["load_avg_before"]
    lines.append(f"load average before the run: {load}")
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> None:
    if args.dir and Path(args.dir).is_dir() and any(Path(args.dir).iterdir()):
        raise MeshposError(
            f"--dir {args.dir} is not empty (an earlier run's fixtures?): give a new one"
        )
    if args.days < 0 or args.receipts_per_day < 1 or args.open_day < 1 or args.sales < 1:
        raise MeshposError(
            "--days must be 0 or more and --receipts-per-day, --open-day and --sales at least 1"
        )
    if args.kb_day <= args.open_day:
        raise MeshposError(
            "--kb-day must be larger than --open-day (it measures the extra receipts)"
        )
    if max(args.days * args.receipts_per_day + args.open_day, args.kb_day) > MAX_RECEIPTS:
        raise MeshposError(
            f"a register of the fixture would hold more than {MAX_RECEIPTS:,} receipts, more than "
            "its six-digit receipt numbers can count"
        )
    if args.idle_s <= 0 or args.sales_budget_s <= 0:
        raise MeshposError("--idle-s and --sales-budget-s must be positive")


def run_history_bench(args: argparse.Namespace) -> int:
    _check(args)
    with work_dir(args.dir, "meshpos-bench-history-") as root:
        report = asyncio.run(_main(args, root))
    print(json.dumps(report, indent=2) if args.json else _table(report))
    return 0
