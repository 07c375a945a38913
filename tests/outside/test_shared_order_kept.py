"""One open order worked on by two registers at once (outside round, eighteenth session: order).

An order's parse is now kept across changes to other records of the day (model/_order_kept.py). Here
two real ``meshpos node`` processes add lines to one shared open order at the same time, one changes a
quantity and takes a line back, each reads the order between its taps (so each holds a kept parse when
the other's changes land); then R2 takes the payment. R1 must show every line and the right total,
then the order paid: a stale kept parse would let R1 add a line to a paid order, or charge it again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model.sample import CASHIER, MANAGER

from ..mesh.kit import NodeProcess
from ..mesh.test_receipt_numbers import Bed, refusal

ESPRESSO = 250  # the sample catalog's price, tax included


def order_of(node: NodeProcess, order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = node.call("GET", f"/api/orders/{order_id}")
    return found


def taps(node: NodeProcess, order_id: str, n: int) -> list[str]:
    """``n`` lines added, the order read after each (a kept parse each time)."""
    added = []
    for _ in range(n):
        line = node.call(
            "POST", f"/api/orders/{order_id}/lines", {"user": CASHIER, "product_id": "espresso"}
        )
        added.append(line["lines"][-1]["id"])
        order_of(node, order_id)
    return added


def test_two_registers_on_one_order_never_show_or_charge_a_stale_one(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    try:
        r1, r2 = bed.linked_pair()
        for node in (r1, r2):
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        order = r1.call("POST", "/api/orders", {"user": CASHIER})["id"]
        wait_for(
            lambda: order_of(r2, order)["status"] == "open",
            10,
            "the order on R2",
            on=[r2.events],
            ignore=(ApiError,),
        )
        with ThreadPoolExecutor(2) as pool:
            mine, theirs = pool.map(lambda node: taps(node, order, 6), (r1, r2))
        r2.call(
            "PUT",
            f"/api/orders/{order}/lines/{theirs[0]}/quantity",
            {"user": CASHIER, "quantity": 3},
        )
        r1.call(
            "DELETE", f"/api/orders/{order}/lines/{mine[0]}", {"user": CASHIER, "reason": "mistake"}
        )
        expected = (6 - 1 + 6 - 1 + 3) * ESPRESSO

        def shown(node: NodeProcess) -> tuple[int, frozenset[str]]:
            found = order_of(node, order)
            return found["totals"]["total"], frozenset(line["id"] for line in found["lines"])

        def agreed() -> bool:
            # (the total alone can agree by chance while a change is still on its way)
            one, two = shown(r1), shown(r2)
            return one == two and one[0] == expected and mine[0] not in one[1]

        wait_for(agreed, 10, "both registers showing every line", on=[r1.events, r2.events])
        assert {mine[-1], theirs[-1]} <= shown(r1)[1]
        paid = r2.call("POST", f"/api/orders/{order}/payments", {"user": CASHIER, "method": "card"})
        assert paid["receipt"]["total"] == expected
        wait_for(
            lambda: order_of(r1, order)["status"] != "open",
            10,
            "the payment on R1",
            on=[r1.events],
        )
        assert order_of(r1, order)["totals"]["due"] == 0
        body = {"user": CASHIER, "product_id": "espresso"}
        assert refusal(r1, "POST", f"/api/orders/{order}/lines", body)["code"] == "order_not_open"
        pay = {"user": CASHIER, "method": "card"}
        assert refusal(r1, "POST", f"/api/orders/{order}/payments", pay)["status"] == 409
    finally:
        bed.kill_all()


def test_an_order_voided_on_another_register_takes_no_line_nor_payment(tmp_path: Path) -> None:
    """R1 works an order (a kept parse after each tap); R2's manager voids it. R1 must show it voided
    and refuse both a line and a payment on it."""
    bed = Bed(tmp_path)
    try:
        r1, r2 = bed.linked_pair()
        for node in (r1, r2):
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        order = r1.call("POST", "/api/orders", {"user": CASHIER})["id"]
        taps(r1, order, 3)
        wait_for(
            lambda: len(order_of(r2, order)["lines"]) == 3,
            10,
            "the order's lines on R2",
            on=[r2.events],
            ignore=(ApiError,),
        )
        r2.call("POST", f"/api/orders/{order}/void", {"user": MANAGER, "reason": "walked out"})
        wait_for(lambda: order_of(r1, order)["voided"], 10, "the void on R1", on=[r1.events])
        assert order_of(r1, order)["status"] != "open"
        body = {"user": CASHIER, "product_id": "espresso"}
        assert refusal(r1, "POST", f"/api/orders/{order}/lines", body)["status"] == 409
        pay = {"user": CASHIER, "method": "card"}
        assert refusal(r1, "POST", f"/api/orders/{order}/payments", pay)["status"] == 409
    finally:
        bed.kill_all()
