"""The demo's reckoning of a payment whose answer was lost (its register killed while it paid): a
fresh clone's ``./run test`` once found 69 receipts at the console for 68 the cashiers were told of
(``tests/test_demo.py``: nothing lost or duplicated; the demo had counted the committed sale as
refused). The demo now asks the register about such an order once it is back, as a cashier would,
and counts its receipt when it was paid. A real ``meshpos node``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from meshpos.demo.run import Demo
from meshpos.model.sample import MANAGER

from .mesh.kit import NodeProcess, make_device, make_venue


def test_a_payment_without_an_answer_counts_when_the_register_had_paid_it(tmp_path: Path) -> None:
    node = NodeProcess(
        make_device(make_venue(tmp_path), tmp_path, "R1"), tmp_path / "R1.log", ["--no-discovery"]
    ).start()
    try:
        node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 0})
        orders = []
        for _ in range(2):
            order = node.call("POST", "/api/orders", {"user": MANAGER})["id"]
            node.call(
                "POST", f"/api/orders/{order}/lines", {"user": MANAGER, "product_id": "burger"}
            )
            orders.append(order)
        paid = node.call(
            "POST", f"/api/orders/{orders[0]}/payments", {"user": MANAGER, "method": "card"}
        )
        receipt = paid["receipt"]
        day = Demo(tmp_path / "demo", rate=1, duration=1, heartbeat=1)
        day.nodes = cast(Any, {"R1": SimpleNamespace(client=node.client)})
        day.refused = {"R1": 2}
        day.in_doubt = [("R1", orders[0]), ("R1", orders[1])]  # paid, and not paid
        asyncio.run(day.ask_in_doubt())
        assert day.created == {receipt["id"]: receipt["total"]}
        assert (day.paid_unanswered, day.refused) == (1, {"R1": 1})
    finally:
        assert node.stop() == 0
