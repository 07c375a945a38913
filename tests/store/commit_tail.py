"""A probe, not a test: one register's commits in ``meshpos bench mesh`` (100 sales/s over six
registers), replayed on one ``SqliteStore`` with nothing else in the process, so the store's own tail
shows without the bench's six processes queueing for 2 CPUs (issue 18, tail).

Every 10 ms a round of received updates (two, unsynced, one fsync per 50 ms as the engine's window
does); every 60 ms a sale: three taps (unsynced) and the payment (fsync'd), one after another, each
awaited, each with a register's two meta values. ``--busy-ms``: the loop also runs Python that long
every 10 ms (a peer's batch applied, a page served), as a register's loop does between its taps: the
store's thread then waits for the GIL each time it comes back from SQLite. Prints the sales' and the payment commits' p50 / p99 / max, how many sales took over 10 ms,
the commits during which the database file was written (in WAL mode only a checkpoint writes it:
SQLite's own runs inside the COMMIT that crosses 1,000 pages) and how long those took, and the
process's CPU. ``background_checkpoints``: a store that checkpoints beside its commits (the branch
``h/tail-checkpoint``, not merged: docs/benchmarks.md, tenth session, tail) counts them; None here.

    python -m tests.store.commit_tail [SECONDS] [--json] [--busy-ms MS] [--switch-interval-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.store import SqliteStore
from meshpos.store.connection import Stamp, Transaction

DAY = "ledger/2026-12-06"


def updates(count: int, size: int) -> list[bytes]:
    """``count`` updates of one day document, each a receipt of ``size`` bytes (tests use them too)."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    found: list[bytes] = []
    doc.observe(lambda event: found.append(event.update))
    receipts = doc.get("receipts", type=pycrdt.Map)
    for i in range(count):
        receipts[f"r{i}"] = "x" * size
    return found


def _q(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else 0


async def _run(seconds: float, path: Path, busy_s: float = 0.0) -> dict[str, Any]:
    received = iter(updates(int(seconds * 200) + 10, 1500))
    taps = iter(updates(int(seconds * 60) + 10, 300))
    pays = iter(updates(int(seconds * 20) + 10, 1500))
    sales: list[float] = []
    payments: list[float] = []
    checkpointed: list[float] = []  # commits during which the database file was written

    async def commit(
        rows: list[tuple[str, bytes]], fsync: bool, meta: dict[str, str] | None = None
    ) -> None:
        before, started = os.stat(path).st_mtime_ns, time.perf_counter()
        await store.append(rows, meta, validated=True, fsync=fsync)
        if os.stat(path).st_mtime_ns != before:
            checkpointed.append(time.perf_counter() - started)

    spans: list[dict[str, float]] = []  # each transaction's stages (``Transaction.watch``)

    def watch() -> Stamp:
        stamps = {"created": time.perf_counter()}
        spans.append(stamps)
        return lambda stage: stamps.__setitem__(stage, time.perf_counter())

    Transaction.watch = watch
    async with await SqliteStore.open(path) as store:
        loop = asyncio.get_running_loop()
        meta = {"receipt_seq": "1", "receipt_series": "a1b2"}  # (what a register's tap carries)
        begin = loop.time() + 0.1
        cpu = time.process_time()

        syncs: set[asyncio.Future[None]] = set()

        async def receiving() -> None:
            k = 0
            while (at := begin + k * 0.010) < begin + seconds:
                await asyncio.sleep(max(0.0, at - loop.time()))
                rows = [(DAY, next(received)), (DAY, next(received))]
                await commit(rows, False)
                if k % 5 == 4:
                    syncs.add(asyncio.ensure_future(store.sync()))
                k += 1

        async def selling() -> None:
            k = 0
            while (at := begin + 0.005 + k * 0.060) < begin + seconds:
                await asyncio.sleep(max(0.0, at - loop.time()))
                started = time.perf_counter()
                for n in range(3):
                    meta["receipt_seq"] = str(k * 4 + n)
                    await commit([(DAY, next(taps))], False, meta)
                paying = time.perf_counter()
                await commit([(DAY, next(pays))], True, meta)
                done = time.perf_counter()
                sales.append(done - started)
                payments.append(done - paying)
                k += 1

        async def busy() -> None:  # the loop's own Python: a received batch applied, a page
            k = 0
            while (at := begin + 0.003 + k * 0.010) < begin + seconds:
                await asyncio.sleep(max(0.0, at - loop.time()))
                until = time.perf_counter() + busy_s
                while time.perf_counter() < until:
                    pass
                k += 1

        await asyncio.gather(receiving(), selling(), busy())
        await asyncio.gather(*syncs)
        await store.idle()
        cpu = time.process_time() - cpu
        checkpoints = getattr(store.stats, "checkpoints", None)
    Transaction.watch = None
    done = [t for t in spans if "committed" in t and "told" in t]
    # on the connection's thread from BEGIN to COMMIT's end (the fsync when FULL, and the GIL
    # taken back after each statement); before: its wake-up; after: the loop getting to the outcome
    on_thread = [t["committed"] - t["thread"] for t in done]
    to_thread = [t["thread"] - t["created"] for t in done]
    back = [t["told"] - t["committed"] for t in done]
    return {
        "sales": len(sales),
        "sale_p50_ms": _q(sales, 0.5),
        "sale_p99_ms": _q(sales, 0.99),
        "sale_max_ms": _q(sales, 1.0),
        "sales_over_10_ms": sum(s > 0.010 for s in sales),
        "payment_commit_p50_ms": _q(payments, 0.5),
        "payment_commit_p99_ms": _q(payments, 0.99),
        "payment_commit_max_ms": _q(payments, 1.0),
        "commits_writing_the_database": len(checkpointed),
        "their_p50_ms": _q(checkpointed, 0.5),
        "their_max_ms": _q(checkpointed, 1.0),
        "background_checkpoints": checkpoints,
        "transactions": len(done),
        "to_thread_p50_p99_ms": [_q(to_thread, 0.5), _q(to_thread, 0.99)],
        "on_thread_p50_p99_ms": [_q(on_thread, 0.5), _q(on_thread, 0.99)],
        "back_to_loop_p50_p99_ms": [_q(back, 0.5), _q(back, 0.99)],
        "cpu_s": round(cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.store.commit_tail")
    parser.add_argument("seconds", nargs="?", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--busy-ms", type=float, default=0.0, help="the loop runs Python this long every 10 ms"
    )
    parser.add_argument(
        "--switch-interval-ms", type=float, default=None, help="sys.setswitchinterval, in ms"
    )
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    with tempfile.TemporaryDirectory(prefix="meshpos-commit-tail-") as folder:
        result = asyncio.run(_run(args.seconds, Path(folder) / "r.db", args.busy_ms / 1000))
    result["switch_interval_ms"] = sys.getswitchinterval() * 1000
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
