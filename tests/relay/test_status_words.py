"""The words of the status (issue 13): "All data is synced" and the "Synced" badge never while a device
knows why no data flows, or while the console holds records it cannot report; the reason is named."""

from __future__ import annotations

import dataclasses

from meshpos.node_status import ALL_SYNCED, NodeStatus, compute_status
from meshpos.sync import SyncConfig, Synchronizer


def status(sync: Synchronizer, *, uplink: bool, peers: dict[str, bool] | None = None) -> NodeStatus:
    return compute_status(
        node_id=sync.node_id,
        role=sync.role,
        sync=sync,
        peers=peers or {},
        uplink=uplink,
        receipts=0,
        uptime_s=1.0,
    )


def register() -> Synchronizer:
    return Synchronizer(
        venue="v",
        node_id="R3",
        role="register",
        client_id=5,
        config=SyncConfig(settle_heartbeats=0),
    )


def test_records_the_console_cannot_report_are_never_synced_and_are_named() -> None:
    sync = register()
    assert (status(sync, uplink=True).message, status(sync, uplink=True).label) == (
        ALL_SYNCED,
        "Synced",
    )
    sync.set_console_report(2, "ledger/2026-12-01 orders/o1: expected a map")
    green = status(sync, uplink=True)
    assert green.colour == "green"
    assert green.message == (
        "2 records are not in the console's reports: ledger/2026-12-01 orders/o1: expected a map"
    )
    assert green.label == "Not in reports"
    assert (green.not_in_reports, green.not_in_reports_reason) == (2, sync.console_report[1])


def test_not_green_says_why_in_the_words_of_the_device_that_knows() -> None:
    sync = register()
    sync.set_problem("the console refused R3: wrong venue token")
    shown = status(sync, uplink=False, peers={"R1": True})
    assert shown.colour == "yellow"
    assert shown.message == "The console refused R3: wrong venue token"
    assert shown.label != "Synced"
    assert shown.problems == {"R3": "the console refused R3: wrong venue token"}
    assert "console link of R3: the console refused R3: wrong venue token" in shown.describe()


def test_a_relay_with_a_problem_is_not_green_even_with_its_link_up() -> None:
    """Trying again after a stall is not data flowing: only data seen flowing clears the reason."""
    sync = register()
    sync.set_problem("the console is not taking R3's changes")
    assert status(sync, uplink=True, peers={"R1": True}).colour == "yellow"
    sync.set_problem("")
    assert status(sync, uplink=True, peers={"R1": True}).colour == "green"


def test_meshpos_status_drops_a_finished_upload() -> None:
    shown = status(register(), uplink=True)
    busy = dataclasses.replace(shown, upload={"done": 12, "total": 30})
    assert "uploading 12 / 30" in busy.describe()
    done = dataclasses.replace(shown, upload={"done": 30, "total": 30})
    assert "uploading" not in done.describe()
