"""Found from the outside (sixth round), as a manager reprinting last week's Z: a cash refund of a
receipt from an earlier business day is written to that receipt's day (its ledger), in the name of the
shift that paid the money out. While the shift is open the old day stays loaded (``day_end.what_keeps_open``)
and the X and the Z printed at the close are right. (Since part shiftsum, the twentieth session, the old
day closes while the shift is open, its part of the shift's figures kept: ``model/kept_parts.py``.) Once the old day closed again (the console holds it,
as every day closes), ``GET /api/shifts/{id}/report`` loaded only the days from the one the shift opened
on to the one it closed on: the refund was gone from the reprinted Z, which said ``refunds`` 0 and a
drawer that should have held the refunded cash, unlike the close's own ``expected``. Now a closing day is
also indexed by the other days' shifts whose refunds it holds (``day_end.records_key``), and
the report loads those days too.

A real ``meshpos node``; the old day is written to its store and closed there exactly as a node's
``DayCloser`` closes it (``close_stored_days``), as tests/mesh/test_business_days.py does.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from meshpos.bench.history_fixture import close_stored_days
from meshpos.config import load_config
from meshpos.model import Replica, Venue
from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.store import SqliteStore

from ..mesh.kit import CATALOG, NodeProcess, make_device, make_venue

DAY_MS = 86_400_000
ESPRESSO = 250  # the sample menu's price


def _old_cash_sale(now_ms: int) -> tuple[str, bytes, str]:
    """A closed-out day five days ago on register P5: one espresso paid in cash, the shift closed.
    Its date, its ledger's update and the receipt's id."""
    at = now_ms - 5 * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="P5", role="register")
    venue.open_shift_now(CASHIER, 0, at)
    order = venue.open_order(CASHIER, at)
    venue.add_line(CASHIER, order.id, "espresso", 1, at)
    paid = venue.pay(CASHIER, order.id, "cash", at)
    assert paid.receipt is not None
    venue.close_shift(CASHIER, ESPRESSO, at + 1)
    date = venue.business_date(at)
    return date, replica.doc(ledger_name(date)).get_update(), paid.receipt.id


async def _put(db: Path, date: str, update: bytes) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append([(ledger_name(date), update)])
        await close_stored_days(store, [(date, update)])


async def _close_again(db: Path, date: str) -> None:
    """Close ``date`` again with all it holds now (the refund too), as the node's DayCloser would."""
    async with await SqliteStore.open(db) as store:
        update = await store.load(ledger_name(date))
        assert update is not None
        await close_stored_days(store, [(date, update)])


def test_a_reprinted_z_keeps_the_refund_of_an_old_receipt(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    db = load_config(config, env={}).db_path
    date, update, receipt = _old_cash_sale(int(time.time() * 1000))
    asyncio.run(_put(db, date, update))

    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    shift = node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})["id"]
    refund = node.call(
        "POST", f"/api/receipts/{receipt}/refunds", {"user": MANAGER, "method": "cash"}
    )
    assert refund["amount"] == ESPRESSO, refund
    z = node.call("POST", "/api/shifts/current/z", {"user": CASHIER, "counted_cash": 9_750})["z"]
    assert (z["refunds"], z["cash_refunds"], z["drawer_expected"]) == (250, 250, 9_750), z
    assert node.stop() == 0

    asyncio.run(
        _close_again(db, date)
    )  # the old day closes again, as it does once the console holds it
    node.start()
    try:
        assert date in node.call("GET", "/api/days")["closed"]
        again = node.call("GET", f"/api/shifts/{shift}/report")
        # main: refunds 0, cash_refunds 0, drawer_expected 10000
        assert (again["refunds"], again["cash_refunds"], again["drawer_expected"]) == (
            250,
            250,
            9_750,
        ), again
    finally:
        assert node.stop() == 0
