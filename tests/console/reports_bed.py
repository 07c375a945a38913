"""A venue with a real register and a real console for the reports' tests: ``meshpos console`` and a
``meshpos node`` register (the venue's relay) on loopback, a real SQLite file, and a day of sales made
through the register's API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER, MANAGER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register

DEADLINE_S = 30.0  # generous: a loaded machine; nothing here measures speed


@contextlib.contextmanager
def register_and_console(
    root: Path, *, open_shift: bool = True
) -> Iterator[tuple[ConsoleProcess, NodeProcess, str]]:
    """The console, register R1 linked to it (with the sample cashier's shift open unless
    ``open_shift`` is false: a test whose cashier opens one on the register page), and the venue's id;
    both processes are killed at the end."""
    authority = make_venue(root)
    (root / "console").mkdir()
    console = ConsoleProcess(root / "console", [authority.directory]).start()
    register: NodeProcess | None = None
    try:
        register = start_console_register(authority, root, console, last_octet=13)
        if open_shift:
            register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        yield console, register, authority.venue_id
    finally:
        if register is not None:
            register.kill()
        console.stop()


def sell_a_day(register: NodeProcess) -> list[dict[str, Any]]:
    """Four sales: a latte with modifiers, a discounted croissant with an order discount opened at
    table 4 and moved to table 7, fries in cash, and an order voided; a refund of the fries. The
    receipts as the register holds them."""
    order = register.call("POST", "/api/orders", {"user": CASHIER})
    register.call("POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "latte", "modifiers": ["large", "oat"]})  # fmt: skip
    latte = register.call("POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"})  # fmt: skip
    order = register.call("POST", "/api/orders", {"user": MANAGER, "table": "4"})
    register.call("POST", f"/api/orders/{order['id']}/lines", {"user": MANAGER, "product_id": "croissant", "quantity": 2, "discount_id": "staff"})  # fmt: skip
    register.call("POST", f"/api/orders/{order['id']}/lines", {"user": MANAGER, "product_id": "espresso"})  # fmt: skip
    register.call("POST", f"/api/orders/{order['id']}/discounts", {"user": MANAGER, "discount_id": "happy"})  # fmt: skip
    register.call("PUT", f"/api/orders/{order['id']}/place", {"user": MANAGER, "table": "7"})
    table = register.call("POST", f"/api/orders/{order['id']}/payments", {"user": MANAGER, "method": "card"})  # fmt: skip
    fries = register.sell(CASHIER, ["fries", "fries"], method="cash")
    register.call("POST", f"/api/receipts/{fries['id']}/refunds", {"user": MANAGER, "reason": "cold"})  # fmt: skip
    gone = register.call("POST", "/api/orders", {"user": CASHIER})
    register.call("POST", f"/api/orders/{gone['id']}/lines", {"user": CASHIER, "product_id": "burger"})  # fmt: skip
    register.call("POST", f"/api/orders/{gone['id']}/void", {"user": MANAGER, "reason": "left"})
    return [latte["receipt"], table["receipt"], fries]


def catalog_at_console(console: ConsoleProcess, venue_id: str) -> None:
    """Wait until the console holds the register's catalog: the bed seeds it on the register (as if the
    console had sent it before), so an edit the console makes before it arrives is a concurrent write
    of the same entry, which the register's may win (a settings edit lost its time zone that way)."""
    venue = f"/api/venues/{venue_id}"
    wait_for(
        lambda: any(u["id"] == MANAGER for u in console.call("GET", f"{venue}/menu")["users"]),
        DEADLINE_S,
        "the catalog at the console",
    )


def give_manager_a_pin(
    console: ConsoleProcess, register: NodeProcess, venue_id: str, pin: str
) -> None:
    """Set the sample manager's PIN at the console (once it holds the register's catalog) and wait
    until the register has it: the rename that follows the PIN tells when it arrived, so no PIN is
    tried (a wrong one counts as a guess). The manager is then called "Max P."."""
    venue = f"/api/venues/{venue_id}"
    catalog_at_console(console, venue_id)
    console.call("POST", f"{venue}/users/{MANAGER}/pin", {"pin": pin})
    console.call("POST", f"{venue}/users", {"id": MANAGER, "name": "Max P.", "role": "manager"})
    wait_for(
        lambda: any(u["name"] == "Max P." for u in register.call("GET", "/api/catalog")["users"]),
        DEADLINE_S,
        "the console's catalog (the manager's PIN) reached the register",
    )
