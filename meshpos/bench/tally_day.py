"""What counting a ledger day costs a node (``model/tally.py``): ``python -m meshpos.bench.tally_day
[--sales N] [--json]``.

A register sells ``--sales`` of the bench's sales (``mesh_parts._sell``: an order, two lines, paid by
card) into its day, keeping each sale's update. Then, each on a fresh replica with a
:class:`~meshpos.model.tally.LedgerTally` on the day (as ``register/status`` keeps one):

* ``day_*``: the whole day applied as one update (a catch-up's step 2, a big anti-entropy diff) and
  the counts read once: the apply with its observers and the counting;
* ``load_*``: the whole day applied with no tally, then a new tally's first read (a restart's load
  from SQLite counted when the status first asks);
* ``live_*``: each sale's update applied in turn and the counts read after each (a received live
  sale: the status reads them after every change).

``*_calls`` are Python function calls (cProfile's count: deterministic, load-independent), per sale;
``*_us`` CPU time (``time.thread_time``) per sale, the best of ``--repeat`` runs, without the profiler.
``counts`` checks every way counted the same day alike.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable

from meshpos.bench.mesh_parts import NOW, _register, _sell
from meshpos.bench.report import print_report
from meshpos.model import Replica
from meshpos.model.documents import ledger_name
from meshpos.model.tally import LedgerTally, Tally

Step = Callable[[], Tally]


def _day(sales: int) -> tuple[str, bytes, list[bytes]]:
    venue = _register(7, "R1")
    name = ledger_name(venue.business_date(NOW))
    doc = venue.replica.doc(name)
    updates = [doc.get_update()]  # the shift it opened, then each sale
    state = doc.get_state()
    for k in range(sales):
        _sell(venue, k)
        updates.append(doc.get_update(state))
        state = doc.get_state()
    return name, doc.get_update(), updates


def _ways(name: str, whole: bytes, updates: list[bytes]) -> dict[str, Callable[[], Step]]:
    """Each way: a set-up (a fresh replica) returning the measured step."""

    def day() -> Step:
        replica = Replica(client_id=99)
        tally = LedgerTally(replica.doc(name))
        tally.counts()

        def step() -> Tally:
            replica.apply(name, whole)
            return tally.counts()

        return step

    def load() -> Step:
        replica = Replica(client_id=99)

        def step() -> Tally:
            replica.apply(name, whole)
            return LedgerTally(replica.doc(name)).counts()

        return step

    def live() -> Step:
        replica = Replica(client_id=99)
        tally = LedgerTally(replica.doc(name))
        tally.counts()

        def step() -> Tally:
            for update in updates:
                replica.apply(name, update)
                tally.counts()
            return tally.counts()

        return step

    return {"day": day, "load": load, "live": live}


def measure(sales: int, repeat: int) -> dict[str, object]:
    name, whole, updates = _day(sales)
    report: dict[str, object] = {"sales": sales}
    seen: list[Tally] = []
    for way, make in _ways(name, whole, updates).items():
        step = make()
        profile = cProfile.Profile()
        seen.append(profile.runcall(step))
        report[f"{way}_calls"] = round(pstats.Stats(profile).total_calls / sales, 1)  # type: ignore[attr-defined]
        best = float("inf")
        for _ in range(repeat):
            step = make()
            started = time.thread_time()
            step()
            best = min(best, time.thread_time() - started)
        report[f"{way}_us"] = round(best / sales * 1e6, 2)
    report["counts"] = "same" if all(c == seen[0] for c in seen) else "DIFFER"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.tally_day")
    parser.add_argument("--sales", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = measure(args.sales, args.repeat)
    print_report(report, args.json)
    return 0 if report["counts"] == "same" else 1


if __name__ == "__main__":
    sys.exit(main())
