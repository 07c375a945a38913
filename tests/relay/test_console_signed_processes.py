"""The console's signed word, end to end (issue 18, signed), with real processes: a console that holds
its venue's signing key (``meshpos venue console-key``), two registers that take the console's state
only as it signed it (``console_signed = true``), real mDNS on loopback. R1 is the relay; R2 learns
what the console holds only from the statement R1 passes on. Both reach "All data is synced"."""

from __future__ import annotations

from pathlib import Path

from meshpos.harness.wait import wait_for

from .signed_venue import signed_venue


def test_registers_that_take_only_signed_console_state_reach_synced(tmp_path: Path) -> None:
    with signed_venue(tmp_path, console_signed=True) as venue:
        sold = venue.sell_on_each()
        events = [n.events for n in venue.nodes.values()]
        took = wait_for(venue.synced, 30, "both registers synced on signed state", on=events)
        print(f"\nsigned console state: both registers synced {took:.2f} s after the sales")
        authority = venue.authority
        at_console = venue.console.call("GET", f"/api/venues/{authority.venue_id}/receipts")
        assert sorted(r["id"] for r in at_console) == sorted(sold)
        assert venue.nodes["R1"].status()["is_relay"]
