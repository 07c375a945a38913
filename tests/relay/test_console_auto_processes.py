"""``console_signed = "auto"`` (the default; issue 18, sticky), end to end with real processes: a console
that holds its venue's signing key, two registers with nothing set. Both reach "All data is synced"
(R2 from the statement R1 passes on), both turn strict on the console's first statement and remember
it in their data directory; a kill -9 of R2 and its restart keep it strict from its start, and it
still reaches synced on the console's signed word."""

from __future__ import annotations

import random
from pathlib import Path

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust.console_key import issue_console_key
from meshpos.trust.console_strict import STRICT_FILE

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

SYNCED = "All data is synced"


def test_registers_turn_strict_by_default_and_a_kill_9_keeps_them_strict(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    issue_console_key(authority)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    nodes: dict[str, NodeProcess] = {}
    strict: dict[str, Path] = {}
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
                **settings,
            )
            assert load_config(config, env={}).console_signed == "auto"
            strict[name] = load_config(config, env={}).data_dir / STRICT_FILE
            nodes[name] = NodeProcess(config, tmp_path / f"{name}.log").start()
        events = [n.events for n in nodes.values()]
        wait_for(
            lambda: all(len(n.status()["peers"]) == 1 for n in nodes.values()),
            30,
            "mesh",
            on=events,
        )
        for node in nodes.values():
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
            node.sell(CASHIER, ["burger"])

        def synced() -> bool:
            return all(
                s["colour"] == "green" and s["message"] == SYNCED
                for s in (n.status() for n in nodes.values())
            )

        wait_for(synced, 30, "both registers synced", on=events)
        assert all(path.exists() for path in strict.values())  # strict, and remembered
        assert "strict from now on" in (tmp_path / "R2.log").read_text()

        r2 = nodes["R2"]
        r2.kill()  # kill -9
        r2.start()
        assert "strict (remembered in" in (tmp_path / "R2.log").read_text()
        r2.sell(CASHIER, ["burger"])
        events = [n.events for n in nodes.values()]
        wait_for(synced, 30, "R2 synced again, on the console's signed word", on=events)
        at_console = console.call("GET", f"/api/venues/{authority.venue_id}/receipts")
        assert len(at_console) == 3
    finally:
        for node in nodes.values():
            node.kill()
        console.stop()
