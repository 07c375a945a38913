"""Relay election: the pure rule, then a simulated mesh (kill, split, uplink, flapping link)."""

from __future__ import annotations

import random
from collections.abc import Callable

from meshpos.sync import Candidate, PeerGone, RelayChanged, SyncConfig, Synchronizer, elect
from meshpos.sync.memory import MemoryNetwork

from .helpers import VENUE, pump, sync_pair

PERIOD = 1.0


def c(node: str, priority: int = 100, uplink: bool = True, claim: bool = False) -> Candidate:
    return Candidate(node, priority, uplink, claim)


def test_lowest_priority_then_node_id_wins_and_order_does_not_matter() -> None:
    view = [c("r3"), c("r2", 50), c("r1", 50), c("k1", 10, uplink=False)]
    for i in range(len(view)):
        assert elect(view[i:] + view[:i]) == "r1"
    assert elect([c("r1", uplink=False)]) is None
    assert elect([]) is None


def test_the_current_relay_keeps_the_role_and_two_claimants_resolve() -> None:
    assert elect([c("r5", claim=True), c("r1", 1)]) == "r5"
    assert elect([c("r5", claim=True, uplink=False), c("r1", 1)]) == "r1"
    assert elect([c("r5", claim=True), c("r4", claim=True), c("r1", 1)]) == "r4"


class Mesh:
    def __init__(self, names: list[str], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.net = MemoryNetwork(self.rng)
        self.config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5.0)
        for name in names:
            self.add(name)

    def add(self, name: str, uplink: bool = True) -> Synchronizer:
        role = "kds" if name.startswith("k") else "register"
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role=role,
            client_id=self.rng.randrange(1, 2**53),
            config=self.config,
        )
        sync.set_uplink(uplink)
        self.net.add(sync)
        return sync

    def relays(self, part: list[str]) -> list[str]:
        return [n for n in part if self.net.nodes[n].is_relay]

    def agreed(self, part: list[str]) -> str | None:
        """The relay every node of ``part`` sees, if they agree and it claims the role."""
        seen = {self.net.nodes[n].relay for n in part}
        if len(seen) != 1:
            return None
        (relay,) = seen
        return relay if relay in self.relays(part) else None

    def until_agreed(self, part: list[str], limit: float) -> tuple[str | None, float]:
        start = self.net.now
        while self.net.now - start < limit:
            self.net.advance(0.05)
            relay = self.agreed(part)
            if relay is not None:
                return relay, self.net.now - start
        return None, limit


def test_kill_the_relay_and_a_new_one_takes_over_within_three_periods() -> None:
    mesh = Mesh(["r1", "r2", "r3", "k1"])
    mesh.net.nodes["k1"].set_uplink(False)
    mesh.net.advance(4 * PERIOD)
    assert mesh.relays(["r1", "r2", "r3", "k1"]) == ["r1"]
    assert mesh.agreed(["r1", "r2", "r3", "k1"]) == "r1"
    mesh.net.crash("r1")  # power cut: nobody is told
    survivors = ["r2", "r3", "k1"]
    relay, took = mesh.until_agreed(survivors, 10 * PERIOD)
    print(f"new relay {relay} after {took:.2f} s ({took / PERIOD:.2f} heartbeat periods)")
    assert relay == "r2"
    assert took <= 3 * PERIOD


def test_split_mesh_two_uplinks_and_heal() -> None:
    names = ["r1", "r2", "r3", "r4", "k1"]
    mesh = Mesh(names)
    for name in ("r1", "r2", "k1"):
        mesh.net.nodes[name].set_uplink(False)  # uplink only on r3 and r4
    mesh.net.advance(4 * PERIOD)
    assert mesh.agreed(names) == "r3"
    assert mesh.relays(names) == ["r3"]
    left, right = ["r1", "r2", "r3"], ["r4", "k1"]
    mesh.net.partition(left, right)
    relay_right, took = mesh.until_agreed(right, 10 * PERIOD)
    assert relay_right == "r4"
    assert took <= 3 * PERIOD
    mesh.net.advance(2 * PERIOD)
    assert mesh.relays(left) == ["r3"]  # the old relay kept its part
    assert mesh.relays(right) == ["r4"]
    mesh.net.heal()
    relay, _ = mesh.until_agreed(names, 10 * PERIOD)
    mesh.net.advance(3 * PERIOD)
    assert mesh.agreed(names) == relay == "r3"
    assert mesh.relays(names) == ["r3"]


def test_a_flapping_link_never_moves_the_relay_while_views_agree() -> None:
    names = ["r1", "r2", "r3"]
    mesh = Mesh(names)
    mesh.net.advance(4 * PERIOD)
    assert mesh.agreed(names) == "r1"
    mesh.add("r0")  # a lower node id joins later
    names.append("r0")
    mesh.net.advance(4 * PERIOD)
    assert mesh.agreed(names) == "r1"  # the current relay keeps the role
    changes: list[tuple[str, RelayChanged]] = []
    mesh.net.events.clear()
    for flap in range(4):
        mesh.net.cut("r2", "r3")  # a short flap, under the peer timeout
        mesh.net.advance(0.3 * PERIOD + 0.1 * flap)
        mesh.net.restore("r2", "r3")
        mesh.net.advance(2 * PERIOD)
        assert mesh.agreed(names) == "r1"
        changes += [(n, e) for n, e in mesh.net.events if isinstance(e, RelayChanged)]
        mesh.net.events.clear()
    assert changes == []
    # a long cut between the relay and one node: views disagree for a while, then agree again
    mesh.net.cut("r1", "r3")
    mesh.net.advance(5 * PERIOD)
    mesh.net.restore("r1", "r3")
    relay, _ = mesh.until_agreed(names, 10 * PERIOD)
    mesh.net.advance(3 * PERIOD)
    assert relay == "r1"
    assert mesh.agreed(names) == "r1"
    assert mesh.relays(names) == ["r1"]


def test_a_just_started_node_that_follows_a_relay_takes_over_at_once_when_it_dies() -> None:
    """A node in its settle period claims nothing of its own (a newcomer cannot tell a dead relay from
    one it has not heard yet), but one that has heard the relay and seen it die may: it takes over as
    a settled node would, not after the settle period (``bench upload``'s failover_closed_s)."""
    config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5.0, settle_heartbeats=5)
    mesh = Mesh([])
    mesh.config = config
    mesh.add("r2")
    mesh.net.advance(6 * PERIOD)
    assert mesh.relays(["r2"]) == ["r2"]
    newcomer = mesh.add("r3")
    mesh.net.advance(0.5 * PERIOD)
    assert newcomer.relay == "r2"  # adopted at once; its settle period has 4.5 periods to run
    mesh.net.crash("r2", notify_peers=True)  # the process died: its sockets close
    relay, took = mesh.until_agreed(["r3"], 10 * PERIOD)
    assert relay == "r3"
    assert took < PERIOD

    alone = Mesh([])
    alone.config = config
    lonely = alone.add("r4")
    alone.net.advance(PERIOD)
    assert lonely.relay is None  # never heard of a relay: it waits out the settle period
    relay, took = alone.until_agreed(["r4"], 10 * PERIOD)
    assert relay == "r4"
    assert took >= 3 * PERIOD


def test_status_version_moves_when_a_node_says_something_new_not_on_every_beat() -> None:
    """The status and the election are computed again only when ``status_version`` moves
    (register/status.py): beats that repeat themselves leave it alone, and every change a status
    shows moves it on every node — an uplink lost far away, a node gone."""
    names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]  # more than 5: bounded links, far records
    mesh = Mesh(names)
    mesh.net.advance(30 * PERIOD)
    assert mesh.agreed(names) == "r1"
    before = {n: mesh.net.nodes[n].status_version for n in names}
    mesh.net.advance(5 * PERIOD)
    assert {n: mesh.net.nodes[n].status_version for n in names} == before  # idle: nothing new
    mesh.net.nodes["r4"].set_uplink(False)
    mesh.net.advance(3 * PERIOD)
    moved = {n: mesh.net.nodes[n].status_version for n in names}
    assert all(moved[n] != before[n] for n in names)  # every node heard it, linked or not
    mesh.net.crash("r1", notify_peers=True)
    survivors = names[1:]
    relay, _ = mesh.until_agreed(survivors, 5 * PERIOD)
    assert relay == "r2"
    assert all(mesh.net.nodes[n].status_version != moved[n] for n in survivors)


def test_a_node_ticked_only_at_its_deadlines_finds_a_silent_peer_gone_on_time() -> None:
    """The engine's ticker sleeps until ``next_deadline`` (``sync/_deadlines.py``): a node ticked at
    nothing else still beats every period and finds a peer that fell silent gone at its presence
    deadline, never later (silent failover has ~0.3 s to spare); arrivals between ticks are stamped
    with the clock, not the last tick, so the peer is never gone early either."""
    config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5 * PERIOD)
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=i, config=config)
        for i, n in ((1, "r1"), (2, "r2"))
    )
    clock = [0.0]
    a.clock = lambda: clock[0]
    ka, kb = sync_pair(a, b)
    beats_from_b = 0.0
    woken: list[float] = []
    a.on_moved = lambda: woken.append(clock[0])
    gone_at = None
    ticks: list[float] = []
    while gone_at is None:
        due = a.next_deadline()
        assert due > clock[0] - 1e-9  # never a deadline in the past once ticked
        assert due <= clock[0] + PERIOD + 1e-9  # at least a tick a heartbeat period
        if beats_from_b < 3 * PERIOD and beats_from_b + PERIOD / 2 < due:
            beats_from_b += PERIOD / 2  # b beats between a's ticks, then falls silent
            clock[0] = beats_from_b
            b.tick(clock[0])
            pump(a, ka, b, kb)
            continue
        clock[0] = due
        ticks.append(due)
        a.tick(due)
        pump(a, ka, b, kb)
        if any(isinstance(e, PeerGone) and e.node == "r2" for e in a.events_received()):
            gone_at = due
    timeout = config.heartbeat_interval * config.missed_heartbeats
    last_heard = 3 * PERIOD  # b's last beat: at most its last tick
    assert last_heard - PERIOD <= gone_at - timeout <= last_heard + 0.01, (gone_at, ticks)
    assert len(ticks) < 2 * gone_at / PERIOD + 4, ticks  # sparse: not ten a second


def test_a_repeated_heartbeat_wakes_nobody_and_a_new_word_does() -> None:
    """``on_moved`` (what wakes the engine's ticker) is not called for beats that only repeat
    themselves, and is called on every node when one says something new."""
    names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    mesh = Mesh(names)
    mesh.net.advance(30 * PERIOD)
    woken = dict.fromkeys(names, 0)

    def waker(name: str) -> Callable[[], None]:
        return lambda: woken.__setitem__(name, woken[name] + 1)

    for name in names:
        mesh.net.nodes[name].on_moved = waker(name)
    mesh.net.advance(5 * PERIOD)
    assert woken == dict.fromkeys(names, 0)
    mesh.net.nodes["r4"].set_uplink(False)
    assert woken["r4"] == 1
    mesh.net.advance(3 * PERIOD)
    assert all(woken[n] >= 1 for n in names), woken


def test_an_idle_node_ticks_once_a_period_after_a_change_between_its_beats() -> None:
    """The election's periodic look is on the heartbeat's tick (issue 18, beats): it was a deadline
    of its own, a period after the last election, so a change heard between two beats (which elects
    at once) set it apart from the heartbeat for good, and an idle node ticked twice a period, each
    tick the engine's whole round (the pump and the status hooks)."""
    config = SyncConfig(heartbeat_interval=PERIOD, anti_entropy_interval=5 * PERIOD)
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=i, config=config)
        for i, n in ((1, "r1"), (2, "r2"))
    )
    clock = [0.0]
    a.clock = b.clock = lambda: clock[0]
    ka, kb = sync_pair(a, b)

    def run(until: float) -> list[float]:
        """Tick each node at its own deadlines only, as the engine's ticker does."""
        ticked: list[float] = []
        while True:
            due = min(a.next_deadline(), b.next_deadline())
            if due > until:
                return ticked
            clock[0] = max(clock[0], due)
            for node in (a, b):
                if node.next_deadline() <= clock[0]:
                    node.tick(clock[0])
                    if node is a:
                        ticked.append(clock[0])
            pump(a, ka, b, kb)

    run(10 * PERIOD)
    clock[0] = 10.5 * PERIOD  # between two beats: the engine ticks at once when something moved
    a.set_problem("the console refused r1")  # a new word: it elects again, with the same result
    a.tick(clock[0])
    pump(a, ka, b, kb)
    ticks = run(30.5 * PERIOD)
    assert len(ticks) <= 20 + 4 + 1, ticks  # a beat a period (the anti-entropy rounds share them)
