"""The console's signed word, end to end (issue 18, signed), with real processes: a console that holds
its venue's signing key (``meshpos venue console-key``), two registers that take the console's state
only as it signed it (``console_signed = true``), real mDNS on loopback. R1 is the relay; R2 learns
what the console holds only from the statement R1 passes on. Both reach "All data is synced"."""

from __future__ import annotations

import random
from pathlib import Path

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust.console_key import issue_console_key

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

SYNCED = "All data is synced"


def test_registers_that_take_only_signed_console_state_reach_synced(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    issue_console_key(authority)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    nodes: dict[str, NodeProcess] = {}
    try:
        for name, index, settings in (
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
                console_signed=True,
                **settings,
            )
            nodes[name] = NodeProcess(config, tmp_path / f"{name}.log").start()
        events = [n.events for n in nodes.values()]
        wait_for(
            lambda: all(len(n.status()["peers"]) == 1 for n in nodes.values()),
            30,
            "mesh",
            on=events,
        )
        sold = []
        for node in nodes.values():
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
            sold.append(node.sell(CASHIER, ["burger"])["id"])

        def synced() -> bool:
            return all(
                s["colour"] == "green" and s["message"] == SYNCED
                for s in (n.status() for n in nodes.values())
            )

        took = wait_for(synced, 30, "both registers synced on signed state", on=events)
        print(f"\nsigned console state: both registers synced {took:.2f} s after the sales")
        at_console = console.call("GET", f"/api/venues/{authority.venue_id}/receipts")
        assert sorted(r["id"] for r in at_console) == sorted(sold)
        assert nodes["R1"].status()["is_relay"]
    finally:
        for node in nodes.values():
            node.kill()
        console.stop()
