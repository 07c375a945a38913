"""Heartbeats and anti-entropy rounds on the wall clock's grid (issue 18, idle; ``sync/_deadlines.py``).

Every node beat a period after its own start, so an idle node's links' beats came in at as many
moments of each second as it had links, and its own tick at one more: each a wake-up of a process with
nothing else to do. With ``wall_offset`` (the engine sets it: wall clock less the tick's clock) the
beats fall on the wall clock's whole periods, so nodes started at different moments beat together;
a beat never comes later than a period after the one before it (a peer's failure detection counts
on that). Counted on real synchronizers with simulated time, no sleeps.
"""

from __future__ import annotations

import math

from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync._codec import HEARTBEAT
from tests.sync.helpers import VENUE, commit, sync_pair

Peer = tuple[Synchronizer, str] | None
PERIOD = 1.0
ROUND = 5.0
#: the grid alone: no peer expires here (a node's first tick seconds after the pair was made is a
#: stall of its own, ``sync/_stalls.py``: its peer then expired later, with a beat of news)
CONFIG = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=ROUND, missed_heartbeats=100)


def node(name: str, offset: float | None) -> Synchronizer:
    sync = Synchronizer(
        venue=VENUE,
        node_id=name,
        role="register",
        client_id=3000 + sum(map(ord, name)),
        config=CONFIG,
    )
    sync.open_doc("stoplist")
    commit(sync)
    if offset is not None:
        sync.wall_offset = lambda: offset
    return sync


def beats(
    sync: Synchronizer, key: str, start: float, until: float, lag: float, peer: Peer = None
) -> list[float]:
    """Tick ``sync`` at each deadline (``lag`` late), from ``start``; when it sent a heartbeat.
    With ``peer`` (a synchronizer and its key), what each sends reaches the other (it stays live)."""
    sent: list[float] = []
    now = start
    while now < until:
        sync.tick(now)
        out = sync.data_to_send(key)
        if any(data and data[0] == HEARTBEAT for data in out):
            sent.append(now)
        if peer is not None:
            other, other_key = peer
            for data in out:
                other.receive_data(other_key, data)
            other.tick(now)
            for data in other.data_to_send(other_key):
                sync.receive_data(key, data)
        now = max(sync.next_deadline(), now) + lag
    return sent


def started(sync: Synchronizer, key: str, start: float) -> float:
    """The first tick at ``start`` and what it set off at once (the news of a new link goes out in
    beats of its own, ``TRIGGER_SPACING`` apart); the time of the last of those ticks."""
    now = start
    sync.tick(now)
    sync.data_to_send(key)
    while sync.next_deadline() < start + 0.2:
        now = max(sync.next_deadline(), now)
        sync.tick(now)
        sync.data_to_send(key)
    return now


def on_grid(t: float, offset: float, interval: float, lag: float) -> bool:
    phase = (t + offset) % interval
    return phase <= lag + 1e-9 or interval - phase < 1e-9


def test_beats_fall_on_the_wall_clocks_whole_seconds_and_never_later_than_a_period() -> None:
    offset = 1000.3  # wall clock = tick's clock + 1000.3: whole seconds at x.7
    a, b = node("A", offset), node("B", None)
    ka, kb = sync_pair(a, b)
    last = started(a, ka, 10.05)
    assert last < 10.25
    assert math.isclose(
        a.next_deadline(), 10.7
    )  # the first periodic beat: on the grid, sooner than 11.05
    sent = beats(a, ka, a.next_deadline() + 0.004, 20.0, lag=0.004, peer=(b, kb))
    assert all(on_grid(t, offset, PERIOD, 0.004) for t in sent), sent
    gaps = [later - earlier for earlier, later in zip([last, *sent], sent, strict=False)]
    assert max(gaps) <= PERIOD + 0.004 + 1e-9, gaps
    assert len(sent) == 10  # 10.704, 11.704, ..., 19.704


def test_a_late_tick_keeps_the_grid_without_stretching_the_gap() -> None:
    offset = 0.0
    a, b = node("A", offset), node("B", None)
    ka, _ = sync_pair(a, b)
    started(a, ka, 3.0)
    assert a.next_deadline() == 4.0
    a.tick(4.6)  # the process was held up 0.6 s
    assert a.next_deadline() == 5.0  # back on the grid: 0.4 s on, not 1.0
    a.tick(5.95)  # due long ago: beats now; the next one no later than a period on
    assert 5.95 < a.next_deadline() <= 6.95


def test_anti_entropy_rounds_fall_on_the_grid_too() -> None:
    offset = 0.25
    a, b = node("A", offset), node("B", None)
    ka, _ = sync_pair(a, b)
    started(a, ka, 7.1)
    first = a._next_anti_entropy
    assert 7.1 < first <= 7.1 + ROUND
    assert math.isclose((first + offset) % ROUND, 0.0, abs_tol=1e-9)
    a.tick(first)
    assert math.isclose(a._next_anti_entropy, first + ROUND)


def test_nodes_started_apart_beat_together() -> None:
    offset = 42.0
    a, b = node("A", offset), node("B", offset)
    ka, kb = sync_pair(a, b)
    started(a, ka, 3.13)
    started(b, kb, 3.71)
    assert a.next_deadline() == b.next_deadline() == 4.0
    assert beats(a, ka, 4.0, 9.0, lag=0.0) == beats(b, kb, 4.0, 9.0, lag=0.0) == [4, 5, 6, 7, 8]


def test_without_a_wall_clock_a_beat_comes_a_period_after_the_last_as_before() -> None:
    a, b = node("A", None), node("B", None)
    ka, _ = sync_pair(a, b)
    started(a, ka, 3.13)
    assert a.next_deadline() == 4.13
    sent = beats(a, ka, 4.13, 7.0, lag=0.0)
    assert [round(t, 6) for t in sent] == [4.13, 5.13, 6.13]
