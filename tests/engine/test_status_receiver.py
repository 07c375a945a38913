"""What a register's ticker round pays for its status while sales arrive (issue 18, receiver; the
twenty-second session): the day's counts read nothing of the document again for a received sale, the
shift check works the business day out once a minute, not on every round, and the indicator reads its
clock and shift problems once a round. And the status stays as true as before: a day ended early
elsewhere moves the shift banner at the next round, not the next minute."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc
from pycrdt._pycrdt import Map as RawMap

from meshpos.model import Replica, Venue
from meshpos.model.documents import STOPLIST, ledger_name
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import LedgerTally
from meshpos.model.venue_base import VenueBase
from meshpos.ops import clock as clock_module
from tests.engine.status_kit import sell, shift_open

NOW = 1_764_064_800_000
_READS = ("Map.get", "Map.has", "Map.keys")


def _yrs_reads(run: Any) -> list[str]:
    """The reads of yrs' own maps (``get``, ``has``, ``keys``: pycrdt's Rust type) while ``run()``
    runs."""
    reads: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        name = getattr(arg, "__qualname__", "")
        if event == "c_call" and name in _READS and type(getattr(arg, "__self__", None)) is RawMap:
            reads.append(name)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return reads


def test_a_received_sale_is_counted_from_what_its_update_reported() -> None:
    """R2's tally counts R1's sales as they arrive (the receipt's text and the order's map the change
    handed over): its next read reads nothing of the document. On main each received sale's receipt
    and order were read again at the next read (``has`` and ``get`` of each, the order's keys)."""
    seller = Venue(Replica(client_id=11), device="R1", role="register")
    sample_catalog(seller.catalog, pin_hash="x")
    seller.open_shift_now(CASHIER, 0, NOW)
    name = ledger_name(seller.business_date(NOW))
    receiver: Doc[Any] = Doc(client_id=12)
    receiver.apply_update(seller.replica.doc(name).get_update())
    tally = LedgerTally(receiver)
    assert tally.counts() == {"R1": {"shift_events": 1}}  # (a new tally counts the day whole)
    for k in range(3):
        state = seller.replica.doc(name).get_state()
        order = seller.open_order(CASHIER, NOW + k)
        seller.add_line(CASHIER, order.id, "burger", 1, NOW + k)
        seller.pay(CASHIER, order.id, "card", NOW + k)
        receiver.apply_update(seller.replica.doc(name).get_update(state))
    reads = _yrs_reads(tally.counts)
    assert tally.counts()["R1"] == {
        "shift_events": 1,
        "receipts": 3,
        "payments": 3,
        "stock_moves": 3,
    }
    assert reads == []
    assert not tally.recount()  # counted as a full read counts it


async def test_a_round_works_the_business_day_out_once_a_minute_while_sales_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five sales, each followed by the ticker's two status hooks: the shift check asks the business
    day at most twice (a minute may begin meanwhile); on main once a round (every sale moves the
    engine's event count it was kept on). The clock problem is read once a round (twice on main)."""
    asked: list[str] = []
    counting = [False]
    business_date = VenueBase.business_date

    def counted(self: VenueBase, now_ms: int) -> str:
        if counting[0]:
            asked.append("business_date")
        return business_date(self, now_ms)

    peers_problem = clock_module.peers_problem

    def counted_peers(*args: Any) -> str:
        if counting[0]:
            asked.append("clock")
        return peers_problem(*args)

    monkeypatch.setattr(VenueBase, "business_date", counted)
    for module in list(sys.modules.values()):  # wherever it was imported by name
        if getattr(module, "peers_problem", None) is peers_problem:
            monkeypatch.setattr(module, "peers_problem", counted_peers)
    async with shift_open(tmp_path) as node:
        service = node._run().status
        for _ in range(5):
            await sell(node)
            counting[0] = True
            service.publish_owed()
            service.publish_indicator()
            counting[0] = False
        assert service.status().shift == ""  # (opened today: not overdue)
    assert asked.count("business_date") <= 2, asked
    assert asked.count("clock") == 5, asked


async def test_a_day_ended_elsewhere_moves_the_shift_banner_at_the_next_round(
    tmp_path: Path,
) -> None:
    """The business day kept for the minute is not kept past a change of the stop list: another
    register ends today early (the record arriving while this register's shift is open, as a race of
    two registers can make it) and the next round's indicator says the shift is open since today."""
    async with shift_open(tmp_path) as node:
        service = node._run().status
        service.publish_owed()
        service.publish_indicator()
        assert service._shown["shift"] == ""
        today = node._run().numbers.venue.business_date(node.now_ms())
        await node.write(
            lambda venue, at: venue.day_ends.end(today, user=CASHIER, device="R9", now_ms=at)
        )
        assert STOPLIST in node._run().engine.sync.docs
        service.publish_owed()
        service.publish_indicator()
        assert service._shown["shift"] == f"shift open since {today}: close it"
