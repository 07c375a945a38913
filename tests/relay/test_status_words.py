"""The words of the status (issue 13): never "synced" unless green, nothing pending and nothing the
console cannot report; the reason whenever not green; no finished upload line in ``meshpos status``."""

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


def test_only_green_with_nothing_pending_or_unreported_is_synced() -> None:
    sync = register()
    assert status(sync, uplink=True).message == ALL_SYNCED
    assert status(sync, uplink=True).synced
    for shown in (status(sync, uplink=False), status(sync, uplink=False, peers={"R1": True})):
        assert shown.colour in ("gray", "yellow")
        assert shown.message != ALL_SYNCED
        assert not shown.synced
    sync.set_console_report(2, "ledger/2026-12-01 orders/o1: expected a map")
    green = status(sync, uplink=True)
    assert green.colour == "green"
    assert not green.synced
    assert (
        "2 records are not in the console's reports: ledger/2026-12-01 orders/o1" in green.message
    )


def test_not_green_says_why_in_the_words_of_the_device_that_knows() -> None:
    sync = register()
    sync.set_problem("the console refused R3: wrong venue token")
    shown = status(sync, uplink=False, peers={"R1": True})
    assert shown.colour == "yellow"
    assert shown.message.endswith("the console refused R3: wrong venue token")
    assert shown.problems == {"R3": "the console refused R3: wrong venue token"}
    assert "console link of R3: the console refused R3: wrong venue token" in shown.describe()


def test_meshpos_status_drops_a_finished_upload() -> None:
    shown = status(register(), uplink=True)
    busy = dataclasses.replace(shown, upload={"done": 12, "total": 30})
    assert "uploading 12 / 30" in busy.describe()
    done = dataclasses.replace(shown, upload={"done": 30, "total": 30})
    assert "uploading" not in done.describe()
