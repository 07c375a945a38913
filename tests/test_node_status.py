"""The status a cashier reads: words, not clock units; "All data is synced" and the "Synced" badge only
when nothing is missing at the console."""

from __future__ import annotations

from meshpos.node_status import ALL_SYNCED, NodeStatus, OwedView, compute_status
from meshpos.sync import Synchronizer


def status(
    owed: dict[str, dict[str, int]],
    *,
    uplink: bool = True,
    sync: Synchronizer | None = None,
    view: OwedView | None = None,
) -> NodeStatus:
    """R1's status with one peer in sync, ``owed`` the records each device owes the console
    (``view``: the status kept across calls, ``OwedView``)."""
    if sync is None:
        sync = Synchronizer(venue="v", node_id="R1", role="register", client_id=7)
    return compute_status(
        node_id="R1",
        role="register",
        sync=sync,
        peers={"R2": True},
        uplink=uplink,
        receipts=0,
        uptime_s=1.0,
        owed_by_device=owed,
        owed_view=view,
    )


def test_nothing_missing_is_all_data_is_synced_and_the_badge_follows_the_colour() -> None:
    green = status({})
    assert (green.colour, green.message, green.pending, green.label) == (
        "green",
        ALL_SYNCED,
        0,
        "Synced",
    )
    yellow = status({}, uplink=False)
    assert yellow.colour == "yellow"
    assert yellow.label == "No console"


def test_own_and_other_records_are_named_and_counted() -> None:
    s = status(
        {"R1": {"receipts": 1, "payments": 1}, "R3": {"receipts": 2}, "?": {"refunds": 1}},
        uplink=False,
    )
    assert s.message == (
        "1 receipt and 1 payment of this register are not at the console yet; "
        "1 refund of an unknown register is not at the console yet; "
        "2 receipts of R3 are not at the console yet"
    )
    assert s.owed == {"receipts": 1, "payments": 1}
    assert s.venue_owed == {"receipts": 3, "payments": 1, "refunds": 1}
    assert s.pending == 5
    assert s.label == "5 not at the console"
    on_way = status({"R1": {"shift_events": 1}})
    assert on_way.message == (
        "1 shift opening or closing of this register is on its way to the console"
    )


def test_the_same_counts_are_worded_by_the_colour() -> None:
    """(issue 18, status) the words are remembered per counts, device and colour."""
    owed = {"R1": {"receipts": 2}, "R3": {"receipts": 2}}
    assert status(owed, uplink=False).message == (
        "2 receipts of this register are not at the console yet; "
        "2 receipts of R3 are not at the console yet"
    )
    assert status(owed).message == (
        "2 receipts of this register are on their way to the console; "
        "2 receipts of R3 are on their way to the console"
    )
    assert status(owed, uplink=False).message.endswith("R3 are not at the console yet")
