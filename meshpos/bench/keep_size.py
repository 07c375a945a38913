"""``python -m meshpos.bench.keep_size --json``: a register's file size over many business days, with and
without ``keep_days`` (issue 18, keep; docs/benchmarks.md, keep).

Writes ``--days`` business days of ``--receipts-per-day`` sales into a real SQLite file through
:class:`~meshpos.store.SqliteStore` as a register holds them (``bench history``'s fixture: each day one
update sold through the model and re-keyed, then closed as ``DayCloser`` closes it), one day after the
other, and after each day drops the closed days older than ``--keep`` as ``register/retention.py`` does
(``Store.drop_day``). Three files, each its own run:

* ``keep_all`` — nothing dropped (today without the rule: grows with every day);
* ``keep`` — days past ``--keep`` dropped; SQLite reuses the freed pages (its freelist), the file
  is not shrunk: the size should level off once days are dropped as fast as they come;
* ``keep_auto_vacuum`` — the same with the file made ``auto_vacuum = FULL`` before the schema (not what
  the store does: the figure says whether returning pages would matter).

Sizes are of the main file after each close (the store checkpoints the WAL at close), in MB, every
``--every`` days, plus the page and freelist counts at the end. Deterministic (no timing figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.bench.history_fixture import (
    TEMPLATES,
    FixtureMaker,
    close_stored_days,
    closed_day_dates,
)
from meshpos.bench.history_rekey import day_tag, render
from meshpos.model.documents import day_of, ledger_name
from meshpos.register.retention import horizon
from meshpos.store import SqliteStore

MODES = ("keep_all", "keep", "keep_auto_vacuum")


async def _run(
    path: Path, maker: FixtureMaker, days: int, keep: int, every: int, mode: str
) -> dict[str, Any]:
    if mode == "keep_auto_vacuum":
        with sqlite3.connect(path) as conn:  # set before any table exists, as it must be
            conn.execute("PRAGMA auto_vacuum = FULL")
            conn.execute("CREATE TABLE scratch (x)")
            conn.execute("DROP TABLE scratch")
        conn.close()
    templates = maker.closed_templates(min(TEMPLATES, days))
    dates = closed_day_dates(maker.today, days)
    sizes: dict[int, float] = {}
    dropped = 0
    for d, date in enumerate(dates):
        update = render(
            templates[d % len(templates)],
            day_tag(d + 1),
            FixtureMaker._shift(maker, date),
            d * maker.per_day,
        )
        async with await SqliteStore.open(path, check_integrity=False) as store:
            await store.append([(ledger_name(date), update)])
            await close_stored_days(store, [(date, update)], signed=True)
            if mode != "keep_all":
                today = dates[d + 1] if d + 1 < days else maker.today  # the next business day
                oldest = horizon(today, keep)
                for name in sorted(await store.closed_days()):
                    if day_of(name) < oldest:
                        await store.drop_day(name)
                        dropped += 1
        if (d + 1) % every == 0 or d + 1 == days:
            sizes[d + 1] = round((await asyncio.to_thread(path.stat)).st_size / 1e6, 1)
    with sqlite3.connect(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    return {"mb_after_days": sizes, "pages": pages, "free_pages": free, "days_dropped": dropped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--days", type=int, default=150, help="business days written")
    parser.add_argument("--keep", type=int, default=30, help="keep_days of the dropping runs")
    parser.add_argument("--receipts-per-day", type=int, default=1000)
    parser.add_argument("--every", type=int, default=15, help="a size every this many days")
    parser.add_argument("--modes", default=",".join(MODES), help=f"some of {', '.join(MODES)}")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    out: dict[str, Any] = {
        "days": args.days,
        "keep_days": args.keep,
        "receipts_per_day": args.receipts_per_day,
    }
    with tempfile.TemporaryDirectory(prefix="meshpos-keep-") as tmp:
        root = Path(tmp)
        maker = FixtureMaker(root, args.receipts_per_day, int(time.time() * 1000))
        for mode in args.modes.split(","):
            if mode not in MODES:
                parser.error(f"--modes: {mode!r} is not one of {', '.join(MODES)}")
            path = root / f"{mode}.db"
            out[mode] = asyncio.run(_run(path, maker, args.days, args.keep, args.every, mode))
            print(f"{mode}: {out[mode]}", file=sys.stderr)
    out["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
