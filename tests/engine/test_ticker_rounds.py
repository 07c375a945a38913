"""How many ticker rounds a received receipt costs a node (issue 18, rounds).

A round is the synchronizer's tick, a pump when one is wanted and the status hooks after it (the
indicator, the relay, the days). The ticker's own pump drained the received changes, and the drain's
wake (``Synchronizer.events_received``: "the status hooks look at what the pump reports") asked for a
second whole round, a period later, though the hooks were about to look in the same round. Counted
deterministically: rounds between two moments the ticker goes to sleep (it asks for its next deadline
only then), with heartbeats and every other deadline a minute away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from meshpos.engine import Engine
from meshpos.sync import SyncConfig

from .test_engine import VENUE, Recording, Stepped, linked, settle, stop_here

QUIET = SyncConfig(heartbeat_interval=60.0, anti_entropy_interval=300.0)
PERIOD = 0.001  # the ticker's shortest pause between rounds: a second round would come at once


async def _engine(node: str, store: Recording, interval: float | None) -> Engine:
    e = Engine(
        store,
        venue=VENUE,
        node_id=node,
        role="register",
        sync_config=QUIET,
        received_commit_interval=interval,
    )
    await e.open()
    return e


class Ticking:
    """B's ticker with an after hook that notes what each round saw, and a way to await its sleep."""

    def __init__(self, b: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.b = b
        self.asleep = asyncio.Event()
        self.sleeps = 0  # times the ticker went to sleep
        self.awaited = 0  # of which :meth:`sleep` returned for so many
        self.seen: list[object] = []  # per round: the stop list's "k" as the after hooks saw it
        deadline = b.sync.next_deadline

        def next_deadline() -> float:
            self.sleeps += 1
            self.asleep.set()
            return deadline()

        monkeypatch.setattr(b.sync, "next_deadline", next_deadline)

    def hook(self) -> None:
        self.seen.append(stop_here(self.b).get("k"))

    def start(self, before: list[Callable[[], None]] | None = None) -> None:
        self.b.start_ticking(PERIOD, before=before or [], after=[self.hook])

    async def sleep(self) -> None:
        """Until the ticker went to sleep (no round wanted) since the last call returned: counted,
        not only awaited, so a sleep that came first (the test's step took longer than the ticker's
        1 ms pause on a loaded machine) is not missed, and the test waits for the one after it."""
        async with asyncio.timeout(5.0):
            while self.sleeps <= self.awaited:
                self.asleep.clear()
                await self.asleep.wait()
        self.awaited = self.sleeps


async def _received(
    monkeypatch: pytest.MonkeyPatch, store_b: Recording
) -> tuple[Engine, Engine, Ticking, list[bytes]]:
    """A and B linked and quiet, B ticking and asleep, and A's write's update waiting for B."""
    a = await _engine("A", Recording(), None)
    b = await _engine("B", store_b, 60.0)  # received changes: only the ticker's pump takes them
    wire = linked(a, b, [])
    await settle(a, b, wire)
    ticking = Ticking(b, monkeypatch)
    ticking.start()
    await ticking.sleep()
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    out = list(wire[0])
    wire[0].clear()
    return a, b, ticking, out


async def test_a_received_update_costs_one_round_and_its_hooks_see_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails before (issue 18, rounds): two rounds, the second for the round's own drain."""
    store_b = Recording()
    a, b, ticking, out = await _received(monkeypatch, store_b)
    rounds = b.counters["ticker_rounds"]
    await b.link_messages("A", out)
    await ticking.sleep()
    assert b.counters["ticker_rounds"] == rounds + 1
    assert ticking.seen[-1] == "v"  # the one round's hooks saw it (committed by its pump)
    assert any(doc == "stoplist" for updates, _ in store_b.commits for doc, _ in updates)
    await b.stop()
    await a.stop()


async def test_something_moved_during_the_rounds_pump_still_gets_its_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the tick acts on that moves while the round's pump commits (here the uplink, which the
    election and the status read) is not taken for the round's own drain: another round follows."""
    store_b = Stepped()
    a, b, ticking, out = await _received(monkeypatch, store_b)
    rounds = b.counters["ticker_rounds"]
    await b.link_messages("A", out)
    await asyncio.wait_for(store_b.waiting.wait(), 5.0)  # the round's pump commits
    b.sync.set_uplink(True)
    await store_b.release()
    await ticking.sleep()
    assert b.counters["ticker_rounds"] == rounds + 2
    assert ticking.seen[-2:] == ["v", "v"]
    store_b.passes.release()  # (the stop's pump, if it commits anything)
    await b.stop()
    await a.stop()
