"""How many pumps a received message costs a node (issue 18, pump).

A pump drains the synchronizer's events, commits what they carry and flushes every session; a node
spent one (a timer, a task, the lock, a drain, a flush of every session) after every batch a link
delivered, a heartbeat's too, which gives it nothing to drain, commit or release: most of what an idle
mesh receives. Counted deterministically: drains (one per pump round) over a fixed number of loop turns
with a commit interval of 0 (due on the next turn).
"""

from __future__ import annotations

import asyncio

from meshpos.engine import Committed, Engine
from meshpos.sync import SyncConfig, decode

from .test_engine import Recording, Wire, engine, linked, settle, stop_here

TURNS = 20  # loop turns given to a commit that is due at once (it needs a handful)


async def _turns() -> None:
    for _ in range(TURNS):
        await asyncio.sleep(0)


async def _pair() -> tuple[Engine, Engine, Recording, Wire]:
    store_b = Recording()
    a, b = await engine("A", Recording()), await engine("B", store_b, interval=0.0)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    await _turns()
    return a, b, store_b, wire


def _beats(a: Engine, wire: Wire, now: float) -> list[bytes]:
    a.sync.tick(now)
    a._flush()
    out = list(wire[0])
    wire[0].clear()
    return out


async def test_a_heartbeat_costs_the_receiver_no_pump() -> None:
    a, b, store_b, wire = await _pair()
    interval = SyncConfig().heartbeat_interval
    b.sync.tick(0.0)
    for n in range(3):
        beats = _beats(a, wire, n * interval)
        assert [type(decode(m, 2**20)).__name__ for m in beats] == ["Heartbeat"]
        drained, commits = b.sync.drained, len(store_b.commits)
        await b.link_messages("A", beats)
        await _turns()
        assert b.sync.drained == drained  # no pump round: nothing to drain, commit or release
        assert len(store_b.commits) == commits
    assert "A" in b.sync.presence  # the beats were taken all the same


async def test_an_update_still_is_committed_and_reported() -> None:
    a, b, store_b, wire = await _pair()
    committed = asyncio.Event()
    b.subscribe(lambda event: committed.set() if isinstance(event, Committed) else None)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    drained = b.sync.drained
    await b.link_messages("A", list(wire[0]))
    wire[0].clear()
    await asyncio.wait_for(committed.wait(), 5.0)
    assert b.sync.drained > drained
    assert any(doc == "stoplist" for updates, _ in store_b.commits for doc, _ in updates)


async def test_a_reply_that_waits_for_no_commit_goes_at_once() -> None:
    """What a received message makes the synchronizer send (here: B's heartbeat when its own
    first tick is due) still leaves with the messages' handling, not a pump later."""
    a, b, _, wire = await _pair()
    b.sync.tick(0.0)
    b.sync.tick(SyncConfig().heartbeat_interval)  # B's next beat: queued by the tick
    beats = _beats(a, wire, 0.0)
    await b.link_messages("A", beats)  # (no pump follows: the flush sends what B queued)
    assert any(type(decode(m, 2**20)).__name__ == "Heartbeat" for m in wire[1])


async def test_a_received_commit_taken_by_another_pump_costs_no_second_one() -> None:
    """The ticker's pump (or a write's) often takes received changes before their commit interval
    ends: when it does, the interval's end finds nothing to do and pumps no more."""
    a, b, store_b, wire = await _pair()
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    await b.link_messages("A", list(wire[0]))  # a commit is due one interval (0) from now
    wire[0].clear()
    commits = len(store_b.commits)
    await b.pump()  # (as the ticker's round would): the change is committed
    assert len(store_b.commits) == commits + 1
    drained = b.sync.drained
    await _turns()
    assert b.sync.drained == drained
    assert len(store_b.commits) == commits + 1
