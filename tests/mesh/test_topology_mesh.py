"""Nine node processes find each other by real mDNS and link on the bounded topology (issue 18): at most
DEGREE links each, a sale reaches every register by forwarding, its seller counts it on all nine
devices (most beyond its links), and when a register is killed the ring heals around it and the next
sale still reaches every one left."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.sync._topology import DEGREE

from .kit import NodeProcess, make_device, make_venue

NAMES = [f"R{i}" for i in range(1, 10)]


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    authority = make_venue(tmp_path)
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    procs = []
    for i, name in enumerate(NAMES, start=11):
        config = make_device(
            authority, tmp_path, name, host=f"{prefix}.{i}", heartbeat_interval=0.5
        )
        procs.append(NodeProcess(config, tmp_path / f"{name}.log"))
    yield procs
    for proc in procs:
        proc.kill()


def _settled(nodes: list[NodeProcess]) -> bool:
    """Every node linked to 2..DEGREE peers, each initial sync done."""
    for node in nodes:
        peers = node.status()["peers"]
        if not 2 <= len(peers) <= DEGREE or not all(peers.values()):
            return False
    return True


def test_nine_processes_keep_bounded_links_and_heal_when_one_dies(
    mesh: list[NodeProcess],
) -> None:
    for proc in mesh:
        proc.start()
    wait_for(lambda: _settled(mesh), 90, "every node on 2..4 links", on=[p.events for p in mesh])
    r1 = mesh[0]
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    receipt = r1.sell(CASHIER, ["espresso", "croissant"])
    assert len(r1.status()["peers"]) < len(mesh) - 1  # not a full mesh: most arrive forwarded
    wait_for(
        lambda: all(receipt["id"] in p.receipt_ids() for p in mesh),
        20,
        "the receipt on every register",
        on=[p.events for p in mesh],
    )
    wait_for(  # its durability: "on 9 of 9 devices", most of them beyond R1's links
        lambda: (
            r1.status()["latest_sale"]
            == {
                "receipt": receipt["number"],
                "devices": len(mesh),
                "of": len(mesh),
                "console": False,
            }
        ),
        20,
        "R1 to count its sale on every device",
        on=[p.events for p in mesh],
    )
    dead, rest = mesh[4], mesh[:4] + mesh[5:]
    dead.kill()
    wait_for(
        lambda: _settled(rest) and all("R5" not in p.status()["peers"] for p in rest),
        60,
        "the ring healed around R5",
        on=[p.events for p in rest],
    )
    last = rest[-1]
    last.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    second = last.sell(CASHIER, ["espresso"])
    wait_for(
        lambda: all(second["id"] in p.receipt_ids() for p in rest),
        20,
        "the second receipt on every register left",
        on=[p.events for p in rest],
    )
