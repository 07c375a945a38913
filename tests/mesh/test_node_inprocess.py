"""Two and three real nodes in one event loop: mTLS websockets on loopback, real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import until
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node

from .kit import make_device, make_venue


def receipts(node: Node) -> set[str]:
    return {r.id for ledger in node.venue.ledgers() for r in ledger.receipts()}


@pytest.fixture
def configs(tmp_path: Path) -> list[Path]:
    authority = make_venue(tmp_path)
    return [
        make_device(authority, tmp_path, "R1", heartbeat_interval=0.2),
        make_device(authority, tmp_path, "R2", heartbeat_interval=0.2),
        make_device(authority, tmp_path, "K1", role="kds", heartbeat_interval=0.2),
    ]


async def test_a_sale_on_one_register_reaches_the_others_and_survives_restart(
    configs: list[Path],
) -> None:
    r1c, r2c, k1c = (load_config(p, env={}) for p in configs)
    async with (
        make_node(r1c, discovery=False) as r1,
        make_node(r2c, discovery=False) as r2,
        make_node(k1c, discovery=False) as k1,
    ):
        r1.add_peer("R2", "127.0.0.1", r2.port)
        r1.add_peer("K1", "127.0.0.1", k1.port)
        r2.add_peer("K1", "127.0.0.1", k1.port)
        await until(lambda: len(r1.status().peers) == 2, 10, "R1 linked to R2 and K1", on=[r1])
        await r1.open_shift(CASHIER, 10_000)
        order = await r1.open_order(CASHIER)
        await r1.add_line(CASHIER, order.id, "espresso", 2)
        ticket = await r1.send_to_kitchen(CASHIER, order.id)
        assert ticket is not None
        # the open order is shared: R2 adds a line to it
        await until(lambda: r2.venue.ledgers() != [], 5, "R2 sees the ledger", on=[r2])
        await until(
            lambda: order.id in {o.id for led in r2.venue.ledgers() for o in led.orders()},
            5,
            "R2 sees the order",
            on=[r2],
        )
        await r2.open_shift(CASHIER, 5_000)
        await r2.add_line(CASHIER, order.id, "croissant", 1)
        await until(
            lambda: len(r1.venue.order(order.id).lines) == 2, 5, "R1 sees R2's line", on=[r1]
        )
        paid = await r1.pay(CASHIER, order.id, "card")
        receipt = paid.receipt
        assert receipt is not None
        took = await until(lambda: receipts(r2) == {receipt.id}, 5, "R2 has the receipt", on=[r2])
        print(f"receipt visible on R2 after {took * 1000:.1f} ms")
        await until(
            lambda: (
                ticket.id
                in {t.id for t in k1.venue.kitchen(k1.venue.business_date(k1.now_ms())).tickets()}
            ),
            5,
            "K1 has the ticket",
            on=[k1],
        )
        await k1.bump("u-kim", ticket.id)
        status = r1.status()
        assert status.colour == "yellow"
        assert set(status.peers) == {"R2", "K1"}
        assert status.pending > 0
        assert status.message != "All data is synced"
    # restart R2 alone: everything it acknowledged or received is in its file
    async with make_node(r2c, discovery=False) as r2again:
        assert receipts(r2again) == {receipt.id}
        assert len(r2again.venue.order(order.id).lines) == 2
        assert r2again.status().colour == "gray"
