"""A venue whose console holds its signing key, with two registers in their own processes (real mDNS on
loopback): R1 reaches the console (the relay), R2 only through R1. Shared by the signed-console process
tests (issue 18, signed and sticky)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust import VenueAuthority
from meshpos.trust.console_key import issue_console_key

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

SYNCED = "All data is synced"


@dataclass
class SignedVenue:
    authority: VenueAuthority
    console: ConsoleProcess
    nodes: dict[str, NodeProcess]
    configs: dict[str, Path]

    def synced(self) -> bool:
        return all(
            s["colour"] == "green" and s["message"] == SYNCED
            for s in (n.status() for n in self.nodes.values())
        )

    def sell_on_each(self) -> list[str]:
        """A shift and a sale on each register: the receipts' ids."""
        sold = []
        for node in self.nodes.values():
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
            sold.append(node.sell(CASHIER, ["burger"])["id"])
        return sold


@contextlib.contextmanager
def signed_venue(tmp_path: Path, **settings: Any) -> Iterator[SignedVenue]:
    """The venue, linked (both registers see each other); ``settings`` go in both node.toml."""
    authority = make_venue(tmp_path)
    issue_console_key(authority)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    venue = SignedVenue(authority, console, {}, {})
    try:
        for name, index, own in (
            (
                "R1",
                11,
                {
                    "console_url": f"ws://127.0.0.1:{console.port}",
                    "console_token": authority.console_token,
                    "priority": 10,
                },
            ),
            ("R2", 12, {"priority": 50}),
        ):
            config = make_device(
                authority,
                tmp_path,
                name,
                host=f"{prefix}.{index}",
                heartbeat_interval=0.5,
                **settings,
                **own,
            )
            venue.configs[name] = config
            venue.nodes[name] = NodeProcess(config, tmp_path / f"{name}.log").start()
        wait_for(
            lambda: all(len(n.status()["peers"]) == 1 for n in venue.nodes.values()),
            30,
            "mesh",
            on=[n.events for n in venue.nodes.values()],
        )
        yield venue
    finally:
        for node in venue.nodes.values():
            node.kill()
        console.stop()
