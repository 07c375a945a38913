"""A cashier's tap ahead of received work (issue 18, tap; ``engine/local_first.py``).

While a local write is in flight, a batch a link delivers waits (its link's task with it) and is
applied, then committed, once the write has returned; a write that does not end lets it in after
``LOCAL_FIRST_MAX``. Nothing received is dropped or reordered, and nothing is said held before it is
committed.
"""

from __future__ import annotations

import asyncio

from meshpos.engine.engine import RECEIVED_COMMIT_INTERVAL, Engine
from meshpos.engine.local_first import LOCAL_FIRST_MAX

from .test_engine import Recording, Wire, engine, linked, settle, stop_here


async def _nodes() -> tuple[Engine, Engine, Recording, Wire]:
    store_a = Recording()
    a = await engine("A", store_a, interval=RECEIVED_COMMIT_INTERVAL)
    b = await engine("B", Recording(), interval=RECEIVED_COMMIT_INTERVAL)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    return a, b, store_a, wire


async def _rounds(n: int = 50) -> None:
    """Let the loop run ``n`` rounds (whatever was ready runs; nothing here waits on a timer)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_peers_batch_waits_for_the_tap_in_flight_then_is_applied_and_committed() -> None:
    a, b, store_a, wire = await _nodes()
    await b.write(lambda: stop_here(b).__setitem__("sold at B", 1))
    from_b = list(wire[1])
    wire[1].clear()
    assert from_b  # B's sale, on its way to A
    before = len(store_a.commits)
    store_a.open.clear()  # A's disk is slow: its cashier's tap stays in flight
    tap = asyncio.create_task(a.write(lambda: stop_here(a).__setitem__("tap at A", 1)))
    await store_a.waiting.wait()
    received = asyncio.create_task(a.link_messages("B", from_b))
    await _rounds()
    assert not received.done()
    assert stop_here(a).get("sold at B") is None  # not applied while the tap is in flight
    store_a.open.set()
    await tap
    await received
    assert stop_here(a).get("sold at B") == 1  # applied as soon as the tap returned
    assert a.counters["received_behind_writes"] == 1
    assert a.counters["received_behind_writes_timed_out"] == 0
    assert len(store_a.commits) == before + 1  # the tap's
    await a.pump()  # (the received round's commit, as its timer would)
    assert len(store_a.commits) == before + 2  # then B's sale, none dropped
    await a.stop()
    await b.stop()


async def test_a_write_that_does_not_end_lets_received_batches_in_after_the_bound() -> None:
    a, b, store_a, wire = await _nodes()
    await b.write(lambda: stop_here(b).__setitem__("sold at B", 2))
    from_b = list(wire[1])
    wire[1].clear()
    store_a.open.clear()  # a disk that hangs: the tap stays in flight
    tap = asyncio.create_task(a.write(lambda: stop_here(a).__setitem__("tap at A", 2)))
    await store_a.waiting.wait()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await a.link_messages("B", from_b)
    assert loop.time() - began >= LOCAL_FIRST_MAX * 0.9  # (a timer may fire a little early)
    assert stop_here(a).get("sold at B") == 2  # the peer is heard though the tap has not ended
    assert a.counters["received_behind_writes_timed_out"] == 1
    assert not tap.done()
    store_a.open.set()
    await tap
    await a.stop()
    await b.stop()


async def test_no_write_in_flight_no_wait() -> None:
    a, b, _, wire = await _nodes()
    await b.write(lambda: stop_here(b).__setitem__("sold at B", 3))
    from_b = list(wire[1])
    wire[1].clear()
    await a.link_messages("B", from_b)  # (no await inside: applied in the caller's round)
    assert stop_here(a).get("sold at B") == 3
    assert a.counters["received_behind_writes"] == 0
    await a.stop()
    await b.stop()
