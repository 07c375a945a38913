"""A node's own stall is not its peers' death (issue 18, the twenty-first session, part ``stall``).

A node whose loop did not run for seconds (a GC pause, a slow disk, a laptop suspended, fifty
devices on two CPUs) read none of the heartbeats waiting in its sockets; on its first tick after
the stall it found every peer silent past the timeout, marked them gone, signed gone notices and
the ring shifted (``sync/_stalls.py``). Real ``Synchronizer`` objects on the in-memory network,
each keyed by a real venue CA (every real node is), simulated time; ``MemoryNetwork.stall`` holds
a node's loop and what comes for it, and resumes it with a tick before its reads.
"""

from __future__ import annotations

import random

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._events import PeerGone, SyncEvent
from meshpos.trust.authority import VenueAuthority, init_venue

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_topology import Venue

TIMEOUT = 2.5  # the bed's presence timeout: 2.5 heartbeat periods of 1 s


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


class Bed:
    """A keyed venue of ``n`` on the in-memory network, every node's ``PeerGone`` kept with its time."""

    def __init__(self, authority: VenueAuthority, n: int, seed: int = 5) -> None:
        self.venue = Venue(n, seed=seed)
        self.net = self.venue.net
        self.gone: list[tuple[float, str, str]] = []  # (when, who said it, of whom)
        self.net.listener = self._heard
        for sync in self.net.nodes.values():
            keyed(sync, authority)
        self.venue.settle(12.0)
        self.gone.clear()

    def _heard(self, node: str, event: SyncEvent) -> None:
        if isinstance(event, PeerGone):
            self.gone.append((self.net.now, node, event.node))

    @property
    def nodes(self) -> list[Synchronizer]:
        return list(self.net.nodes.values())

    def refused(self) -> int:
        return sum(sum(s.claim_refusals.counts.values()) for s in self.nodes)

    def signed(self, names: list[str] | None = None) -> int:
        return sum(
            s.notices.signed for n, s in self.net.nodes.items() if names is None or n in names
        )


@pytest.mark.parametrize("seconds", [5.0, 3 * TIMEOUT])
def test_a_node_stalled_with_heartbeats_waiting_marks_nobody_gone(
    authority: VenueAuthority, seconds: float
) -> None:
    """5 s: its peers' links to it stay open; 7.5 s: they time it out (idle 5 s), and their
    goodbyes, saying so, wait for it with the heartbeats (``_stalls.timed_us_out``)."""
    bed = Bed(authority, 6)
    node = bed.net.nodes["R001"]
    signed = node.notices.signed
    bed.net.stall("R001", seconds)
    bed.net.advance(seconds)
    assert [g for g in bed.gone if g[1] == "R001"] == []  # (not run yet)
    bed.net.advance(6.0)  # runs again: ticks first, then reads what waited
    assert [g for g in bed.gone if g[1] == "R001"] == [], "the stalled node blamed its peers"
    assert node.notices.signed == signed, "the stalled node signed a live peer gone"
    assert node._far.gone_nodes() == frozenset()
    assert node.stalled[0] == 1
    assert seconds - 1.1 < node.stalled[1] <= seconds  # (past its due heartbeat)
    # its peers found it silent (true: it was) and took that back once it spoke again
    assert not any(s._far.marked("R001") for s in bed.nodes)
    assert bed.refused() == 0


def test_a_peer_that_died_during_the_stall_is_marked_gone_after_a_timeout_of_running_time(
    authority: VenueAuthority,
) -> None:
    bed = Bed(authority, 6)
    bed.net.stall("R001", 5.0)
    bed.net.crash("R002")  # a power cut: no end of connection, only silence
    bed.net.advance(5.0)
    resumed = bed.net.now
    bed.net.advance(4.0)
    by_stalled = [(at, of) for at, who, of in bed.gone if who == "R001"]
    assert {of for _, of in by_stalled} == {"R002"}, by_stalled
    # silent for at most a heartbeat period of running time before the stall: the rest after it
    took = by_stalled[0][0] - resumed
    assert TIMEOUT - 1.0 - 0.1 <= took <= TIMEOUT + 0.1, took


def test_a_node_that_does_not_stall_finds_a_death_as_before(authority: VenueAuthority) -> None:
    bed = Bed(authority, 6)
    killed = bed.net.now
    bed.net.crash("R002")
    bed.net.advance(TIMEOUT + 0.5)
    marked = {who: at for at, who, of in bed.gone if of == "R002"}
    assert set(marked) == {n for n in bed.net.nodes}
    assert max(marked.values()) - killed <= TIMEOUT + 0.1
    assert all(s.stalled == (0, 0.0) for s in bed.nodes)


@pytest.mark.parametrize("seed", [3])
def test_stalls_in_a_venue_of_fifty_mark_no_live_node_gone_by_the_stalled(
    authority: VenueAuthority, seed: int
) -> None:
    """Fifty devices on the bed; every few tenths of a second a random node's loop stops for 1 to 6
    s. Counted: the gone marks a stalled node made of live peers (the cascade: on main every stall
    past the timeout blamed its links). The refusals are printed, not held to 0: the neighbours'
    true notices about a stalled node are taken back by its next records (``gone_taken_back``,
    docs/benchmarks.md)."""
    bed = Bed(authority, 50, seed=seed)
    rng = random.Random(seed)
    names = sorted(bed.net.nodes)
    stalled: list[str] = []
    for _ in range(8):
        name = rng.choice(names)
        stalled.append(name)
        bed.net.stall(name, rng.uniform(1.0, 6.0))
        bed.net.advance(rng.uniform(0.2, 1.0))
    bed.net.advance(10.0)
    blamed = [(at, who, of) for at, who, of in bed.gone if who in stalled and of not in stalled]
    print(f"gone marks of live peers by stalled nodes: {len(blamed)}; refusals {bed.refused()}")
    assert blamed == []
    assert not any(s._far.marked(n) for s in bed.nodes for n in names), "a mark was left"
