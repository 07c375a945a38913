"""Open rule (the twentieth session), as a register whose clock ran three days ahead for a morning (a
dead clock battery, NTP fixed it at the next start): the business day its clock made (three days on)
holds its sales, closed shift and all, and the console holds them. Once its clock is right that day was
kept in memory until its date, held by "a day closes once it is before today" alone. It is after tomorrow
now, so it closes by the usual rule (shift closed, the console holds it all, idle) and is opened again
the day before its date (``register/days.py``; tests/engine/test_day_ahead.py moves an in-process clock
through that). Real ``meshpos`` processes: the register under libfaketime, then restarted on time.

On main ``GET /api/days`` lists the day as loaded for good (the wait for its close times out).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_day_made_by_a_clock_ahead_is_released_once_the_clock_is_right(tmp_path: Path) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    node = None
    try:
        config = make_device(
            authority,
            tmp_path,
            "R1",
            console_url=str(console.ready["console"]),
            console_token=authority.console_token,
            heartbeat_interval=0.5,
            day_idle_seconds=0.5,
        )
        node = NodeProcess(
            config,
            tmp_path / "R1-ahead.log",
            ["--no-discovery"],
            prefix=["env", f"LD_PRELOAD={FAKETIME}", "FAKETIME=+3d"],
        ).start()
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        sold = node.sell(CASHIER, ["espresso"])
        node.call("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
        ahead = node.call("GET", "/api/days")["today"]
        receipts = f"/api/venues/{authority.venue_id}/receipts"
        wait_for(
            lambda: sold["id"] in {r["id"] for r in console.call("GET", receipts)},
            30,
            "the sale made ahead at the console",
        )
        wait_for(
            lambda: node is not None and node.status()["message"] == "All data is synced",
            30,
            "R1 all synced",
            on=[node.events],
        )
        assert node.stop() == 0

        node = NodeProcess(config, tmp_path / "R1.log", ["--no-discovery"]).start()
        days = node.call("GET", "/api/days")
        assert days["today"] < ahead, days
        wait_for(
            lambda: ahead in node.call("GET", "/api/days")["closed"],
            30,
            f"business day {ahead} (made ahead) closed on the register on time",
            on=[node.events],
            every=0.2,
        )
        assert ahead not in node.call("GET", "/api/days")["loaded"]
        receipt = node.call("GET", f"/api/receipts/{sold['id']}")  # opened for a read, as any day
        assert receipt["receipt"]["total"] == sold["total"], receipt
    finally:
        if node is not None:
            node.kill()
        console.stop()
