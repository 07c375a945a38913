"""Two receipts of one venue with one number are an alarm at the console, counted once each (issue 13).

A register that lost its numbering (a wiped device enrolled again before the registers refused to sell
without their numbers, a restored backup) uploads receipts whose numbers the console already holds; the
console keeps both receipts (they are different sales) and raises ``duplicate_number`` for the later one.
"""

from __future__ import annotations

from meshpos.console import ConsoleDB
from meshpos.console.hub import VenueHub
from meshpos.console.upsert import DUPLICATE_NUMBER
from meshpos.model import Receipt, Venue
from meshpos.model.sample import CASHIER

from .conftest import VENUE
from .day import NOW, make_register, sell, sync
from .test_console_hub import Wire, hub

__all__ = ["hub"]  # the fixture, shared with the hub's tests

DAY_MS = 86_400_000


def sell_day(register: Venue, count: int, at: int) -> list[Receipt]:
    register.open_shift_now(CASHIER, 1_000, at)
    return [sell(register, ("burger", 1), at=at + i + 1) for i in range(count)]


async def test_a_reused_receipt_number_is_alarmed_once_and_both_receipts_are_kept(
    hub: VenueHub, venue_db: ConsoleDB
) -> None:
    before = make_register("R2")
    first = sell_day(before, 3, NOW)
    await Wire(hub, before).flush()
    assert await venue_db.alarms(VENUE) == []

    # the same device id on a fresh replica that starts its numbers again, the next day
    after = make_register("R2", catalog_from=before)
    again = sell_day(after, 2, NOW + DAY_MS)
    assert [r.number for r in again] == [r.number for r in first[:2]]
    await Wire(hub, after).flush()

    receipts = {row["id"]: row for row in await venue_db.records(VENUE, "receipts")}
    assert set(receipts) == {r.id for r in first + again}  # both kept: they are different sales
    alarms = [a for a in await venue_db.alarms(VENUE) if a.kind == DUPLICATE_NUMBER]
    assert sorted(a.record_id for a in alarms) == sorted(r.id for r in again)
    assert {a.table for a in alarms} == {"receipts"}
    for earlier in first[:2]:  # each alarm names the number and the receipt that had it first
        [alarm] = [a for a in alarms if f"number {earlier.number} " in a.detail]
        assert earlier.id in alarm.detail
    assert hub.counters["alarms"] == len(again)

    # uploading all of it again raises nothing new
    await Wire(hub, after).flush()
    await Wire(hub, before).flush()
    assert len(await venue_db.alarms(VENUE)) == len(alarms)
    assert hub.counters["alarms"] == len(again)


async def test_two_receipts_with_one_number_in_one_upload_give_one_alarm(
    hub: VenueHub, venue_db: ConsoleDB
) -> None:
    one = make_register("R3")
    other = make_register("R3", catalog_from=one)  # two processes writing as R3 on one day
    [a] = sell_day(one, 1, NOW)
    [b] = sell_day(other, 1, NOW + 5)
    assert a.number == b.number
    assert a.id != b.id
    sync(one, other)
    await Wire(hub, one).flush()

    alarms = [a for a in await venue_db.alarms(VENUE) if a.kind == DUPLICATE_NUMBER]
    assert len(alarms) == 1
    assert alarms[0].record_id in {a.id, b.id}
    assert a.number in alarms[0].detail
    assert hub.counters["alarms"] == 1
