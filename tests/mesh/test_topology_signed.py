"""Nine strict node processes (issue 18, sign): the seller counts its sale on all nine devices, most
beyond its links, each on its own signed word (docs/architecture.md (Security)); real mDNS on
loopback addresses, real TLS, real SQLite files, as ``test_topology_mesh.py``. Without the words a
strict seller counts only its links (``tests/sync/test_sync_held_signed.py``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from .kit import NodeProcess, make_device, make_venue
from .test_topology_mesh import NAMES, _settled


@pytest.fixture
def strict_mesh(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    authority = make_venue(tmp_path)
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    procs = []
    for i, name in enumerate(NAMES, start=11):
        config = make_device(
            authority,
            tmp_path,
            name,
            host=f"{prefix}.{i}",
            heartbeat_interval=0.5,
            console_signed=True,
        )
        procs.append(NodeProcess(config, tmp_path / f"{name}.log"))
    yield procs
    for proc in procs:
        proc.kill()


def test_nine_strict_processes_count_a_sale_on_every_device_by_their_words(
    strict_mesh: list[NodeProcess],
) -> None:
    mesh = strict_mesh
    for proc in mesh:
        proc.start()
    wait_for(lambda: _settled(mesh), 90, "every node on 2..4 links", on=[p.events for p in mesh])
    r1 = mesh[0]
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    receipt = r1.sell(CASHIER, ["espresso", "croissant"])
    assert len(r1.status()["peers"]) < len(mesh) - 1  # not a full mesh: most words come through
    wait_for(
        lambda: (
            r1.status()["latest_sale"]
            == {
                "receipt": receipt["number"],
                "devices": len(mesh),
                "of": len(mesh),
                "console": False,
            }
        ),
        30,
        "R1 to count its sale on every device",
        on=[p.events for p in mesh],
    )
