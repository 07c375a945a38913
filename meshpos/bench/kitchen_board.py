"""What a kitchen board read costs on a busy day: ``python -m meshpos.bench.kitchen_board [--json]``.

A kitchen screen reads the whole board (``GET /api/kitchen/tickets``) and every register page re-reads its
unheld tickets (``GET /api/kitchen/unheld``, the same read) at every kitchen change: a ticket sent, a bump
on any screen. Both run on the node's loop. This builds a day of ``--tickets`` tickets with three moves
each (new → cooking → ready → served) in memory and reads the board: the CPU of one read and how many
event entries it touched (one pass over the day's events is ``events``). docs/benchmarks.md (kitchen board).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from meshpos.model import Replica, Venue
from meshpos.model.kitchen import Kitchen
from meshpos.model.sample import CASHIER, COOK, sample_catalog

NOW = 1_764_064_800_000  # a fixed moment: the same day every run
MOVES = 3  # a ticket's bumps from new to served


class _Counted:
    """The day's ``events`` map, counting the entries a read walks through."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self.touched = 0

    def items(self) -> Any:
        for item in self.events.items():
            self.touched += 1
            yield item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.events, name)


def busy_day(tickets: int) -> Kitchen:
    """A register's day of ``tickets`` tickets, each bumped to served; its kitchen."""
    venue = Venue(Replica(), device="R1")
    sample_catalog(venue.catalog, pin_hash="x")
    venue.open_shift_now(CASHIER, 0, NOW)
    for i in range(tickets):
        order = venue.open_order(CASHIER, NOW + i)
        venue.add_line(CASHIER, order.id, "burger", 1, NOW + i)
        ticket = venue.send_to_kitchen(CASHIER, order.id, NOW + i)
        assert ticket is not None
        for move in range(MOVES):
            venue.bump(COOK, ticket.id, NOW + i + move)
    return venue.kitchen(venue.business_date(NOW))


def measure(tickets: int, reads: int = 3) -> dict[str, Any]:
    kitchen = busy_day(tickets)
    counted = _Counted(kitchen._events)
    kitchen._events = counted
    cpu = []
    for _ in range(reads):
        counted.touched = 0
        start = time.process_time()
        board = kitchen.tickets()
        cpu.append(time.process_time() - start)
    assert len(board) == tickets
    return {
        "tickets": tickets,
        "events": tickets * MOVES,
        "events_touched_per_read": counted.touched,
        "read_cpu_ms": [round(s * 1000, 2) for s in cpu],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshpos.bench.kitchen_board", description=__doc__
    )
    parser.add_argument("--tickets", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    report = {"runs": [measure(n) for n in args.tickets]}
    if args.json:
        print(json.dumps(report))
    else:
        for run in report["runs"]:
            print(
                f"{run['tickets']:6} tickets: {run['events_touched_per_read']:9} event entries "
                f"touched per read, {min(run['read_cpu_ms']):9.1f} ms CPU"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
