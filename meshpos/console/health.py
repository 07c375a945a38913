"""Whether the console's database takes a write now: what ``GET /health`` answers on both ports.

**Changed** (outside2, the twenty-first session): ``/health`` answered ``ok`` while the console's
database refused every write (its SQLite file on a full disk), so ``meshpos doctor`` on a register
called the console healthy while nothing its relay sent could be stored
(tests/outside/test_console_disk_full.py). A console that answers but cannot store is not healthy: a
small write (a row added to the relay nonces and taken away, in one transaction) is tried, at most once
per ``CHECK_EVERY_S`` however often anyone asks (``/health`` needs no token: it must not be a way to
make the console write at will), and ``/health`` answers 503 with why while it fails.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

from meshpos.console.db import ConsoleDB
from meshpos.errors import MeshposError

CHECK_EVERY_S = (
    5.0  # a status at most this old: the doctor and a monitor ask every few seconds at most
)


@dataclass(slots=True)
class _Check:
    problem: str = ""  # "" when the last write check committed
    at: float = float("-inf")  # time.monotonic() of the last check
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_checks: weakref.WeakKeyDictionary[ConsoleDB, _Check] = weakref.WeakKeyDictionary()


async def write_problem(db: ConsoleDB) -> str:
    """Why ``db`` refuses a write now ("" when it takes one), checked at most every CHECK_EVERY_S."""
    check = _checks.setdefault(db, _Check())
    async with check.lock:  # callers at once share one check
        if time.monotonic() - check.at >= CHECK_EVERY_S:
            try:
                await db.check_writes()
                check.problem = ""
            except MeshposError as exc:
                check.problem = exc.message
            check.at = time.monotonic()
    return check.problem
