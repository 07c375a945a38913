"""Two venues made with one venue id on one LAN while one still runs the previous release (N-1,
previous.py): venue A's R1 and R2 on N-1, venue B's R1 and R2 on this release, real ``meshpos node``
processes with real mDNS on loopback (docs/architecture.md (Discovery)).

A's devices hold the mDNS names N-1 gives and say no CA; B's, finding their first names held, ask the
holder's certificate (a TLS handshake against B's CA), find it another venue's and advertise under the
names made from B's CA. Each venue's R1 and R2 link to each other, and only to each other.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config, write_config_file
from meshpos.harness.venue import enroll_directly, loopback_prefix, seed_store
from meshpos.harness.wait import wait_for
from meshpos.trust import VenueAuthority, init_venue

from ..mesh.kit import CATALOG, NodeProcess
from .previous import Release
from .test_mixed_versions import SEED

pytestmark = pytest.mark.slow


def _device(
    release: Release, authority: VenueAuthority, root: Path, name: str, host: str, *, old: bool
) -> NodeProcess:
    data = root / name
    enroll_directly(authority, name, "register", data / "identity")
    config = root / f"{name}.toml"
    values: dict[str, Any] = {
        "node_id": name,
        "role": "register",
        "data_dir": str(data),
        "listen_host": host,
        "api_host": host,
        "heartbeat_interval": 0.5,
        "log_level": "INFO",
    }
    write_config_file(config, values)
    catalog = root / "catalog.update"
    catalog.write_bytes(CATALOG)
    if old:
        release.run(SEED, str(config), str(catalog))
    else:
        asyncio.run(seed_store(load_config(config, env={}), CATALOG))
    return NodeProcess(config, root / f"{name}.log", python=release.python if old else [])


def test_a_new_venue_beside_an_older_one_with_its_venue_id(
    tmp_path: Path, previous_release: Release
) -> None:
    venue_id = f"cafe-central-{secrets.token_hex(3)}"
    prefix = loopback_prefix(random.Random())
    procs: dict[str, NodeProcess] = {}
    try:
        for label, base, old in (("A", 11, True), ("B", 21, False)):
            root = tmp_path / label
            authority = init_venue(root / "venue", "Cafe Central", venue_id)
            for i, name in enumerate(("R1", "R2")):
                host = f"{prefix}.{base + i}"
                procs[label + name] = _device(
                    previous_release, authority, root, name, host, old=old
                )
        for key in ("AR1", "AR2", "BR1", "BR2"):  # B's R1 after A's: refused before
            procs[key].start(timeout=30)
        nodes = list(procs.values())

        def linked_to_its_own() -> bool:
            for p in nodes:
                peers = p.status()["peers"]
                other = "R2" if p.config.stem == "R1" else "R1"
                if set(peers) != {other} or not peers[other]:
                    return False
            return True

        wait_for(
            linked_to_its_own,
            60,
            "each node linked to its own venue's other node",
            on=[p.events for p in nodes],
        )
    finally:
        for proc in procs.values():
            proc.kill()
