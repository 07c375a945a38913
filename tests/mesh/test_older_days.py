"""A node opens a data dir holding a day an older node wrote (each money record a map of values, from
before they were JSON text): it lists that day's receipts, refunds one and sells beside them, and the
refund and the sale are written in the new form (issue 15's encoding, issue 19's N-1 database)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map

from meshpos.config import load_config
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.store import SqliteStore

from ..model.test_record_encoding import as_older_node_wrote_it
from .kit import CATALOG, NodeProcess, make_device, make_venue


def an_older_nodes_day(now_ms: int) -> tuple[str, bytes, list[str]]:
    """Two sales register R9 made as an older node: the day's name, its update, the receipt ids."""
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R9", role="register")
    venue.open_shift_now(CASHIER, 0, now_ms)
    receipts = []
    for product in ("espresso", "burger"):
        order = venue.open_order(CASHIER, now_ms)
        venue.add_line(CASHIER, order.id, product, 2, now_ms)
        paid = venue.pay(CASHIER, order.id, "cash", now_ms)
        assert paid.receipt is not None
        receipts.append(paid.receipt.id)
    name = f"ledger/{venue.business_date(now_ms)}"
    return name, as_older_node_wrote_it(replica.doc(name)).get_update(), receipts


async def _append(db: Path, name: str, update: bytes) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append([(name, update)])


async def _load(db: Path, name: str) -> Doc[Any]:
    async with await SqliteStore.open(db) as store:
        update = await store.load(name)
    assert update is not None
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc


def test_a_node_reads_refunds_and_sells_beside_an_older_nodes_day(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    name, update, older = an_older_nodes_day(int(time.time() * 1000))
    db = load_config(config, env={}).db_path
    asyncio.run(_append(db, name, update))
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        assert set(older) <= node.receipt_ids()
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        refund = node.call("POST", f"/api/receipts/{older[0]}/refunds", {"user": MANAGER})
        assert refund["receipt_id"] == older[0]
        assert refund["amount"] > 0
        sold = node.sell(CASHIER, ["espresso"])
        assert node.receipt_ids() == {*older, sold["id"]}
        shown = node.call("GET", f"/api/receipts/{older[0]}")
        assert [r["id"] for r in shown["refunds"]] == [refund["id"]]
        assert node.call("GET", f"/api/receipts/{older[1]}")["refunds"] == []
        assert node.status()["corrupt_records"] == 0
        assert node.stop() == 0
    finally:
        node.kill()
    day = asyncio.run(
        _load(db, name)
    )  # what the node wrote is JSON text; R9's maps are as they were
    receipts = day.get("receipts", type=Map)
    assert isinstance(receipts[sold["id"]], str)
    assert all(isinstance(receipts[r], dict) for r in older)
    assert isinstance(day.get("refunds", type=Map)[refund["id"]], str)
