"""A received receipt costs a status only what it moved (issue 18, status).

After each receipt a status computed what the console lacks of every register of the day, summed and
worded every device's owed counts again: work that grew with the venue for every receipt every device
receives. Now a register's gap is computed again only when the day's tally says it moved (or the
console's reports may have, or the day was counted afresh), a device's owed counts only when its gaps
or told counts moved, and its words only when its counts or the colour did. Each test fails with its
invalidation disabled (the counts would not move) or with the old recomputation (the calls counted).
The console's reports are compared by what they say, per register: ``status_version``, which moves
when they rise, moves for much else (every status after a peer said something new computed every
register's gap again).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from meshpos import node_status
from meshpos.model import Replica, Venue
from meshpos.model.documents import is_ledger
from meshpos.model.replica import decode_state_vector
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import LedgerTally, describe
from meshpos.register.owed_counts import OwedCounts
from meshpos.sync import Heartbeat
from tests.engine.status_kit import hear, pending_reads, sell, shift_open

NOW = 1_764_064_800_000


def _register(device: str, catalog: Replica | None) -> Venue:
    replica = Replica()
    if catalog is not None:
        replica.apply("catalog", catalog.doc("catalog").get_update())
    venue = Venue(replica, device=device)
    if catalog is None:
        sample_catalog(venue.catalog)
    venue.open_shift_now(CASHIER, 0, NOW)
    return venue


def _sell(venue: Venue) -> None:
    order = venue.open_order(CASHIER, NOW)
    venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    venue.pay(CASHIER, order.id, "card", NOW)


def test_a_days_gaps_are_computed_again_only_for_the_registers_that_moved() -> None:
    first = _register("R1", None)
    registers = [first, *(_register(f"R{n}", first.replica) for n in (2, 3, 4))]
    name = f"ledger/{first.business_date(NOW)}"
    day = Replica()

    def receive(venue: Venue) -> None:
        doc = venue.ledger(venue.business_date(NOW)).doc
        day.apply(name, doc.get_update(day.doc(name).get_state()))

    for venue in registers:
        _sell(venue)
        receive(venue)
    tally, counts = LedgerTally(day.doc(name)), OwedCounts()
    gaps = counts.day(name, tally, {})
    assert sorted(gaps) == ["R1", "R2", "R3", "R4"]
    assert counts.computed == 4
    assert counts.day(name, tally, {}) is gaps  # nothing moved: nothing computed
    assert counts.computed == 4

    _sell(registers[2])
    receive(registers[2])  # one receipt of R3 arrives
    moved = counts.day(name, tally, {})
    assert counts.computed == 5  # fails before: every register's gap computed again
    assert moved["R3"]["receipts"] == 2  # fails with the tally's moved registers not read
    assert all(moved[r] is gaps[r] for r in ("R1", "R2", "R4"))
    assert gaps["R3"]["receipts"] == 1  # what was returned before is never changed

    reports = {"R2": dict(moved["R2"])}  # the console reports all of R2's
    reported = counts.day(name, tally, reports)
    assert "R2" not in reported  # fails with the reports not compared
    assert counts.computed == 6  # fails before: every register's gap computed again
    assert reported["R1"] is gaps["R1"]
    reports["R4"] = {"receipts": 1}  # (the synchronizer's reports grow in place)
    assert "receipts" not in counts.day(name, tally, reports)["R4"]
    assert counts.computed == 7

    tally.recount()  # counted afresh: any register may have moved
    counts.day(name, tally, reports)
    assert counts.computed == 7 + 3  # fails with the recounts not compared


def test_a_devices_owed_counts_are_summed_again_only_when_its_inputs_move() -> None:
    counts = OwedCounts()
    day = {"R1": {"receipts": 1}, "R2": {"receipts": 2}}
    owed = counts.count((day,), {"R3": {"receipts": 4}})
    assert owed == {"R1": {"receipts": 1}, "R2": {"receipts": 2}, "R3": {"receipts": 4}}
    moved = counts.count(({**day, "R1": {"receipts": 2}},), {"R3": {"receipts": 4}})
    assert moved["R1"] == {"receipts": 2}  # fails with a device's inputs not compared
    assert moved["R2"] is owed["R2"]  # fails before: every device summed again
    assert moved["R3"] is owed["R3"]
    told = counts.count(({**day, "R1": {"receipts": 2}},), {"R2": {"receipts": 5}})
    assert told == {"R1": {"receipts": 2}, "R2": {"receipts": 5}}  # R3's told counts went


async def test_a_received_receipt_words_only_the_device_whose_counts_it_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        beat = Heartbeat(node="R2", role="register", priority=0, uplink=False, relay=False, seq=1)
        heard = {
            f"R{n}": replace(beat, node=f"R{n}", owed={"receipts": 10 + n}) for n in range(2, 7)
        }
        hear(monkeypatch, heard)
        described: list[object] = []
        real = describe

        def counted(counts: Any) -> str:
            described.append(dict(counts))
            return real(counts)

        monkeypatch.setattr(node_status, "describe", counted)
        service = node._run().status
        await sell(node)
        service.publish_indicator()
        assert service._shown is not None
        assert (
            "1 receipt, 1 payment, 1 shift opening or closing and 1 stock movement of this register"
            in service._shown["message"]
        )
        assert "16 receipts of R6" in service._shown["message"]

        described.clear()
        heard["R4"] = replace(heard["R4"], owed={"receipts": 20})  # R4 sold
        node._run().engine.sync._owed_heard += 1  # (as its heartbeat does)
        service.publish_indicator()
        assert "20 receipts of R4" in service._shown["message"]  # at once
        assert described == [{"receipts": 20}]  # fails before: all six described again


async def test_the_indicator_reads_pending_counts_only_when_nothing_is_owed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        read = pending_reads(monkeypatch)
        service, sync = node._run().status, node._run().engine.sync
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at, o=order.id: v.add_line(CASHIER, o, "burger", 1, at))
        read.clear()
        service.publish_indicator()  # the shift is owed: the documents' counts are not shown
        assert service._shown is not None
        assert "shift opening or closing of this register" in service._shown["message"]
        assert read == []  # fails before: the changed documents were read
        assert node.status().pending_by_document  # a status asked for has them, as before

        (ledger,) = [name for name in sync.docs if is_ledger(name)]
        sync.set_console_reports(ledger, service._tallies[ledger].counts())  # nothing owed now
        service.publish_indicator()
        assert read  # read at once: the open order is not at the console
        assert service._shown["message"].startswith("Changes to open orders")
        for name in list(sync.docs):
            sync.set_console_state(name, decode_state_vector(sync.docs[name].get_state()))
        service.publish_indicator()
        assert service._shown["message"] == node_status.ALL_SYNCED
