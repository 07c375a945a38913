"""What the depth index (``sync/_depth.py``) costs: ``python -m meshpos.bench.depth_cost [--sales N]
[--registers R]``, one JSON object.

``R`` registers sell ``N`` sales in turn into one day (each its own client id, as a venue's registers
are, every process start another); the day's updates, as each register wrote them, are read by one
index as a receiver takes them (``live_*``: :meth:`Depths.check` then :meth:`Depths.commit`), and the
whole day once as a catch-up or a load does (``whole_*``). Python calls are counted by cProfile
(deterministic but for the records' random ids); ``*_ms`` is CPU time (``time.process_time``), which
the machine's load moves; ``*_kib`` is what the index holds (its lists, set and numbers, by
``sys.getsizeof``) against the size of the day's update. Part deep, the twenty-fourth session."""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from typing import Any

from meshpos.bench.mesh_parts import _register, _sell
from meshpos.model.documents import is_ledger
from meshpos.sync._depth import Depths


def _calls(job: Any) -> int:
    profile = cProfile.Profile()
    profile.runcall(job)
    return sum(row[1] for row in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def _size(depths: Depths) -> int:
    """Bytes the index holds: its containers and the numbers in them (``sys.getsizeof``; small
    integers are shared, counted all the same)."""
    held: list[object] = [depths._runs, depths._top, depths._waiting]
    for starts, ends, values in depths._runs.values():
        held += [starts, ends, values, *starts, *ends, *values]
    held += list(depths._top)
    return sum(sys.getsizeof(part) for part in held)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1000)
    parser.add_argument("--registers", type=int, default=6)
    args = parser.parse_args(argv)
    registers = [_register(100 + r, f"R{r + 1}") for r in range(args.registers)]
    for venue in registers[1:]:  # (one day: every register holds the first one's catalog)
        venue.replica.take_updates()
    updates: list[bytes] = []
    day = ""
    for k in range(args.sales):
        seller = registers[k % len(registers)]
        _sell(seller, k)
        for captured in seller.replica.take_updates():
            if is_ledger(captured.document):
                day = captured.document
                updates.append(captured.update)
                for other in registers:
                    if other is not seller:
                        other.replica.apply(day, captured.update)
                        other.replica.take_updates()
    whole = registers[0].replica.doc(day).get_update()

    def live() -> Depths:
        depths = Depths()
        for update in updates:
            depths.commit(depths.check(update, "sync update"))
        return depths

    def catch_up() -> Depths:
        depths = Depths()
        depths.commit(depths.check(whole, "sync step 2 update"))
        return depths

    started = time.process_time()
    live()
    live_ms = (time.process_time() - started) * 1000
    started = time.process_time()
    catch_up()
    whole_ms = (time.process_time() - started) * 1000
    live_index, whole_index = live(), catch_up()
    live_held, whole_held = _size(live_index), _size(whole_index)
    report = {
        "sales": args.sales,
        "registers": args.registers,
        "updates": len(updates),
        "day_update_bytes": len(whole),
        "live_calls_per_sale": round(_calls(live) / args.sales, 1),
        "live_us_per_sale": round(live_ms * 1000 / args.sales, 1),
        "live_ranges": live_index.ranges,
        "live_kib": round(live_held / 1024, 1),
        "whole_calls_per_sale": round(_calls(catch_up) / args.sales, 1),
        "whole_ms": round(whole_ms, 1),
        "whole_ranges": whole_index.ranges,
        "whole_kib": round(whole_held / 1024, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
