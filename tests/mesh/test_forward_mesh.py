"""Forwarding before the commit with real processes (issue 18; docs/architecture.md (Engine)).

Seven registers on the bounded topology (each linked to 4; R1 and R3 are not linked, and neither R3
nor R6, R1's other non-neighbour, is ever told R1's address, so what R1 sells reaches R3 only through
one of R1's neighbours R2, R4, R5 and R7, along a tree; a venue of six is a full mesh since issue 18,
tail: ``_topology.FULL_MESH``). The test holds the four neighbours' database write locks (a real
SQLite ``BEGIN IMMEDIATE`` from this process: their disks "stall"), so they can apply and forward but
not commit. R1's sale still reaches R3 (which commits it: its pages show only what it committed); none of the
four tells anyone it holds it (their step 1s and heartbeats wait for their commits, so R1 stops
hearing from them, and its durability count never counts them); all four are killed -9 in that
state, restart without the sale, and get it back: nothing is lost.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from .kit import NodeProcess, make_device, make_venue

NAMES = [f"R{i}" for i in range(1, 8)]
NEIGHBOURS = ["R2", "R4", "R5", "R7"]  # R1's (ring offsets ±1, ±3 of seven)
FAR = "R3"  # two hops from R1, as R6 is
#: the addresses each is told at its first start: those started before it, but R3 and R6 never R1's
#: (a link either made to R1 once its neighbours stall would carry what the test says cannot leave)
TOLD = {
    name: [n for n in NAMES[:i] if n != "R1" or name not in (FAR, "R6")]
    for i, name in enumerate(NAMES)
}


@dataclass
class Venue:
    root: Path
    configs: dict[str, Path]
    hosts: dict[str, str]
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    restarted: list[NodeProcess] = field(default_factory=list)

    def start(self, name: str, known: list[str], log: str) -> NodeProcess:
        """Start ``name`` told the addresses of ``known`` (no discovery: it dials those it wants)."""
        peers = [f"--peer={n}@{self.hosts[n]}:{self.nodes[n].port}" for n in known]
        node = NodeProcess(self.configs[name], self.root / log, ["--no-discovery", *peers])
        self.restarted.append(node)
        return node.start()


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    authority = make_venue(tmp_path)
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    hosts = {name: f"{prefix}.{i}" for i, name in enumerate(NAMES, start=11)}
    configs = {
        name: make_device(authority, tmp_path, name, host=hosts[name], heartbeat_interval=0.3)
        for name in NAMES
    }
    bed = Venue(tmp_path, configs, hosts)
    try:
        for name in NAMES:
            bed.nodes[name] = bed.start(name, TOLD[name], f"{name}.log")
        yield bed
    finally:
        for node in bed.restarted:
            node.kill()


def _settled(venue: Venue) -> bool:
    peers = {name: node.status()["peers"] for name, node in venue.nodes.items()}
    return set(peers["R1"]) == set(NEIGHBOURS) and all(
        len(linked) == 4 and all(linked.values()) for linked in peers.values()
    )


def test_stalled_registers_forward_claim_nothing_and_lose_nothing_on_kill_9(venue: Venue) -> None:
    nodes = venue.nodes
    r1, far = nodes["R1"], nodes[FAR]
    everyone = list(nodes.values())
    wait_for(
        lambda: _settled(venue),
        60,
        "seven registers on 4 links each",
        on=[n.events for n in everyone],
    )
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    order = r1.call("POST", "/api/orders", {"user": CASHIER})  # paid while the others stall
    for product in ("croissant", "burger"):
        r1.call(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": product}
        )
    first = r1.sell(CASHIER, ["espresso"])
    wait_for(
        lambda: first["id"] in far.receipt_ids() and r1.status()["latest_sale"]["devices"] == 7,
        20,
        "the first sale on R3, and all seven say they hold it (and all before it): R1's neighbours"
        " in their step 1s, R3 beyond the links in its attestations",
        on=[r1.events, far.events],
    )
    with ExitStack() as stack:
        for name in NEIGHBOURS:  # none of them can commit anything from here on
            stall = sqlite3.connect(load_config(venue.configs[name], env={}).db_path, timeout=30)
            stack.callback(stall.close)
            stack.callback(stall.rollback)
            stall.execute("BEGIN IMMEDIATE")
        timeouts = r1.status()["counters"].get("link_timeouts", 0)
        paid = r1.call(
            "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"}
        )
        second = paid["receipt"]  # committed on R1: acknowledged
        seen: list[tuple[int, set[str]]] = []  # R1's link timeouts and links when R3 had it

        def on_far() -> bool:
            if second["id"] not in far.receipt_ids():
                return False
            status = r1.status()
            seen.append((status["counters"].get("link_timeouts", 0), set(status["peers"])))
            return True

        wait_for(on_far, 10, "the second sale on R3", on=[far.events])
        # it came through a stalled neighbour of R1, before the commit: not over a link from R1 to R3
        # made after R1 stopped hearing from its neighbours (that is how it came before issue 18)
        assert seen[0][0] == timeouts, seen
        assert FAR not in seen[0][1], seen
        # they hold it in memory only: nothing that tells a peer what they hold leaves (a step 1
        # every 1.5 s, heartbeats), so R1 hears nothing from them for its idle timeout (2 s)
        wait_for(
            lambda: r1.status()["counters"].get("link_timeouts", 0) > timeouts,
            30,
            "R1 timed out a link with a stalled neighbour",
            on=[r1.events],
        )
        sale = r1.status()["latest_sale"]
        assert sale["receipt"] == second["number"]
        # no neighbour was counted as holding it, nor R3: its attestations cross the neighbours, whose
        # heartbeats wait for their commits
        assert sale["devices"] == 1, sale
        for name in NEIGHBOURS:
            nodes[name].kill()  # kill -9, the sale forwarded and not committed

    for name in NEIGHBOURS:  # told R1, R3, R6 and the new ports of those restarted before it
        nodes[name] = venue.start(name, sorted({*TOLD[name], "R1", FAR, "R6"}), f"{name}-again.log")
    both = {first["id"], second["id"]}
    wait_for(
        lambda: (
            all(both <= n.receipt_ids() for n in nodes.values())
            and r1.status()["latest_sale"]["devices"] == 7
        ),
        60,
        lambda: (
            "the four got the sale back from R1 and R3, and say so once they committed it: "
            f"{ {name: len(both & n.receipt_ids()) for name, n in nodes.items()} }, "
            f"R1's latest sale {r1.status()['latest_sale']}"
        ),
        on=[n.events for n in nodes.values()],
    )
