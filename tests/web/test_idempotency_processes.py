"""A register app's retries with an ``Idempotency-Key`` (web/idempotency.py): real ``meshpos node`` processes.

A retried write with the same key writes once and answers the first answer again: twenty identical
requests at once, a retry after the node was killed between the commit and the answer, and every write
route a bill is made of (order, line, discount, split, kitchen, cash move). The key with another request
is 422 and changes nothing. Every one of these duplicated the record before the header was honoured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.web.idempotency import FAULT_EXIT

from ..mesh.kit import NodeProcess, make_device, make_venue
from .kit import CATALOG, Answer, Client

KEY = "Idempotency-Key"


class Register:
    """R1 as its own process with a shift open; ``restart`` starts it again on the same data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = make_device(make_venue(root), root, "R1", catalog=CATALOG)
        self.node = NodeProcess(self.config, root / "R1.log").start()
        self.token = read_token(load_config(self.config, env={}).data_dir / "api.token")
        self.node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 10_000})

    def restart(self, *, fault_key: str = "") -> None:
        self.node.kill()
        prefix = ["env", f"{FAULT_EXIT}={fault_key}"] if fault_key else []
        self.node = NodeProcess(self.config, self.root / "R1.log", prefix=prefix).start()

    @property
    def client(self) -> Client:
        return Client(self.node.api, self.token)

    def call(self, method: str, path: str, body: Any, key: str = "") -> Answer:
        headers = {KEY: key} if key else {}
        return asyncio.run(self.client.call(method, path, body, headers=headers))

    def open_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.node.call("GET", "/api/orders")
        return orders


@pytest.fixture
def register(tmp_path: Path) -> Iterator[Register]:
    register = Register(tmp_path)
    try:
        yield register
    finally:
        register.node.kill()


async def _at_once(
    client: Client, n: int, method: str, path: str, body: Any, key: str
) -> list[Answer]:
    calls = [client.call(method, path, body, headers={KEY: key}) for _ in range(n)]
    return list(await asyncio.gather(*calls))


def test_twenty_identical_requests_at_once_write_one_order_and_one_line(register: Register) -> None:
    answers = asyncio.run(
        _at_once(register.client, 20, "POST", "/api/orders", {"user": CASHIER, "table": "7"}, "o-1")
    )
    assert {a.status for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1  # the first answer, twenty times
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 19
    orders = register.open_orders()
    assert len(orders) == 1
    order = orders[0]["id"]
    body = {"user": CASHIER, "product_id": "burger"}
    answers = asyncio.run(
        _at_once(register.client, 20, "POST", f"/api/orders/{order}/lines", body, "l-1")
    )
    assert {a.status for a in answers} == {201}
    assert {len(a.json()["lines"]) for a in answers} == {1}
    assert len(register.node.call("GET", f"/api/orders/{order}")["lines"]) == 1
    # without a key a request is a new one, as before
    register.call("POST", f"/api/orders/{order}/lines", body)
    assert len(register.node.call("GET", f"/api/orders/{order}")["lines"]) == 2


def test_the_key_with_another_request_is_422_and_changes_nothing(register: Register) -> None:
    first = register.call("POST", "/api/orders", {"user": CASHIER}, "k-1")
    assert first.status == 201
    order = first.json()["id"]
    line = {"user": CASHIER, "product_id": "burger"}
    assert register.call("POST", f"/api/orders/{order}/lines", line, "k-2").status == 201
    before = register.node.call("GET", f"/api/orders/{order}")
    for method, path, body in (
        ("POST", f"/api/orders/{order}/lines", {**line, "product_id": "fries"}),  # another body
        ("POST", f"/api/orders/{order}/lines", {**line, "quantity": 2}),
        ("POST", "/api/orders", {"user": CASHIER}),  # another path
    ):
        answer = register.call(method, path, body, "k-2")
        assert (answer.status, answer.code) == (422, "idempotency_key_reused"), answer.body
        assert "Idempotency-Key" in answer.json()["error"]["message"]
    assert register.node.call("GET", f"/api/orders/{order}") == before
    assert len(register.open_orders()) == 1
    for bad in ("two words", "x" * 256, "na\u00efve", "tab\there"):
        headers = {KEY: bad}
        answer = asyncio.run(
            register.client.call("POST", "/api/orders", {"user": CASHIER}, headers=headers)
        )
        assert (answer.status, answer.code) == (400, "bad_idempotency_key"), (bad, answer.body)
    assert len(register.open_orders()) == 1


def test_a_retry_after_kill_9_between_commit_and_answer_writes_once(register: Register) -> None:
    register.restart(fault_key="crash-1")  # this start exits after committing the key's write
    with pytest.raises((IndexError, ConnectionError)):  # no answer at all: the connection closes
        register.call("POST", "/api/orders", {"user": CASHIER, "table": "9"}, "crash-1")
    register.restart()  # the register app's retry reaches the node started again
    assert [o["table"] for o in register.open_orders()] == ["9"]  # the write was committed
    answer = register.call("POST", "/api/orders", {"user": CASHIER, "table": "9"}, "crash-1")
    assert answer.status == 201
    assert answer.headers.get("idempotent-replayed") == "true"
    orders = register.open_orders()
    assert [o["id"] for o in orders] == [answer.json()["id"]]  # one order, the first answer's
    # and once more across a plain kill -9 after an answer: still the first answer, nothing added
    line = {"user": CASHIER, "product_id": "burger"}
    path = f"/api/orders/{orders[0]['id']}/lines"
    first = register.call("POST", path, line, "line-1")
    register.restart()
    again = register.call("POST", path, line, "line-1")
    assert (again.status, again.json()) == (201, first.json())
    assert len(register.node.call("GET", path.removesuffix("/lines"))["lines"]) == 1


def test_every_write_of_a_bill_is_done_once_when_retried(register: Register) -> None:
    order = register.call("POST", "/api/orders", {"user": CASHIER, "table": "3"}, "a").json()
    path = f"/api/orders/{order['id']}"
    for product in ("burger", "fries"):
        body = {"user": CASHIER, "product_id": product, "quantity": 2}
        register.call("POST", f"{path}/lines", body, f"line-{product}")
    order = register.node.call("GET", path)
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{path}/discounts", {"user": MANAGER, "discount_id": "happy"}),
        ("POST", f"{path}/kitchen", {"user": CASHIER}),
        ("POST", f"{path}/split", {"user": CASHIER, "lines": {order["lines"][0]["id"]: 1}}),
        ("POST", "/api/shifts/current/cash-moves", {"user": MANAGER, "kind": "in", "amount": 500}),
    ]
    for i, (method, route, body) in enumerate(steps):
        first = register.call(method, route, body, f"step-{i}")
        assert first.status in (200, 201), (route, first.body)
        for _ in range(2):  # the app did not get the answer: it sends the same again
            again = register.call(method, route, body, f"step-{i}")
            assert (again.status, again.body) == (first.status, first.body), route
            assert again.headers.get("idempotent-replayed") == "true"
    order = register.node.call("GET", path)
    assert len(order["discounts"]) == 1
    assert len(register.open_orders()) == 2  # the order and one split bill
    tickets = register.node.call("GET", "/api/kitchen/tickets")["tickets"]
    assert len(tickets) == 1
    shift = register.node.call("GET", "/api/shifts/current")
    assert shift["expected_cash"] == 10_000 + 500  # the cash move once (nothing paid yet)
