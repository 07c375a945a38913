"""What a register of ``meshpos bench mesh`` records of the receipts reaching it: when each first
appeared (:class:`Watch`) and when its ledger held a count (:func:`holds`), both billed as little as
possible to the register's CPU the bench measures.

Split from bench/mesh_worker.py (the twenty-third session, behaviour unchanged).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pycrdt

from meshpos.bench.tail_probe import TailProbe
from meshpos.errors import MeshposError
from meshpos.model._root_events import RootChange, unwatch, watch

WAIT_S = 120.0


class Watch:
    """When each receipt id first appeared in this register's ``receipts`` map. Harness work billed to
    the register's CPU, so on raw events (yrs' ``keys``), not pycrdt's ``observe``, which builds and
    walks a Python event per change (issue 18, cpu); ours on the shared observer its tally follows."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.probe: TailProbe | None = None  # (``--loop-figures``) and each receipt's batch stamps
        self.handled: dict[str, tuple[float, float]] = {}
        self._stop: Callable[[], None] | None = None

    def note(self, keys: dict[str, dict[str, Any]] | None) -> None:
        now = time.perf_counter()
        for key, change in (keys or {}).items():
            if change.get("action") == "add":
                self.seen.setdefault(key, now)
                if self.probe is not None:
                    self.handled.setdefault(key, self.probe.batch)

    def _changes(self, changes: list[RootChange]) -> None:
        for change in changes:
            self.note(change.keys)

    def start(self, receipts: pycrdt.Map[Any], *, shared: bool = False) -> None:
        self.stop()
        if shared:  # (a change's keys as the tally reads them: one conversion for both)
            held = watch(receipts.doc, self._changes, "receipts", deep=False)
            self._stop = lambda: unwatch(held)
        else:
            self._stop = receipts.integrated.observe(lambda event: self.note(event.keys)).drop

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


async def holds(receipts: Callable[[], pycrdt.Map[Any]], count: int) -> float:
    """Wait until the receipts map holds ``count`` entries; the perf_counter time it first did.

    Watches the document, not the map: a map observer makes pycrdt convert every key a transaction touched
    into Python (5,000 for a catch-up), harness work that would be billed to the register. A transaction
    observer may not read the document, so it notes the time and the count is checked right after; the time
    reported is that of the latest transaction before the check (never early).
    """
    done = asyncio.Event()
    at = [time.perf_counter()]
    target = receipts()
    loop = asyncio.get_running_loop()

    def check() -> None:
        if len(target) >= count and not done.is_set():
            done.set()

    def changed(_event: Any) -> None:
        if not done.is_set():
            at[0] = time.perf_counter()
            loop.call_soon(check)

    subscription = target.doc.observe(changed)
    try:
        if len(target) >= count:
            return time.perf_counter()
        async with asyncio.timeout(WAIT_S):
            await done.wait()
    except TimeoutError:
        raise MeshposError(f"timed out waiting for {count} receipts ({len(target)})") from None
    finally:
        target.doc.unobserve(subscription)
    return at[0]
