"""What a register pays to judge one signed console statement against its closed days
(``meshpos/sync/_lacking.py``; the twenty-second session, part ``newconsole``).

``python -m meshpos.bench.lacking_cost --json --days 62`` prints Python calls (load-independent:
run with ``PYTHONHASHSEED=0``) and microseconds per statement, with the closed part (the console's
latest ``STATED_CLOSED_DAYS`` closed days) and without it (most statements while sales flow), for a
register holding ``--days`` closed days (ledger and kitchen each, 5 client ids), all confirmed.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import pstats
import time

from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.sync._closed import _ClosedDoc
from meshpos.sync._closed_said import STATED_CLOSED_DAYS
from meshpos.sync._lacking import LackingDays


def measure(days: int, repeat: int = 1000) -> dict[str, object]:
    today = dt.date(2026, 12, 7)
    clocks = {1000 + i: 500 for i in range(5)}
    names = [
        name(str(today - dt.timedelta(days=d)))
        for d in range(1, days + 1)
        for name in (ledger_name, kitchen_name)
    ]
    closed = {name: _ClosedDoc(b"", b"", dict(clocks)) for name in names}
    stated = {name: dict(clocks) for name in names[: 2 * STATED_CLOSED_DAYS]}
    without = {ledger_name(str(today)): dict(clocks), kitchen_name(str(today)): dict(clocks)}
    lacking = LackingDays()
    lacking.judge({**without, **stated}, closed, 0, 0.0)  # the closed part once: all confirmed
    out: dict[str, object] = {"closed_days": days}
    for label, console in (("with_closed_part", {**without, **stated}), ("without", without)):
        profile = cProfile.Profile()
        profile.enable()
        lacking.judge(console, closed, 0, 1.0)
        profile.disable()
        start = time.perf_counter()
        for _ in range(repeat):
            lacking.judge(console, closed, 0, 1.0)
        took = (time.perf_counter() - start) / repeat * 1e6
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        out[label] = {"calls": calls, "us": round(took, 1)}
    assert not lacking.lacking  # (a console holding everything: nothing lacking)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=62)
    parser.add_argument("--json", action="store_true", help="print JSON (the only output)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.days)))


if __name__ == "__main__":
    main()
