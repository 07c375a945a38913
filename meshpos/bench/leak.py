"""``meshpos bench leak``: a long day must not leak (issue 15).

A register that held a business day of ``--sales`` sales (default 100,000) and then closed and unloaded it
must come back to within 20 MB of a register that never held it. Two fixtures of the history bench
(:mod:`meshpos.bench.history_fixture`: a real SQLite data dir and certificates) are built: one with a
closed-to-be day of ``--sales`` sales before today, one without. Each is opened by a real node
(:func:`meshpos.node_adapters.make_node`, no discovery, no peers) in a child process of its own, so its
memory is its own:

* ``fresh_rss_mb`` — the node without the day, after start and the reads below;
* ``loaded_rss_mb`` — the node with the day, after start and the reads: a page of the day's receipts,
  the open orders, the status (what the register page asks);
* ``closed_rss_mb`` — the same node after ``Engine.close_day`` unloaded the day (its receipt ids and
  numbers indexed, as the closing policy does) and the same reads again;
* ``closed_vs_fresh_mb`` — ``closed_rss_mb - fresh_rss_mb``; the issue's target is at most 20.

Every RSS is read after a full garbage collection and ``malloc_trim`` (:func:`release_memory`), so freed
memory the C library kept is not counted as a leak. The day is built by re-keying sales the model made
(fast), not sold through the API; what a day's sales leave behind in the services is measured by the reads.

``--live`` measures a day sold in the running node instead (slower: every sale is committed): the node
without the day sells ``--sales`` sales through ``Node.write`` (open order, two lines, card payment; the
page's reads every 500), waits for its store to be idle, closes today the same way and is measured again;
``fresh_rss_mb`` is then the same process before its first sale. Its objects are made among everything
else the node makes during the day, so it shows what the load from the store does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.bench.report import print_report
from meshpos.errors import MeshposError

TARGET_MB = 20


def add_leak_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sales", type=int, default=100_000, help="sales of the day closed")
    parser.add_argument("--dir", default=None, help="where the fixtures go (default: a temp dir)")
    parser.add_argument(
        "--live", action="store_true", help="sell the day in the node, then close it"
    )


def _rss_kb() -> int:
    from meshpos.engine.memory import release_memory

    release_memory()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise MeshposError("no VmRSS in /proc/self/status")


async def _node(config_file: Path, date: str, close: bool) -> dict[str, Any]:
    """Child: open the node, read what the register page reads, measure; close the day and again."""
    from meshpos.config import load_config
    from meshpos.model.documents import ledger_name
    from meshpos.model.numbering import format_number
    from meshpos.node_adapters import make_node

    config = load_config(config_file, env={})
    report: dict[str, Any] = {}
    async with make_node(config, discovery=False) as node:
        if close:  # held from the start: a closing policy may have closed it already
            await node.engine.open_day(ledger_name(date))

        def read() -> None:
            if not node.engine.sync.is_closed(ledger_name(date)):
                node.receipts(date, 10)
            node.open_orders()
            node.status()

        read()
        report["rss_kb"] = _rss_kb()
        if close:
            name = ledger_name(date)
            await node.engine.open_day(name)  # closed again meanwhile by a policy: load it again
            ledger = node.venue.ledger(
                date
            )  # its receipts' ids and numbers, read as the policy does
            numbers = [format_number(series, seq) for series, seq in ledger.issued_numbers()]
            keys = ledger.receipt_ids() + numbers
            report["receipts"] = len(numbers)
            del ledger, numbers
            began = time.perf_counter()
            await node.engine.close_day(name, keys)
            report["close_s"] = round(time.perf_counter() - began, 2)
            del keys
            read()
            report["closed_kb"] = _rss_kb()
    return report


async def _live(config_file: Path, sales: int) -> dict[str, Any]:
    """Child: measure, sell ``sales`` sales into today through the node, close today, measure again."""
    from meshpos.config import load_config
    from meshpos.engine import StoreDocuments
    from meshpos.model.day_end import day_keys
    from meshpos.model.documents import ledger_name
    from meshpos.model.sample import CASHIER
    from meshpos.model.venue import PaymentResult, Venue
    from meshpos.node_adapters import make_node

    def sale(venue: Venue, now_ms: int) -> PaymentResult:
        order = venue.open_order(CASHIER, now_ms)
        for product in ("espresso", "croissant"):
            venue.add_line(CASHIER, order.id, product, 1, now_ms)
        return venue.pay(CASHIER, order.id, "card", now_ms)

    config = load_config(config_file, env={})
    report: dict[str, Any] = {}
    async with make_node(config, discovery=False) as node:
        date = node.venue.business_date(node.now_ms())
        name = ledger_name(date)

        def read() -> None:
            if not node.engine.sync.is_closed(name):
                node.receipts(date, 10)
            node.open_orders()
            node.status()

        read()
        report["fresh_kb"] = _rss_kb()
        for done in range(0, sales, 50):  # a few registers' worth in flight at once
            await asyncio.gather(*(node.write(sale) for _ in range(min(50, sales - done))))
            if done % 500 == 0:
                read()
        read()
        report["rss_kb"] = _rss_kb()
        keys = day_keys(node.venue.ledger(date))
        report["receipts"] = len(keys) // 2
        began = time.perf_counter()
        await node.engine.close_day(name, keys)
        report["close_s"] = round(time.perf_counter() - began, 2)
        del keys
        read()
        if isinstance(node.engine.store, StoreDocuments):  # a compaction the sales started is over
            await node.engine.store.store.idle()
        report["closed_kb"] = _rss_kb()
    return report


def _child(step: str, config_file: Path, arg: str) -> dict[str, Any]:
    from meshpos.allocator import object_allocator_env

    argv = [sys.executable, "-m", "meshpos.bench.leak", step, str(config_file), arg]
    env = object_allocator_env(os.environ)  # the allocator ``meshpos node`` runs with
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False, env=env)
    if done.returncode != 0:
        raise MeshposError(f"bench leak: the {step} node failed (exit code {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def _fixtures(root: Path, sales: int) -> tuple[Path, Path, str]:
    from meshpos.bench.history_fixture import FixtureMaker, closed_day_dates

    maker = FixtureMaker(root, sales, int(time.time() * 1000))
    fresh = await maker.build("fresh", 0, 1)  # today holds one sale on both (the fixture needs one)
    held = await maker.build("day", 1, 1)
    (date,) = closed_day_dates(maker.today, 1)
    return fresh.config_file, held.config_file, date


async def _fresh_fixture(root: Path) -> Path:
    from meshpos.bench.history_fixture import FixtureMaker

    maker = FixtureMaker(root, 1, int(time.time() * 1000))
    return (await maker.build("fresh", 0, 1)).config_file  # today's shift is open: the node sells


def run_leak_bench(args: argparse.Namespace) -> int:
    if not 0 < args.sales <= 999_999:
        raise MeshposError(f"--sales must be 1..999999, got {args.sales}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.live:
            fresh_config = asyncio.run(_fresh_fixture(Path(tmp)))
            held = _child("live", fresh_config, str(args.sales))
            fresh = {"rss_kb": held["fresh_kb"]}
        else:
            fresh_config, day_config, date = asyncio.run(_fixtures(Path(tmp), args.sales))
            fresh = _child("fresh", fresh_config, date)
            held = _child("close", day_config, date)
    closed_vs_fresh = (held["closed_kb"] - fresh["rss_kb"]) / 1024
    report = {
        "sales": held["receipts"],
        "fresh_rss_mb": round(fresh["rss_kb"] / 1024, 1),
        "loaded_rss_mb": round(held["rss_kb"] / 1024, 1),
        "closed_rss_mb": round(held["closed_kb"] / 1024, 1),
        "close_s": held["close_s"],
        "closed_vs_fresh_mb": round(closed_vs_fresh, 1),
        "target_mb": TARGET_MB,
        "target_met": closed_vs_fresh <= TARGET_MB,
    }
    print_report(report, args.json)
    return 0


def _main(step: str, config_file: Path, arg: str) -> dict[str, Any]:
    if step == "live":
        return asyncio.run(_live(config_file, int(arg)))
    return asyncio.run(_node(config_file, arg, close=step == "close"))


if __name__ == "__main__":
    print(json.dumps(_main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])), flush=True)
    os._exit(0)  # the measured node is stopped; its memory is not worth tearing down
