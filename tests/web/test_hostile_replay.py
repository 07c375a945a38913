"""The same sale sent many times at once, and again after a kill -9 and a restart (a register app that
retries because it never saw the answer): the order is paid once, one receipt, one number; every other
attempt is 409 naming why; a refund of the whole receipt likewise once. Holds on main: a guard."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER, MANAGER
from meshpos.web.orders import MAX_PAGE

from ..mesh.kit import NodeProcess
from .kit import http, register_with_open_shift

TIMES = 30


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    with register_with_open_shift(tmp_path) as started:
        yield started


async def _many(node: NodeProcess, path: str, body: dict[str, Any]) -> Counter[tuple[int, str]]:
    auth = {"Authorization": f"Bearer {node.client.token}"}
    answers = await asyncio.gather(
        *(http(node.api, "POST", path, body=body, headers=auth) for _ in range(TIMES))
    )
    return Counter((a.status, a.code if a.status >= 400 else "") for a in answers)


def _numbers(node: NodeProcess) -> Counter[str]:
    return Counter(r["number"] for r in node.call("GET", f"/api/receipts?limit={MAX_PAGE}"))


async def test_a_payment_sent_many_times_at_once_and_after_a_kill_is_taken_once(
    node: NodeProcess,
) -> None:
    order = node.call("POST", "/api/orders", {"user": CASHIER})
    pay = f"/api/orders/{order['id']}/payments"
    node.call(
        "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "espresso"}
    )
    card = {"user": CASHIER, "method": "card"}
    assert await _many(node, pay, card) == {(201, ""): 1, (409, "order_not_open"): TIMES - 1}
    numbers = _numbers(node)
    assert list(numbers.values()) == [1]
    node.kill()  # kill -9 right after the answers
    node.start()
    assert await _many(node, pay, card) == {(409, "order_not_open"): TIMES}
    assert _numbers(node) == numbers
    receipt = node.call("GET", f"/api/receipts?limit={MAX_PAGE}")[0]
    refund = f"/api/receipts/{receipt['id']}/refunds"
    whole = {"user": MANAGER, "reason": "guest left"}
    assert await _many(node, refund, whole) == {(201, ""): 1, (409, "over_refund"): TIMES - 1}
    node.kill()
    node.start()
    assert await _many(node, refund, whole) == {(409, "over_refund"): TIMES}
    assert len(node.call("GET", f"/api/receipts/{receipt['id']}")["refunds"]) == 1
    assert _numbers(node) == numbers
