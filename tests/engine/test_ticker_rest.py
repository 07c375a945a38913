"""What an idle engine's ticker does between rounds (issue 18, idle; ``engine/wake.py``).

It slept its shortest pause (``period``) after every round and only then asked the synchronizer when
the next round was due: on an idle node, a wake-up a second for that look alone. Now it asks when the
round ends and sleeps until then (or until woken), and a round it is woken for still comes no sooner
than ``period`` after the last (a burst of news is one round). Timed on a real engine's ticker, with
every deadline a minute away: no sleeps in the test.
"""

from __future__ import annotations

import asyncio

import pytest

from meshpos.engine import Engine
from meshpos.sync import SyncConfig

from .test_engine import VENUE, Recording

QUIET = SyncConfig(heartbeat_interval=60.0, anti_entropy_interval=300.0)
PERIOD = 0.5


async def test_an_idle_ticker_asks_for_its_deadline_when_its_round_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails before: the ask came a period after the round."""
    e = Engine(Recording(), venue=VENUE, node_id="A", role="register", sync_config=QUIET)
    await e.open()
    loop = asyncio.get_running_loop()
    began: list[float] = []
    ended: list[float] = []
    asked: list[float] = []
    asleep = asyncio.Event()
    deadline = e.sync.next_deadline

    def next_deadline() -> float:
        asked.append(loop.time())
        asleep.set()
        return deadline()

    monkeypatch.setattr(e.sync, "next_deadline", next_deadline)
    e.start_ticking(
        PERIOD,
        before=[lambda: began.append(loop.time())],
        after=[lambda: ended.append(loop.time())],
    )
    await asyncio.wait_for(asleep.wait(), 10 * PERIOD)
    assert len(ended) == 1
    assert asked[0] - ended[0] < PERIOD / 2  # (the same turn of the loop: no await between)
    # woken at once: the next round still waits out the period after the last one
    asleep.clear()
    assert e.sync.on_moved is not None
    e.sync.on_moved()
    await asyncio.wait_for(asleep.wait(), 10 * PERIOD)
    assert len(began) == 2
    assert began[1] - ended[0] >= PERIOD - 0.01
    await e.stop()
