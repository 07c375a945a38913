"""``python -m meshpos.bench.gil_handback``: what a busy interpreter costs a tap's commit on the store's
thread, by switch interval (issue 18, tail).

A transaction lets go of the GIL inside SQLite at each statement and must take it back to go on: a
thread that wants it waits up to the interpreter's switch interval (``sys.setswitchinterval``, 5 ms
by default) before the thread holding it is made to let go. On a register the holder is the event
loop running Python (a peer's batch applied, a page served). This opens a real ``SqliteStore`` and
commits a tap's rows (one 300-byte update, a register's two meta values) ``--commits`` times, unsynced
and fsync'd, while a thread runs Python without a pause, and reports each commit's time on the
connection's thread (``Transaction.watch``: ``BEGIN`` to the end of ``COMMIT``) per switch interval
(no CPU figure: the spinner burns a CPU whatever the interval). The spinning thread stands for a loop that never pauses: the worst case, not a
register's usual one (``tests/store/commit_tail.py --busy-ms`` replays a register's commits).

    python -m meshpos.bench.gil_handback [--json] [--commits N] [--intervals-ms 5,0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_meter import percentile
from meshpos.model.documents import ledger_name
from meshpos.store import SqliteStore
from meshpos.store.connection import Stamp, Transaction

DAY = ledger_name("2026-12-06")


async def _commits(path: Path, commits: int, fsync: bool) -> list[float]:
    """Each commit's time on the connection's thread, with a thread spinning in Python meanwhile."""
    spans: list[dict[str, float]] = []

    def watch() -> Stamp:
        stamps: dict[str, float] = {}
        spans.append(stamps)
        return lambda stage: stamps.__setitem__(stage, time.perf_counter())

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            for _ in range(1000):
                pass

    async with await SqliteStore.open(path) as store:
        spinner = threading.Thread(target=spin, name="spinner")
        Transaction.watch = watch
        spinner.start()
        try:
            for k in range(commits):
                meta = {"receipt_seq": str(k), "receipt_series": "a1b2"}
                await store.append([(DAY, bytes(300))], meta, validated=True, fsync=fsync)
                await asyncio.sleep(0.002)  # (taps come apart: the thread waits for work)
        finally:
            Transaction.watch = None
            stop.set()
            spinner.join()
    return [s["committed"] - s["thread"] for s in spans if "committed" in s]


def run(commits: int, intervals: list[float]) -> dict[str, Any]:
    before = sys.getswitchinterval()
    out: dict[str, Any] = {"commits": commits}
    try:
        for interval in intervals:
            sys.setswitchinterval(interval / 1000)
            for fsync in (False, True):
                with tempfile.TemporaryDirectory(prefix="meshpos-gil-") as folder:
                    spans = asyncio.run(_commits(Path(folder) / "r.db", commits, fsync))
                key = f"{'fsync' if fsync else 'unsynced'}_{interval:g}ms"
                out[f"on_thread_{key}_p50_p99_ms"] = [
                    round(percentile(spans, q) * 1000, 2) for q in (0.5, 0.99)
                ]
    finally:
        sys.setswitchinterval(before)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.gil_handback")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--intervals-ms", default="5,0.5")
    args = parser.parse_args(argv)
    try:
        intervals = [float(x) for x in args.intervals_ms.split(",")]
    except ValueError:
        parser.error(f"--intervals-ms {args.intervals_ms!r}: expected numbers separated by commas")
    if args.commits < 1 or not intervals or min(intervals) <= 0:
        parser.error("--commits and every interval must be positive")
    report = run(args.commits, intervals)
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
