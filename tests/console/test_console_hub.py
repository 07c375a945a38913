"""The console's hub for one venue, fed by a register's synchronizer over an in-memory link: what a relay
uploads is stored and materialised, a day growing sale by sale is materialised part by part, and
uploading the same again changes nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from meshpos.console import ConsoleDB
from meshpos.console.hub import VenueHub
from meshpos.model import Ledger, Venue
from meshpos.model.sample import CASHIER
from meshpos.net.port import LinkPeer, PeerKind
from meshpos.sync import Synchronizer

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, make_register, sell
from .test_console_materialise import TABLE_NAMES, _rewrite, assert_matches_model

KEYS = itertools.count()  # one key per connection, as the console's server gives them


class Wire:
    """A register's synchronizer linked to the hub the way a relay's console link is, in memory."""

    def __init__(self, hub: VenueHub, register: Venue) -> None:
        self.hub = hub
        self.sync = Synchronizer(
            venue=VENUE,
            node_id=register.device,
            role="register",
            client_id=register.replica.client_id,
            doc_factory=register.replica.doc,
        )
        for name in register.replica.names():
            self.sync.open_doc(name)
        register.replica.on_open = self._opened
        self._inbox: list[bytes] = []
        self.key = f"relay#{next(KEYS)}"
        hub.link_opened(
            self.key, LinkPeer("", "register", VENUE, PeerKind.RELAY), self._inbox.extend
        )
        self.sync.connect("console", expected_role="console")

    def _opened(self, name: str) -> None:
        self.sync.open_doc(name)

    async def flush(self) -> None:
        """Deliver both ways until nothing moves, then wait for the hub's materialisation."""
        for _ in range(1_000):
            out = [data for data in self.sync.data_to_send("console") if data]
            if out:
                await self.hub.link_messages(self.key, out)
            inbox = list(self._inbox)
            self._inbox.clear()  # in place: the hub holds its extend
            for data in inbox:
                if data:
                    self.sync.receive_data("console", data)
            self.sync.events_received()
            if not out and not inbox:
                await self.hub.settle()
                return
        raise AssertionError("the link never went quiet")


@pytest.fixture
async def hub(venue_db: ConsoleDB) -> VenueHub:
    hub = VenueHub(VENUE, venue_db, max_message_size=4 * 2**20, materialise_delay=0.0)
    await hub.load()
    return hub


async def tables(db: ConsoleDB) -> dict[str, list[dict[str, Any]]]:
    return {name: await db.records(VENUE, name) for name in TABLE_NAMES}


async def test_a_day_uploaded_sale_by_sale_is_materialised_part_by_part(
    hub: VenueHub, venue_db: ConsoleDB
) -> None:
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 1_000, NOW)
    for i in range(3):
        sell(r1, ("burger", 1), at=NOW + i)
    wire = Wire(hub, r1)
    await wire.flush()
    assert len(await venue_db.records(VENUE, "receipts")) == 3
    assert hub.counters["materialised_whole"] == 1
    for i in range(4):
        sell(r1, ("espresso", 2), method="card", at=NOW + 10 + i)
        await wire.flush()
        assert len(await venue_db.records(VENUE, "receipts")) == 4 + i
    assert hub.counters["materialised_part"] >= 4
    assert hub.counters["materialised_whole"] == 1
    assert hub.counters["materialise_errors"] == 0
    assert_matches_model(await tables(venue_db), r1.ledger(DATE))
    assert await venue_db.alarms(VENUE) == []

    # the relay reconnects and uploads everything again: nothing changes
    before = await tables(venue_db)
    counters = dict(hub.counters)
    again = Wire(hub, r1)
    await again.flush()
    assert await tables(venue_db) == before
    assert hub.counters["materialised"] == counters["materialised"]


async def test_a_hub_started_on_a_stored_day_reads_it_whole_once(venue_db: ConsoleDB) -> None:
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 1_000, NOW)
    sell(r1, ("burger", 1), at=NOW)
    await venue_db.append_updates(VENUE, LEDGER, [r1.replica.doc(LEDGER).get_update()])
    # a receipt stored before a crash but never materialised is materialised at start, so the
    # counts the console reports to the registers are those of its tables
    hub = VenueHub(VENUE, venue_db, max_message_size=4 * 2**20, materialise_delay=0.0)
    await hub.load()
    await hub.settle()
    assert len(await venue_db.records(VENUE, "receipts")) == 1
    assert hub.counters["materialised_whole"] == 1
    assert hub.sync.console_reports(LEDGER)["R1"]["receipts"] == 1
    sell(r1, ("fries", 1), at=NOW + 1)
    await Wire(hub, r1).flush()
    assert len(await venue_db.records(VENUE, "receipts")) == 2
    sell(r1, ("fries", 1), at=NOW + 2)
    await Wire(hub, r1).flush()
    assert (hub.counters["materialised_whole"], hub.counters["materialised_part"]) == (1, 2)
    assert_matches_model(await tables(venue_db), r1.ledger(DATE))


async def test_a_corrupt_record_is_skipped_and_logged_and_the_rest_of_the_day_reported(
    hub: VenueHub, venue_db: ConsoleDB, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    first = sell(r1, ("burger", 1), at=NOW)
    wire = Wire(hub, r1)
    await wire.flush()
    # a register with a bug writes a receipt the model refuses to read (one update)
    with r1.replica.doc(LEDGER).transaction():
        bad = sell(r1, ("fries", 1), at=NOW + 1)
        _rewrite(r1.replica.doc(LEDGER), ["receipts", bad.id], total=0.5)
    await wire.flush()
    assert f"receipts/{bad.id}" in caplog.text
    assert hub.counters["materialise_errors"] == 0
    assert [r["id"] for r in await venue_db.records(VENUE, "receipts")] == [first.id]
    later = sell(r1, ("espresso", 1), at=NOW + 2)
    await wire.flush()
    stored = {r["id"] for r in await venue_db.records(VENUE, "receipts")}
    assert stored == {first.id, later.id}  # the day goes on being reported
    assert hub.sync.console_report[0] == 1  # and the skipped receipt is counted as not reported
    assert (await venue_db.load_document(VENUE, LEDGER)) is not None  # the CRDT state is whole
    assert Ledger.snapshot(hub.replica.doc(LEDGER), DATE).receipt_count() == 3


async def test_what_cannot_be_materialised_is_counted_told_to_the_relay_and_known_after_a_restart(
    hub: VenueHub, venue_db: ConsoleDB
) -> None:
    """Held is not reported: a day the console cannot materialise is counted with its reason, in the
    hub's status and in the console's heartbeats (which the relay passes on to every register)."""
    r1 = make_register("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    wire = Wire(hub, r1)
    await wire.flush()
    assert hub.sync.console_report == (0, "")
    with r1.replica.doc(LEDGER).transaction():
        bad = sell(r1, ("fries", 1), at=NOW + 1)
        _rewrite(r1.replica.doc(LEDGER), ["receipts", bad.id], total=0.5)
    await wire.flush()
    count, reason = hub.sync.console_report
    assert count >= 1
    assert f"receipts/{bad.id}" in reason
    shown = hub.summary()["not_materialised"]
    assert (shown["count"], shown["reason"]) == (count, reason)
    assert set(shown["days"]) == {LEDGER}
    restarted = VenueHub(VENUE, venue_db, max_message_size=4 * 2**20, materialise_delay=0.0)
    await restarted.load()
    await restarted.settle()
    assert restarted.sync.console_report == (count, reason)
