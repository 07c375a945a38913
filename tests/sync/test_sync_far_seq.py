"""A node's far record seq rises across a reboot (issue 18, outside; ``_far_out._far_seq``): its base
is the wall clock's ms at the run's start, taken once, where the engine gives a wall clock. The tick
clock is the event loop's (``time.monotonic``), which starts again at zero when a device boots: with
it as the base, a node rebooted after 10 hours spoke with seqs 10 hours of ms below its last run's,
so far nodes kept its old records and its old signed said fields (role, uplink, relay claim) until
its new uptime passed the old one."""

from __future__ import annotations

from meshpos.sync import Synchronizer
from tests.sync.helpers import items_node

WALL = 1_800_000_000.0  # the wall clock (s) when the first run began
UPTIME = 36_000.0  # the first run's tick clock at its start: 10 h after the device booted


def run(wall_at_start: float, tick_at_start: float, beats: int) -> Synchronizer:
    """A node's run: its tick clock at ``tick_at_start`` when the wall reads ``wall_at_start``."""
    sync = items_node("R1", "stoplist", client_base=4000)
    sync.wall_offset = lambda: wall_at_start - tick_at_start
    interval = sync.config.heartbeat_interval
    for k in range(beats + 1):
        sync.tick(tick_at_start + k * interval)
    return sync


def test_a_rebooted_nodes_far_seq_is_above_its_last_runs() -> None:
    first = run(WALL, UPTIME, beats=200)
    last = first._far_seq()
    # a power cut; the device boots two minutes later: its tick clock starts near zero again
    second = run(WALL + 200 * first.config.heartbeat_interval + 120, 30.0, beats=1)
    assert second._far_seq() > last


def test_the_base_is_taken_once_so_a_wall_clock_stepped_back_lowers_no_seq() -> None:
    sync = run(WALL, UPTIME, beats=3)
    before = sync._far_seq()
    sync.wall_offset = lambda: -UPTIME  # NTP steps the wall clock back to 1970
    sync.tick(UPTIME + 10.0)
    assert sync._far_seq() >= before


def test_without_a_wall_clock_the_tick_clock_is_the_base_as_before() -> None:
    sync = items_node("R1", "stoplist", client_base=4000)
    sync.tick(5.0)
    assert sync._far_seq() // 1000 == 5
