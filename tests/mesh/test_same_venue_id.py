"""Two venues made with one venue id on one LAN (a food hall; two shops of a chain that each ran the
README's ``cafe-central``), as real ``meshpos node`` processes on loopback with real mDNS
(docs/architecture.md (Discovery)).

A venue is its CA, not its id: each venue's R1 and R2 start side by side with the other's, each links to
its own venue's peer only, and a second R1 of one venue (its certificate copied to another machine) is
still refused with the error naming the clash.
"""

from __future__ import annotations

import random
import secrets
from pathlib import Path

import pytest

from meshpos.config import write_config_file
from meshpos.harness.venue import enroll_directly
from meshpos.harness.wait import wait_for
from meshpos.trust import VenueAuthority, init_venue, load_venue

from .kit import NodeProcess, make_device

pytestmark = pytest.mark.slow


def _venue(root: Path, venue_id: str) -> VenueAuthority:
    return init_venue(root / "venue", "Cafe Central", venue_id)


def test_two_venues_with_one_id_on_one_lan(tmp_path: Path) -> None:
    # random per run: other test runs on this machine share the loopback multicast group
    venue_id = f"cafe-central-{secrets.token_hex(3)}"
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    procs: dict[str, NodeProcess] = {}
    try:
        for label, host in (("A", 11), ("B", 21)):
            root = tmp_path / label
            authority = _venue(root, venue_id)
            for i, name in enumerate(("R1", "R2")):
                config = make_device(
                    authority, root, name, host=f"{prefix}.{host + i}", heartbeat_interval=0.5
                )
                procs[f"{label}{name}"] = NodeProcess(config, root / f"{name}.log")
        for key in ("AR1", "AR2", "BR1", "BR2"):  # B's R1 after A's: refused before
            procs[key].start()
        nodes = list(procs.values())
        wait_for(
            lambda: all(
                p.status()["peers"] == {other: True for other in {"R1", "R2"} - {p.config.stem}}
                for p in nodes
            ),  # (linked, not still connecting: a loaded machine's run read one connecting)
            30,
            "each node linked to its own venue's other node",
            on=[p.events for p in nodes],
        )
        # and to nothing of the other venue: no link refused (a dial across venues fails mTLS)
        for p in nodes:
            status = p.status()
            assert all(status["peers"].values()), status["peers"]
            assert sum(status["refusals"].values()) == 0, status["refusals"]
        # a second R1 of venue B (its device re-issued to another machine while the first runs): B's R1
        # holds the name made from B's CA, A's R1 the first one; refused, naming the clash
        authority_b = load_venue(tmp_path / "B" / "venue")
        twin_root = tmp_path / "twin"
        enroll_directly(authority_b, "R1", "register", twin_root / "R1" / "identity", reissue=True)
        write_config_file(
            twin_root / "R1.toml",
            {
                "node_id": "R1",
                "role": "register",
                "data_dir": str(twin_root / "R1"),
                "listen_host": f"{prefix}.31",
                "api_host": f"{prefix}.31",
                "log_level": "WARNING",
            },
        )
        twin = NodeProcess(twin_root / "R1.toml", twin_root / "R1.log")
        procs["twin"] = twin
        with pytest.raises(
            AssertionError,
            match="already advertised on this network by another device of this venue",
        ):
            twin.start(timeout=30)
    finally:
        for proc in procs.values():
            proc.kill()
