"""Closed business days at the console (issue 15, "closed days live in the relational tables and
compacted update blobs in the database, not in memory"): a past day that is in the reports and quiet
closes in its venue's hub, a hub loads only the open days, and a late update for a closed day (a
register back after days offline) reopens it and reaches the reports. Both databases."""

from __future__ import annotations

import time

from meshpos.console import ConsoleDB
from meshpos.console.hub import VenueHub
from meshpos.harness.wait import until
from meshpos.model.sample import CASHIER

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, make_register, sell
from .test_console_hub import Wire

DEADLINE_S = 10.0


def _hub(db: ConsoleDB) -> VenueHub:
    return VenueHub(VENUE, db, max_message_size=4 * 2**20, materialise_delay=0.0)


async def test_a_past_reported_day_closes_loads_no_more_and_a_late_update_reopens_it(
    venue_db: ConsoleDB,
) -> None:
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 1_000, NOW)
    first = sell(r1, ("burger", 1), at=NOW)
    hub = _hub(venue_db)
    await hub.load()
    wire = Wire(hub, r1)
    await wire.flush()
    now_ms = int(time.time() * 1000)
    assert time.strftime("%Y-%m-%d") > DATE  # long past: older than the reported days
    assert hub.closable_days(now_ms, 3600.0) == []  # changed within the quiet time: stays open

    assert await hub.close_past_days(now_ms, 0.0) == 1
    assert LEDGER in hub.engine.closed_days()
    assert LEDGER not in hub.sync.docs
    closed = await venue_db.closed_documents(VENUE)
    assert set(closed) == {LEDGER}
    assert len(await venue_db.segments(VENUE, LEDGER)) == 1  # folded whole
    assert LEDGER not in await venue_db.documents(VENUE, open_only=True)

    # a hub loaded afresh holds only the open documents; the day is still in the reports
    again = _hub(venue_db)
    await again.load()
    await again.settle()
    assert LEDGER in again.engine.closed_days()
    assert LEDGER not in again.sync.docs
    # what the reports held of it stays known (a register away when it closed is told)
    assert again.sync.console_reports(LEDGER)["R1"]["receipts"] == 1
    assert [r["id"] for r in await venue_db.records(VENUE, "receipts")] == [first.id]

    # the register sells once more on that day (it was offline): the update reopens the day at the
    # console, which stores and materialises it
    late = sell(r1, ("fries", 1), at=NOW + 60_000)
    late_wire = Wire(again, r1)

    async def reported() -> bool:
        await late_wire.flush()
        stored = {r["id"] for r in await venue_db.records(VENUE, "receipts")}
        return stored == {first.id, late.id}

    await until(reported, DEADLINE_S, "the late sale of the closed day in the reports")
    assert LEDGER in again.sync.docs
    assert LEDGER not in await venue_db.closed_documents(VENUE)
