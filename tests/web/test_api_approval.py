"""Manager approval on the spot through the node's API: a cashier's refund, void and discounts are
refused 403 needs_approval naming the right, then done with a manager's PIN checked by the node; the
record names the approver, and wrong PINs are limited like logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.web.pins import USER_STRIKES

from .conftest import running
from .kit import PIN, Client, http, make_configs


@pytest.fixture
async def reg(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(make_configs(tmp_path, [("R1", "register")])) as (r1,):
        answer = await http(r1.api_url, "GET", "/api/openapi.json")
        doc: dict[str, Any] = answer.json()
        yield Client.of(r1, doc)


async def paid_receipt(reg: Client, *products: str) -> dict[str, Any]:
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER, "table": "4"})
    for product in products:
        await reg.ok(
            "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": product}
        )
    paid = await reg.ok(
        "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "cash"}
    )
    receipt: dict[str, Any] = paid["receipt"]
    return receipt


async def test_a_manager_approves_a_cashiers_refund_with_their_pin(reg: Client) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    receipt = await paid_receipt(reg, "espresso", "espresso")
    path = f"/api/receipts/{receipt['id']}/refunds"
    line = receipt["lines"][0]["line_id"]
    body = {"user": CASHIER, "lines": {line: 1}, "reason": "cold"}

    message = await reg.error(403, "needs_approval", "POST", path, body)
    assert "right: refund" in message
    wrong = await reg.error(
        403, "approval_refused", "POST", path, {**body, "approver": MANAGER, "approver_pin": "0000"}
    )
    assert "wrong PIN" in wrong
    cook = await reg.error(
        403, "approval_refused", "POST", path, {**body, "approver": COOK, "approver_pin": PIN}
    )
    assert "Kim may not refund" in cook
    view = await reg.ok("GET", f"/api/receipts/{receipt['id']}")
    assert view["refunds"] == []  # nothing refused wrote anything

    refund = await reg.ok("POST", path, {**body, "approver": MANAGER, "approver_pin": PIN})
    assert (refund["user"], refund["approved_by"], refund["reason"]) == (CASHIER, MANAGER, "cold")
    view = await reg.ok("GET", f"/api/receipts/{receipt['id']}")
    assert [r["approved_by"] for r in view["refunds"]] == [MANAGER]
    other = receipt["lines"][1]["line_id"]
    own = await reg.ok("POST", path, {"user": MANAGER, "lines": {other: 1}})
    assert own["approved_by"] == ""  # a manager needs nobody's approval


async def test_a_void_and_line_and_order_discounts_need_approval_too(reg: Client) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER})
    path = f"/api/orders/{order['id']}"
    await reg.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "espresso"})
    approved = {"approver": MANAGER, "approver_pin": PIN}
    catalog = await reg.ok("GET", "/api/catalog")
    discount = next(d for d in catalog["discounts"] if d["scope"] == "order")
    body = {"user": CASHIER, "discount_id": discount["id"]}
    message = await reg.error(403, "needs_approval", "POST", f"{path}/discounts", body)
    assert "right: discount" in message
    discounted = await reg.ok("POST", f"{path}/discounts", {**body, **approved})
    assert discounted["totals"]["discount"] > 0
    line_discount = next(d for d in catalog["discounts"] if d["scope"] == "line")
    line = {"user": CASHIER, "product_id": "croissant", "discount_id": line_discount["id"]}
    message = await reg.error(403, "needs_approval", "POST", f"{path}/lines", line)
    assert "right: discount" in message
    with_line = await reg.ok("POST", f"{path}/lines", {**line, **approved})
    assert with_line["lines"][-1]["discount_id"] == line_discount["id"]

    await reg.error(403, "needs_approval", "POST", f"{path}/void", {"user": CASHIER})
    # what no approval lends stays a plain refusal: a cook may not sell at all, so may not void
    await reg.error(403, "permission_denied", "POST", f"{path}/void", {"user": COOK, **approved})
    voided = await reg.ok("POST", f"{path}/void", {"user": CASHIER, "reason": "left", **approved})
    assert voided["status"] == "void"


async def test_wrong_approver_pins_are_limited_like_logins(reg: Client) -> None:
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    receipt = await paid_receipt(reg, "espresso")
    path = f"/api/receipts/{receipt['id']}/refunds"
    guess = {"user": CASHIER, "approver": MANAGER, "approver_pin": "0000"}
    for _ in range(USER_STRIKES):
        await reg.error(403, "approval_refused", "POST", path, guess)
    await reg.error(429, "pin_locked", "POST", path, {**guess, "approver_pin": PIN})
    view = await reg.ok("GET", f"/api/receipts/{receipt['id']}")
    assert view["refunds"] == []
