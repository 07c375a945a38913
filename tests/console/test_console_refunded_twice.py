"""One receipt refunded on two registers at once is a ``refunded_twice`` alarm at the console (the
eleventh outside round).

Each register checks what was refunded before it refunds, but two registers that hold the receipt
and refund it in a partition (or the same second) each see none of the other's refund: both stand, the
money left both drawers, and the receipt is refunded beyond what it sold. Nothing said so: no
conflict, no alarm; the reports only showed more refunded than sold. Now the model reports it
(``conflicts.over_refunds``) on the receipt's order, naming the line and both refunds, also when the
second refund reaches the console in an upload of its own (``LedgerFeed`` reads a touched refund with
its receipt and every refund of it)."""

from __future__ import annotations

from meshpos.console import ConsoleDB
from meshpos.console.hub import VenueHub
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import VENUE
from .day import NOW, make_register, sell, sync
from .test_console_hub import Wire, hub

__all__ = ["hub"]  # the fixture, shared with the hub's tests


async def test_a_receipt_refunded_on_two_registers_at_once_is_alarmed_with_both_refunds_kept(
    hub: VenueHub, venue_db: ConsoleDB
) -> None:
    r1 = make_register("R1")
    r2 = make_register("R2", catalog_from=r1)
    r1.open_shift_now(MANAGER, 10_000, NOW)
    r2.open_shift_now(MANAGER, 10_000, NOW + 1)
    receipt = sell(r1, ("burger", 2), at=NOW + 10, tendered=5_000)
    other = sell(r1, ("fries", 1), at=NOW + 11, tendered=5_000)
    sync(r1, r2)
    # the console has the day (whole), with a refund of another receipt: no alarm
    r1.refund(MANAGER, other.id, NOW + 15, reason="cold")
    await Wire(hub, r1).flush()
    assert await venue_db.alarms(VENUE) == []

    # partitioned: each register refunds one burger of the two, then the whole receipt's rest
    line = receipt.lines[0].line_id
    first = r1.refund(MANAGER, receipt.id, NOW + 20, lines={line: 2}, reason="cold")
    wire = Wire(hub, r1)
    await wire.flush()  # the first refund alone: a partial export, nothing wrong yet
    assert await venue_db.alarms(VENUE) == []
    second = r2.refund(MANAGER, receipt.id, NOW + 21, lines={line: 1}, reason="cold")
    sync(r1, r2)
    await wire.flush()  # the second, in an upload of its own

    refunds = {row["id"] for row in await venue_db.records(VENUE, "refunds")}
    assert {first.id, second.id} <= refunds  # both kept: the money left both drawers
    [alarm] = await venue_db.alarms(VENUE)
    assert (alarm.kind, alarm.record_id) == ("refunded_twice", receipt.order_id)
    assert f"receipt {receipt.number}: 2 x 'Burger' sold, 3 refunded" in alarm.detail
    assert first.id in alarm.detail
    assert second.id in alarm.detail
    assert CASHIER not in alarm.detail  # (the manager refunded both)

    await Wire(hub, r2).flush()  # uploading it all again raises nothing new
    assert len(await venue_db.alarms(VENUE)) == 1
