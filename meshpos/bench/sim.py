"""``meshpos bench sim``: a venue of hundreds of nodes, simulated, on the bounded topology (issue 18).

docs/architecture.md (Links). Real devices are one per machine; this machine's two cores cannot run 200
node processes, so the sans-I/O core runs them: every node a real :class:`~meshpos.sync.Synchronizer`
on the in-memory network (``meshpos.sync.memory``), simulated time, a seeded random generator, so a run
is the same every time. It reports, for the topology every node computes from the membership:

* links per node (max and mean) and the link graph's diameter once settled;
* per update (a sale's write on one node, one at a time): the simulated time until every node holds it,
  and the sync messages and bytes carrying it (updates, and their share of the replies);
* the same after ``--churn`` of the nodes leave (half crash with their links closing, half go silent)
  and as many new ones join;
* news: the time until every node knows a node that just joined (``news_join_s``) and a change a node
  reports (a console problem, ``news_change_s``): far records beyond the links (``_spread``);
* the heartbeats' size on the wire (mean and max) while the venue sells, and the durability count:
  the time until a seller counts its sale on every device (``durability_all_s``, ``_held``).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pycrdt import Map

from meshpos.errors import InvalidInput
from meshpos.model.documents import ledger_name
from meshpos.model.replica import decode_state_vector
from meshpos.model.tally import covers
from meshpos.sync import (
    ConsoleSignatureRefused,
    HeldCheck,
    HeldSigner,
    SignedConsole,
    SyncConfig,
    Synchronizer,
)
from meshpos.sync._codec import HEARTBEAT, decode
from meshpos.sync._messages import SyncStep2, SyncUpdate
from meshpos.sync._topology import diameter
from meshpos.sync.memory import Faults, MemoryNetwork

DOC = ledger_name("2026-12-05")
STEP = 0.01  # seconds of simulated time per tick while an update spreads
MIN_NODES = 10  # enough relay candidates (every fifth node) for both failovers
DEADLINE = 30.0  # simulated seconds an update or a failover may take before the run says so


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nodes", type=int, default=200, help="nodes in the venue")
    parser.add_argument("--updates", type=int, default=20, help="updates measured per phase")
    parser.add_argument(
        "--churn", type=float, default=0.1, help="share of nodes that leave and join"
    )
    parser.add_argument("--seed", type=int, default=1, help="the random generator's seed")


class _Counter:
    """Counts the sync messages that carry updates, and the heartbeats' bytes (a tap on the network)."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.heartbeats = 0
        self.heartbeat_bytes = 0
        self.heartbeat_max = 0

    def __call__(self, sender: str, receiver: str, data: bytes) -> None:
        if data[:1] == bytes([HEARTBEAT]):
            self.heartbeats += 1
            self.heartbeat_bytes += len(data)
            self.heartbeat_max = max(self.heartbeat_max, len(data))
            return
        if data[:1] != b"\x02":  # DOC envelope only (codec): hellos are not counted
            return
        message = decode(data, len(data) + 1)
        if isinstance(message, SyncUpdate | SyncStep2) and len(message.update) > 2:
            self.messages += 1
            self.bytes += len(data)


#: a node's signer and checker of attestations (``--signed``: ``beat_bytes``), by its node id
Signing = Callable[[str], tuple[HeldSigner, HeldCheck]]


def _no_console(signed: SignedConsole) -> None:
    """(strict nodes) the simulated venue has no console key: no statement is good."""
    raise ConsoleSignatureRefused("no console key in the simulated venue")


class Venue:
    def __init__(
        self, nodes: int, seed: int, signing: Signing | None = None, strict: bool = False
    ) -> None:
        #: (issue 18, sign) strict nodes (the console's word, and attestations passed on, taken
        #: only signed), signing their attestations with real device keys when ``signing``
        self.signing = signing
        self.strict = strict or signing is not None
        self.rng = random.Random(seed)
        self.counter = _Counter()
        self.net = MemoryNetwork(
            self.rng,
            faults=Faults(delay=0.002),
            tap=self.counter,
            listener=lambda node, event: None,
        )
        self.config = SyncConfig(heartbeat_interval=1.0, anti_entropy_interval=5.0)
        self.serial = 0
        self.writes = 0
        for _ in range(nodes):
            self.join()

    def join(self) -> Synchronizer:
        self.serial += 1
        name = f"R{self.serial:04d}"
        config = self.config
        if self.strict:
            config = replace(config, console_check=_no_console, console_signed=True)
        if self.signing is not None:
            signer, check = self.signing(name)
            config = replace(config, held_signer=signer, held_check=check)
        sync = Synchronizer(
            venue="sim",
            node_id=name,
            role="register",
            client_id=self.rng.randrange(1, 2**53),
            config=config,
            priority=100 + self.serial % 7,
        )
        sync.set_uplink(self.serial % 5 == 1)  # every fifth register reaches the console
        sync.open_doc(DOC)
        self.net.add(sync)
        return sync

    def links(self) -> dict[str, frozenset[str]]:
        return {n: frozenset(peers) for n, peers in self.net.links().items()}

    def update(self) -> tuple[float, int, int]:
        """One write on a random node: (seconds until all hold it, messages, bytes)."""
        name = self.rng.choice(sorted(self.net.nodes))
        sync = self.net.nodes[name]
        doc = sync.docs[DOC]
        self.writes += 1
        before = (self.counter.messages, self.counter.bytes)
        with doc.transaction():
            doc.get("sim", type=Map)[f"u{self.writes}"] = "x" * 400  # a sale's size
        clock = decode_state_vector(doc.get_state())[sync.client_id]
        self.net.pump(name)
        start = self.net.now
        while not self._everywhere(sync.client_id, clock):
            if self.net.now - start > DEADLINE:
                return float("inf"), 0, 0
            self.net.advance(STEP, step=STEP)
        return (
            self.net.now - start,
            self.counter.messages - before[0],
            self.counter.bytes - before[1],
        )

    def until(self, condition: Callable[[], bool]) -> float:
        """Simulated seconds until ``condition()`` (infinite past DEADLINE)."""
        start = self.net.now
        while not condition():
            if self.net.now - start > DEADLINE:
                return float("inf")
            self.net.advance(STEP, step=STEP)
        return self.net.now - start

    def news_join(self) -> float:
        """A node joins: seconds until every node knows it."""
        name = self.join().node_id
        return self.until(lambda: all(s.node_id == name or name in s.presence for s in self._all()))

    def news_change(self) -> float:
        """A node reports a problem (its console link): seconds until every node shows it."""
        name = self.rng.choice(sorted(self.net.nodes))
        self.net.nodes[name].set_problem("the console refused this register: wrong venue token")

        def shown() -> bool:
            return all(s.node_id == name or _problem(s, name) for s in self._all())

        took = self.until(shown)
        self.net.nodes[name].set_problem("")
        return took

    def durability(self) -> float:
        """A sale on one node: seconds until that node counts it on every device (``held_by``)."""
        name = self.rng.choice(sorted(self.net.nodes))
        sync = self.net.nodes[name]
        doc = sync.docs[DOC]
        self.writes += 1
        with doc.transaction():
            doc.get("sim", type=Map)[f"u{self.writes}"] = "x" * 400
        needed = {sync.client_id: decode_state_vector(doc.get_state())[sync.client_id]}
        self.net.pump(name)

        def counted() -> bool:
            held = sync.held_by(DOC)
            return all(n == name or covers(held.get(n, {}), needed) for n in self.net.nodes)

        return self.until(counted)

    def _all(self) -> list[Synchronizer]:
        return list(self.net.nodes.values())

    def _everywhere(self, client: int, clock: int) -> bool:
        return all(
            decode_state_vector(s.docs[DOC].get_state()).get(client, 0) >= clock
            for s in self.net.nodes.values()
        )

    def agreed_relay(self) -> str | None:
        """The relay every node sees, when they agree and it claims the role."""
        seen = {s.relay for s in self.net.nodes.values()}
        if len(seen) != 1:
            return None
        relay = seen.pop()
        node = self.net.nodes.get(relay) if relay is not None else None
        return relay if node is not None and node.is_relay else None

    def failover(self, closed: bool) -> float:
        """Kill the relay (its links close, or it goes silent): seconds until a new one is agreed
        (infinite when there was none to kill or none took over)."""
        old = self.agreed_relay()
        if old is None:
            return float("inf")
        self.net.crash(old, notify_peers=closed)
        start = self.net.now
        while (relay := self.agreed_relay()) is None or relay == old:
            if self.net.now - start > DEADLINE:
                return float("inf")
            self.net.advance(STEP, step=STEP)
        return self.net.now - start


def _problem(sync: Synchronizer, node: str) -> bool:
    beat = sync.presence.get(node)
    return beat is not None and bool(beat.problem)


def _phase(venue: Venue, updates: int) -> dict[str, Any]:
    times, messages, sizes = [], [], []
    beats = (venue.counter.heartbeats, venue.counter.heartbeat_bytes)
    venue.counter.heartbeat_max = 0
    for _ in range(updates):
        took, count, size = venue.update()
        times.append(took)
        messages.append(count)
        sizes.append(size)
        venue.net.advance(0.2, step=0.05)
    venue.net.advance(venue.config.heartbeat_interval, step=0.05)  # every node beats in the window
    times.sort()
    n = len(venue.net.nodes)
    return {
        "nodes": n,
        "convergence_s_median": _seconds(times[len(times) // 2]),
        "convergence_s_max": _seconds(times[-1]),
        "messages_per_update": round(sum(messages) / len(messages), 1),
        "messages_per_update_per_node": round(sum(messages) / len(messages) / n, 2),
        "update_bytes_per_node": round(sum(sizes) / len(sizes) / n),
        "heartbeat_bytes_mean": round(
            (venue.counter.heartbeat_bytes - beats[1]) / max(1, venue.counter.heartbeats - beats[0])
        ),
        "heartbeat_bytes_max": venue.counter.heartbeat_max,
    }


def _shape(venue: Venue) -> dict[str, Any]:
    links = venue.links()
    degrees = [len(p) for p in links.values()]
    return {
        "links_per_node_max": max(degrees),
        "links_per_node_mean": round(sum(degrees) / len(degrees), 2),
        "diameter_hops": diameter(links),
    }


def _seconds(value: float) -> float | None:
    """A figure for the report: None when it did not happen within DEADLINE (JSON has no infinity)."""
    return None if math.isinf(value) else round(value, 3)


def run_sim(nodes: int, updates: int, churn: float, seed: int) -> dict[str, Any]:
    if nodes < MIN_NODES or updates < 1 or not 0 <= churn < 1:
        raise InvalidInput(
            f"bench sim: --nodes {nodes}, --updates {updates}, --churn {churn}: need at least "
            f"{MIN_NODES} nodes, at least 1 update and a churn in [0, 1)"
        )
    began = time.monotonic()
    venue = Venue(nodes, seed)
    venue.net.advance(15.0, step=0.05)  # link up, learn the membership, elect
    report: dict[str, Any] = {"nodes": nodes, "seed": seed, **_shape(venue)}
    report["steady"] = _phase(venue, updates)
    report["news_join_s"] = _seconds(venue.news_join())
    report["news_change_s"] = _seconds(venue.news_change())
    report["durability_all_s"] = _seconds(venue.durability())
    venue.net.advance(2.0, step=0.05)
    moved = max(1, round(nodes * churn))
    leavers = venue.rng.sample(sorted(venue.net.nodes), moved)
    for i, name in enumerate(leavers):
        venue.net.crash(name, notify_peers=i % 2 == 0)
    for _ in range(moved - 1):  # and the one that joined for news_join_s: as many as left
        venue.join()
    venue.net.advance(15.0, step=0.05)
    report["churn"] = {"left": moved, "joined": moved, **_shape(venue), **_phase(venue, updates)}
    report["failover_closed_s"] = _seconds(venue.failover(closed=True))
    venue.net.advance(5.0, step=0.05)
    report["failover_silent_s"] = _seconds(venue.failover(closed=False))
    report["wall_s"] = round(time.monotonic() - began, 1)
    return report


def run_sim_bench(args: argparse.Namespace) -> int:
    from meshpos.bench.report import print_report

    report = run_sim(args.nodes, args.updates, args.churn, args.seed)
    print_report(report, args.json)
    return 0
