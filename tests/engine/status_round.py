"""CPU of a tick's status work on a register of an N-device venue (issue 18, cpu; not a test):
``python -m tests.engine.status_round N ROUNDS``.

A real register node (R1 alone, a shift open, one sale) whose far table holds the N-1 other devices,
as a device beyond its links hears of them; each round a sixth of the records refreshes (a record's
seq rises once a heartbeat: ~6 ticker rounds a beat while sales arrive), something moves (as a sale
arriving does) and the tick's two status hooks run: ``publish_owed`` then ``publish_indicator`` (the
owed counts and the indicator's status computed again). CPU time (``time.process_time``) per round,
three repetitions of ``ROUNDS`` rounds. docs/benchmarks.md (mesh by size, ninth session).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from meshpos.sync._messages import FarRecord
from tests.engine.status_kit import sell, shift_open


def _record(i: int, seq: int) -> FarRecord:
    return FarRecord(f"R{i:02d}", "register", 1, False, False, seq, client=1000 + i)


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        async with shift_open(Path(d)) as node:
            await sell(node)
            run = node._run()
            service, sync = run.status, run.engine.sync
            for i in range(2, n + 1):
                sync._far.learn(_record(i, 1), 0.0)
            seq = 2
            for rep in range(3):
                start = time.process_time()
                for k in range(rounds):
                    for i in range(2 + k % 6, n + 1, 6):
                        sync._far.learn(_record(i, seq), 0.0)
                    seq += 1
                    service._generation += 1
                    service.publish_owed()
                    service.publish_indicator()
                us = (time.process_time() - start) / rounds * 1e6
                print(f"N={n} rep={rep}: {us:.1f} us per round ({len(sync.presence)} in presence)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
