"""Four node processes on their own 127.x.y.N addresses find each other by real mDNS and sync a sale."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from .kit import NodeProcess, make_device, make_venue

NAMES = ["R1", "R2", "R3", "K1"]


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    authority = make_venue(tmp_path)
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    procs = []
    for i, name in enumerate(NAMES, start=11):
        config = make_device(
            authority,
            tmp_path,
            name,
            role="kds" if name.startswith("K") else "register",
            host=f"{prefix}.{i}",
            heartbeat_interval=0.5,
        )
        procs.append(NodeProcess(config, tmp_path / f"{name}.log"))
    yield procs
    for proc in procs:
        proc.kill()


def test_four_processes_discover_each_other_and_share_a_sale(mesh: list[NodeProcess]) -> None:
    start = time.monotonic()
    for proc in mesh:
        proc.start()
    linked = wait_for(
        lambda: all(len(p.status()["peers"]) == 3 for p in mesh),
        30,
        "every node linked to 3 peers",
        on=[p.events for p in mesh],
    )
    print(
        f"\n4 nodes started, discovered and linked in {time.monotonic() - start:.2f} s "
        f"(after the last start: {linked:.2f} s)"
    )
    r1, r2 = mesh[0], mesh[1]
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    sent = time.monotonic()
    receipt = r1.sell(CASHIER, ["espresso", "croissant"])
    registers = [p for p in mesh if p is not mesh[3]]
    took = wait_for(
        lambda: all(receipt["id"] in p.receipt_ids() for p in registers),
        10,
        "receipt on all registers",
        on=[p.events for p in registers],
    )
    print(
        f"receipt {receipt['number']} acknowledged and visible on every register in "
        f"{(time.monotonic() - sent) * 1000:.0f} ms (waiting {took * 1000:.0f} ms)"
    )
    # the kds holds the ledger too (it forwards nothing of it, but it receives it)
    wait_for(
        lambda: mesh[3].status()["receipts"] == 1, 10, "receipt on the kds", on=[mesh[3].events]
    )
    # a graceful stop: peers are told, and the node's exit code is 0
    assert r2.stop() == 0
    wait_for(lambda: "R2" not in r1.status()["peers"], 10, "R1 notices R2 left", on=[r1.events])
