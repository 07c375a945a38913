"""Values a register could not read back never leave the console (issue 13, defect 6).

A price of 2**62 once stored by the console made every register answer 500 ``corrupt_record`` on the
catalog, so nothing could be sold; a price of 10**30 or a product name with a lone surrogate made pycrdt
panic in the console's request. With real processes (``meshpos console`` and a register that is the venue's
relay): each is refused with 400 naming the field, the console's catalog is unchanged, and the register
still takes a valid price edit from the console and sells at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.limits import MAX_AMOUNT
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register

PRODUCT = "burger"


def refusal(console: ConsoleProcess, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The status and error of a request the console must refuse (raw bytes: JSON escapes as sent)."""
    answer = console.client.request("POST", path, raw=body)
    assert not answer.ok, f"accepted with {answer.status}: {answer.body[:200]!r}"
    return answer.status, answer.json()["error"]


@pytest.mark.slow
def test_unreadable_values_are_refused_by_the_console_and_registers_keep_selling(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    register: NodeProcess | None = None
    try:
        register = start_console_register(authority, tmp_path, console, last_octet=11)
        venue = f"/api/venues/{authority.venue_id}"

        def console_price() -> int | None:
            products = console.call("GET", f"{venue}/catalog")
            return next((p["price"] for p in products if p["id"] == PRODUCT), None)

        wait_for(lambda: console_price() is not None, 20, "the venue's catalog at the console")
        catalog = console.call("GET", f"{venue}/catalog")
        price = console_price()
        assert price is not None

        attempts = [
            ("prices", f'{{"product_id": "{PRODUCT}", "price": {2**62}}}', "price"),
            ("prices", f'{{"product_id": "{PRODUCT}", "price": {10**30}}}', "price"),
            ("prices", f'{{"product_id": "{PRODUCT}", "price": {MAX_AMOUNT + 1}}}', "price"),
            ("prices", f'{{"product_id": "{PRODUCT}", "price": ["1"]}}', "price"),
            ("products", f'{{"id": "{PRODUCT}", "name": "Bur\\ud800ger", "price": 100}}', "name"),
            ("products", f'{{"id": "{PRODUCT}", "name": "Burger", "price": {2**62}}}', "price"),
            ("stoplist", f'{{"product_id": "{PRODUCT}", "stopped": true, "user": "\\udc00"}}', "user"),
        ]  # fmt: skip
        for route, body, field in attempts:
            status, error = refusal(console, f"{venue}/{route}", body.encode())
            print(f"{route} {body[:60]} -> {status} {error['code']}: {error['message'][:90]}")
            assert status == 400, (body, error)
            assert repr(field) in error["message"], (body, error)
        assert console.call("GET", f"{venue}/catalog") == catalog  # nothing was stored

        # the console and the register still work: a valid edit arrives, and sells at the new price
        new_price = price + 10
        console.call("POST", f"{venue}/prices", {"product_id": PRODUCT, "price": new_price})

        def register_price() -> int | None:
            products = register.call("GET", "/api/catalog")["products"] if register else []
            return next((p["price"] for p in products if p["id"] == PRODUCT), None)

        wait_for(
            lambda: register_price() == new_price,
            20,
            "the new price on the register",
            on=[register.events],
        )
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        receipt = register.sell(CASHIER, [PRODUCT])
        assert receipt["total"] == new_price, receipt  # vat10 is included in the price
        wait_for(
            lambda: [r["id"] for r in console.call("GET", f"{venue}/receipts")] == [receipt["id"]],
            20,
            "the receipt at the console",
        )
    finally:
        if register is not None:
            register.kill()
        console.stop()
