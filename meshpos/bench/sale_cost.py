"""``python -m meshpos.bench.sale_cost --json``: what one sale costs the register that makes it.

Issue 18: a sale costs its seller 4-6 ms of CPU in ``meshpos bench mesh`` (a received one ~1.5 ms), and
a third of the bench's CPU per receipt at 6 devices is the sellers'. The bench's figures move with the
machine's load and mix the seller's work with the five links'; this probe takes the seller alone: one
real register (``meshpos.node.Node``, its SQLite file, no links, no discovery) in this process, selling
the bench's sale (open an order, two lines, pay by card; each step awaited until durable) closed-loop.
With the CPU: each sale's wall time (p50/p99) and the loop thread's context switches a sale (the
twenty-second session: an involuntary one is the loop preempted, mostly by the store's thread that
a transaction woke, which is where a loaded machine's slow sales wait; docs/benchmarks.md).

It prints, per sale, the CPU of the process and of its threads (the event loop's, the SQLite
connections', ``/proc/self/task``) and of each step on the loop; then, on a second register that sells
the same and counts (the counting costs CPU and stays installed, so the first register's CPU is the
figure and the second's counts are):
pycrdt transactions, updates the model's writes made and their bytes, orders and lines parsed, jobs
on the store's threads, SQL statements, commits and fsyncs, status computations, loop iterations.

And how a step's cost grows with what the register holds: ``--days`` (receipts the day already holds
when the sales are measured: each size sold first, closed-loop, by the same sale) and ``--lines``
(the CPU of one line added to an order of that many lines, the mean of ``--line-taps``; the API
answers with the whole order, so some growth with the live order is expected, none with the day's).
``--calls`` (the twentieth session) adds ``python_calls_per_sale``: cProfile's count of Python calls
(builtins included) over as many sales on a third register, after the CPU pass and before the counted
one (run with PYTHONHASHSEED=0 to compare trees). **Changed** (the twenty-second session): that count
includes the ticker's rounds and the loop's iterations, which follow wall time, so it rose with the
load (3,455 at load 10, 4,062 at 17.5, one tree); ``python_calls_per_sale_selling_task`` counts only
the calls made while the selling task runs, over as many sales again, and barely moves (within 8 a
sale between runs of one tree). docs/benchmarks.md (sale cost).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pycrdt

import meshpos.model._order_kept as order_kept
import meshpos.model.order_lines as order_lines
from meshpos.bench.mesh_drive import noon_offset
from meshpos.bench.receive_counts import Counts, thread_cpu
from meshpos.config import load_config
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.sync import Synchronizer

PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")  # as ``mesh_worker`` sells
STEPS = ("open order", "line 1", "line 2", "pay by card")


async def _sale(node: Node, k: int, steps: dict[str, float] | None = None) -> None:
    """The bench's sale ``k`` (``mesh_worker.sell_one``); ``steps``: each step's loop CPU added."""
    clock = time.thread_time
    t0 = clock()
    order = await node.open_order(CASHIER, table=f"T{k % 20}")
    t1 = clock()
    await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1 + k % 2)
    t2 = clock()
    await node.add_line(CASHIER, order.id, PRODUCTS[(k + 2) % len(PRODUCTS)], 1)
    t3 = clock()
    await node.pay(CASHIER, order.id, "card")
    t4 = clock()
    if steps is not None:
        for name, took in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            steps[name] = steps.get(name, 0.0) + took


def _store_stats(node: Node) -> dict[str, int]:
    """The store's commits, fsyncs and compactions so far (``store.base.StoreStats``): a compaction
    merges a day's log into its snapshot, work that grows (as log2) with the day's size."""
    store: Any = getattr(node.engine.store, "store", None)
    if store is None:
        return {"commits": 0, "fsyncs": 0, "compactions": 0}
    stats = store.stats
    return {
        "commits": int(stats.transactions),
        "fsyncs": int(stats.transactions - stats.unsynced_transactions + stats.syncs),
        "compactions": int(stats.compactions),
    }


@contextmanager
def _counted(counts: Counter[str]) -> Iterator[None]:
    """Count, while inside: pycrdt transactions, the model's updates and their bytes, orders and lines
    parsed (the wrapped functions are put back after)."""
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, count: Callable[..., None]) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))

        def counted(*args: Any, **kwargs: Any) -> Any:
            count(*args, **kwargs)
            return original(*args, **kwargs)

        setattr(owner, name, counted)

    def transaction(*_args: Any, **_kwargs: Any) -> None:
        counts["pycrdt_transactions"] += 1

    def update(_self: Any, _name: str, event: Any) -> None:
        size = len(event.update)
        if size > 2:  # (an empty update is two bytes: a read's transaction)
            counts["updates"] += 1
            counts["update_bytes"] += size

    def orders(*_args: Any, **_kwargs: Any) -> None:
        counts["orders_parsed"] += 1

    def lines(*_args: Any, **_kwargs: Any) -> None:
        counts["lines_parsed"] += 1

    wrap(pycrdt.Doc, "transaction", transaction)
    wrap(Synchronizer, "_on_change", update)
    wrap(order_kept, "parse_order", orders)
    wrap(order_lines, "parse_line", lines)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _loop_switches() -> tuple[int, int]:
    """This (the loop's) thread's voluntary and involuntary context switches so far; (0, 0) without
    Linux's ``/proc/thread-self``. An involuntary one is the loop taken off its CPU while it had work:
    mostly the store's thread, woken with a transaction, preempting it (the twenty-second session)."""
    try:
        text = Path("/proc/thread-self/status").read_text()
    except OSError:
        return 0, 0
    found = dict(line.split(":", 1) for line in text.splitlines() if "ctxt_switches" in line)
    return int(found["voluntary_ctxt_switches"]), int(found["nonvoluntary_ctxt_switches"])


async def _measure(node: Node, sales: int, first: int) -> dict[str, Any]:
    """CPU per sale of ``sales`` sales, by thread and by step; their wall time (closed-loop, one
    register: what no link or peer adds) and the loop thread's context switches."""
    steps: dict[str, float] = {}
    walls: list[float] = []
    threads, cpu, stored = thread_cpu(), time.process_time(), _store_stats(node)
    switches = _loop_switches()
    for k in range(first, first + sales):
        began = time.perf_counter()
        await _sale(node, k, steps)
        walls.append(time.perf_counter() - began)
    cpu, threads_after, stored_after = time.process_time() - cpu, thread_cpu(), _store_stats(node)
    voluntary, involuntary = (b - a for a, b in zip(switches, _loop_switches(), strict=True))
    walls.sort()
    return {
        "cpu_ms_per_sale": round(cpu * 1000 / sales, 3),
        "threads_cpu_ms_per_sale": {
            k: round((v - threads.get(k, 0.0)) * 1000 / sales, 3)
            for k, v in sorted(threads_after.items())
        },
        "step_loop_cpu_ms": {k: round(v * 1000 / sales, 3) for k, v in steps.items()},
        **{f"{k}_per_sale": round((v - stored[k]) / sales, 3) for k, v in stored_after.items()},
        "sale_wall_p50_ms": round(walls[len(walls) // 2] * 1000, 2),
        "sale_wall_p99_ms": round(walls[min(len(walls) - 1, int(0.99 * len(walls)))] * 1000, 2),
        "loop_switches_per_sale": {
            "voluntary": round(voluntary / sales, 2),
            "involuntary": round(involuntary / sales, 2),
        },
    }


async def _count(node: Node, counter: Counts, sales: int, first: int) -> dict[str, Any]:
    """What ``sales`` sales do, counted, per sale; and the loop's CPU per callback (a task by its
    coroutine) and in the functions ``Counts`` times, in ms per sale (those over 1 µs)."""
    mine: Counter[str] = Counter()
    before = counter.snapshot(node.counters)
    with _counted(mine):
        for k in range(first, first + sales):
            await _sale(node, k)
    after = counter.snapshot(node.counters)
    was = before["counts"]
    grown = {k: v - was.get(k, 0) for k, v in after["counts"].items() if v != was.get(k, 0)}
    spent = {
        k: round((v - before["callbacks_cpu_s"].get(k, 0.0)) * 1000 / sales, 3)
        for k, v in after["callbacks_cpu_s"].items()
    }
    return {
        "counts_per_sale": {k: round(v / sales, 2) for k, v in sorted({**grown, **mine}.items())},
        "loop_cpu_ms_per_sale_by_callback": {
            k: v for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.001
        },
    }


async def _line_cost(node: Node, lines: int, taps: int) -> dict[str, float]:
    """One line added to an order of ``lines`` lines: its loop CPU (ms), the mean of ``taps``, then
    the lines parsed and pycrdt transactions per tap in as many taps again, counted."""
    order = await node.open_order(CASHIER, table="big")
    for k in range(lines):
        await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1)
    began = time.thread_time()
    for k in range(taps):
        await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1)
    took = time.thread_time() - began
    counts: Counter[str] = Counter()
    with _counted(counts):
        for k in range(taps):
            await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1)
    await node.pay(CASHIER, order.id, "card")  # (settled: the next size starts its own order)
    return {
        "loop_cpu_ms": round(took * 1000 / taps, 3),
        "lines_parsed": round(counts["lines_parsed"] / taps, 2),
        "pycrdt_transactions": round(counts["pycrdt_transactions"] / taps, 2),
    }


async def _register(folder: Path) -> Node:
    """A new register (its venue, identity, catalog and SQLite file in ``folder``), started."""
    authority = make_venue(folder)
    await make_device(authority, folder, "R01", catalog=catalog_update())
    offset = noon_offset()  # (a run never straddles the day's cut-off)
    config = load_config(folder / "R01.toml", env={})
    node = make_node(config, discovery=False, clock=lambda: time.time() + offset)
    await node.start()
    return node


async def _pass(args: argparse.Namespace, folder: Path, counter: Counts | None) -> dict[str, Any]:
    """One register through the day sizes: each size's CPU figures, or with ``counter`` its counts
    (installed after the warm-up; it stays for the process, so it comes after every CPU figure)."""
    node = await _register(folder)
    try:
        await node.open_shift(CASHIER, 10_000)
        for k in range(args.warm):  # (the first sales make the day's first records)
            await _sale(node, k)
        sold = args.warm
        node.status()  # (its first look counts the day whole: before any measure, as on a register)
        if counter is not None:
            counter.install(getattr(node.engine.store, "store", None))
        by_day: dict[str, Any] = {}
        for day in args.days:
            while sold < day:
                await _sale(node, sold)
                sold += 1
            if counter is None:
                by_day[str(day)] = await _measure(node, args.sales, sold)
            else:
                by_day[str(day)] = await _count(node, counter, args.sales, sold)
            sold += args.sales
        if counter is not None:
            return by_day
        lines = {str(n): await _line_cost(node, n, args.line_taps) for n in args.lines}
        return {"by_day_receipts": by_day, "line_tap_by_order_lines": lines}
    finally:
        await node.stop()


async def _calls(args: argparse.Namespace, folder: Path) -> tuple[float, float]:
    """Python calls per sale (cProfile's count, builtins included) of ``args.sales`` sales on a third
    register, after its warm-up (run with PYTHONHASHSEED=0 to compare trees); then, over as many
    sales again, the calls made while the selling task runs (``sys.setprofile``). The first counts
    the ticker's rounds and the loop's iterations too, which follow wall time, so it rises with the
    machine's load; the second leaves them out and barely moves (the twenty-second session: within 8 a
    sale between runs). The profilers stay off for everything else."""
    node = await _register(folder)
    try:
        await node.open_shift(CASHIER, 10_000)
        for k in range(args.warm):
            await _sale(node, k)
        node.status()
        profile = cProfile.Profile()
        profile.enable()
        for k in range(args.warm, args.warm + args.sales):
            await _sale(node, k)
        profile.disable()
        calls: int = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        selling, current = asyncio.current_task(), asyncio.current_task
        counted = [0]

        def hook(_frame: FrameType, event: str, _arg: object) -> None:
            if (event == "call" or event == "c_call") and current() is selling:
                counted[0] += 1

        sys.setprofile(hook)
        try:
            for k in range(args.warm + args.sales, args.warm + 2 * args.sales):
                await _sale(node, k)
        finally:
            sys.setprofile(None)
        return round(calls / int(args.sales), 1), round(counted[0] / int(args.sales), 1)
    finally:
        await node.stop()


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The CPU pass on one register, then the counted pass on another (``Counts`` cannot be taken
    out again: a CPU figure measured after it would include the counting)."""
    report: dict[str, Any] = {"sales": args.sales, "load_average": os.getloadavg()[0]}
    (folder / "cpu").mkdir()
    (folder / "counted").mkdir()
    report.update(await _pass(args, folder / "cpu", None))
    if args.calls:  # (before the counted pass: what ``Counts`` installs stays, and costs calls)
        (folder / "calls").mkdir()
        calls, selling = await _calls(args, folder / "calls")
        report["python_calls_per_sale"] = calls
        report["python_calls_per_sale_selling_task"] = selling
    counted = await _pass(args, folder / "counted", Counts())
    for day, figures in report["by_day_receipts"].items():
        figures.update(counted[day])
    return report


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.sale_cost", description=__doc__)
    parser.add_argument(
        "--sales", type=int, default=300, help="sales measured (and counted) per size"
    )
    parser.add_argument("--warm", type=int, default=20, help="sales before the first measure")
    parser.add_argument(
        "--days", type=_sizes, default=[0], help="receipts the day holds, e.g. 0,1000,5000"
    )
    parser.add_argument("--lines", type=_sizes, default=[2, 50], help="order sizes, e.g. 2,50,500")
    parser.add_argument("--line-taps", type=int, default=10, help="lines added at each order size")
    parser.add_argument(
        "--calls",
        action="store_true",
        help="also Python calls per sale (cProfile, a third register)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshpos-sale-cost-") as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
