"""The console database's write turns (meshpos.console.turns): a relay's append goes before a
materialisation waiting for the write connection, one transaction at a time, and a materialisation
waiting past ``LATER_WAITS_AT_MOST`` goes anyway (the reports never starve)."""

from __future__ import annotations

import asyncio

import pytest

from meshpos.console import turns
from meshpos.console.turns import FIRST, LATER, WriteTurns


async def _take(lock: WriteTurns, rank: int, name: str, order: list[str]) -> None:
    async with lock.turn(rank):
        order.append(name)
        await asyncio.sleep(0)  # the turn is held across an await, as a transaction is


async def _queued(lock: WriteTurns, order: list[str], *waiting: tuple[int, str]) -> list[str]:
    """Hold the lock, queue ``waiting`` in this order, let go: the order they ran in."""
    held = asyncio.Event()
    go = asyncio.Event()

    async def holder() -> None:
        async with lock.turn(FIRST):
            held.set()
            await go.wait()

    first = asyncio.create_task(holder())
    await held.wait()
    tasks = []
    for rank, name in waiting:
        tasks.append(asyncio.create_task(_take(lock, rank, name, order)))
        await asyncio.sleep(0)  # queued in this order
    assert lock.locked()
    assert not order
    go.set()
    await asyncio.gather(first, *tasks)
    assert not lock.locked()
    return order


async def test_appends_go_before_a_waiting_materialisation() -> None:
    order = await _queued(
        WriteTurns(), [], (LATER, "materialise"), (FIRST, "append-1"), (FIRST, "append-2")
    )
    assert order == ["append-1", "append-2", "materialise"]


async def test_a_materialisation_waiting_too_long_goes_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turns, "LATER_WAITS_AT_MOST", -1.0)  # every one is overdue at once
    order = await _queued(WriteTurns(), [], (FIRST, "append-1"), (LATER, "materialise"))
    assert order == ["materialise", "append-1"]


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = WriteTurns()
    order: list[str] = []
    async with lock.turn(FIRST):
        gone = asyncio.create_task(_take(lock, FIRST, "gone", order))
        kept = asyncio.create_task(_take(lock, LATER, "kept", order))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
    await kept
    assert order == ["kept"]
    assert not lock.locked()
