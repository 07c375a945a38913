"""kill -9 a writing register at random moments: every acknowledged sale must survive each restart.

A real process writes to a real file; the test never mocks anything. With CI=true it kills 100 times.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pycrdt
import pytest

from meshpos.bench.workload import receipt_ids
from meshpos.store import SqliteStore

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WRITER = Path(__file__).with_name("crash_writer.py")


class Run:
    """One writer process; a thread drains its stdout so the pipe never blocks it."""

    def __init__(self, db: Path, document: str, stderr: IO[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), document, "4"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line == "ready\n":
                self.ready.set()
            elif line.endswith("\n"):
                self.lines.append(line)
        self.ready.set()  # EOF: the process died, and the test will say so

    def kill(self) -> list[tuple[str, str, int]]:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join()
        acked = []
        for line in self.lines:
            receipt, register, n = line.split()
            acked.append((receipt, register, int(n)))
        return acked


async def verify(db: Path, document: str, acked: set[str], seqs: dict[str, int]) -> None:
    async with await SqliteStore.open(db) as store:
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        doc.apply_update(await store.load(document) or b"\x00\x00")
        missing = acked - receipt_ids(doc)
        assert not missing, f"{len(missing)} acknowledged sales lost in {document}"
        for register, n in seqs.items():
            stored = await store.get_meta(f"seq/{register}")
            assert stored is not None, register
            assert int(stored) >= n, (register, n, stored)


@pytest.mark.slow
def test_acknowledged_sales_survive_kill_9(tmp_path: Path) -> None:
    kills = 100 if IN_CI else 20
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    db = tmp_path / "register.db"
    acked: dict[str, set[str]] = {}
    started = time.monotonic()
    with (tmp_path / "writer.stderr").open("w") as stderr:
        for k in range(kills):
            document = f"ledger/2026-11-{1 + k // 25:02d}"  # a new business day now and then
            run = Run(db, document, stderr)
            started_ok = run.ready.wait(30) and run.proc.poll() is None
            assert started_ok, (
                f"writer did not start (kill {k}, seed {seed}): "
                + (tmp_path / "writer.stderr").read_text()[-2000:]
            )
            time.sleep(rng.uniform(0, 0.15))
            sales = run.kill()
            acked.setdefault(document, set()).update(r for r, _, _ in sales)
            seqs: dict[str, int] = {}
            for _, register, n in sales:
                seqs[register] = max(seqs.get(register, 0), n)
            asyncio.run(verify(db, document, acked[document], seqs))
    for document, ids in acked.items():
        asyncio.run(verify(db, document, ids, {}))
    total = sum(map(len, acked.values()))
    print(
        f"\ncrash test (seed {seed}): {kills} kills, {total} acknowledged sales, "
        f"{total} verified after every restart, {time.monotonic() - started:.1f} s"
    )
    assert total > kills  # the writer really wrote between kills
