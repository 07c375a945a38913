"""A 500-item CSV menu imported at a real ``meshpos console`` (SQLite and PostgreSQL) reaches a real
register node through its relay link and sells there; a malformed CSV is refused naming its line and
column, and neither the console nor the register gets any of it; a cashier created at the console with
a PIN logs in on the register with it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError

from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register
from .pgserver import PgServer

ITEMS = 500
STARTUP_S = 30.0  # the register uploads its catalog to the console
DEADLINE_S = 20.0  # the imported menu on the register (one update of 500 products)


@pytest.fixture(params=["sqlite", "postgres"])
def console_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.db'}"
        return
    server: PgServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


def menu_lines(count: int) -> list[str]:
    """A spreadsheet's menu: ``count`` products in 10 categories, some with the sample's milk."""
    return ["id,name,category,price,tax,kitchen,active,modifier_groups"] + [
        f"item-{i:03},Item {i},Group {i % 10},{100 + i},vat10,{'bar' if i % 3 else ''},yes,"
        + ("milk" if i % 4 == 0 else "")
        for i in range(count)
    ]


@pytest.mark.slow
def test_a_csv_menu_reaches_a_register_and_a_malformed_one_changes_nothing(
    tmp_path: Path, console_db: str
) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory], db=console_db).start()
    register: NodeProcess | None = None
    try:
        register = start_console_register(authority, tmp_path, console, last_octet=12)
        venue = f"/api/venues/{authority.venue_id}"

        def register_products() -> dict[str, dict[str, object]]:
            assert register is not None
            return {p["id"]: p for p in register.call("GET", "/api/catalog")["products"]}

        sample = set(register_products())
        wait_for(
            lambda: {p["id"] for p in console.call("GET", f"{venue}/catalog")} == sample,
            STARTUP_S,
            "the register's catalog at the console",
        )

        # malformed: refused with line and column; nothing reaches the console's menu or the register
        bad = menu_lines(ITEMS)
        bad[321] = "item-320,Item 320,Group 0,12.50,vat10,,yes,"
        with pytest.raises(ApiError) as refused:
            console.call("POST", f"{venue}/menu/import", {"lines": bad})
        assert (refused.value.status, refused.value.error_code) == (422, "bad_csv")
        assert str(refused.value).count("line 322, column 4 (price)") == 1, str(refused.value)
        assert {p["id"] for p in console.call("GET", f"{venue}/catalog")} == sample
        assert [e["action"] for e in console.call("GET", f"{venue}/audit")] == []

        started = time.monotonic()
        done = console.call("POST", f"{venue}/menu/import", {"lines": menu_lines(ITEMS)})
        imported = time.monotonic() - started
        assert done == {"products": ITEMS, "categories_created": 10}
        wait_for(
            lambda: len(register_products()) == len(sample) + ITEMS,
            DEADLINE_S,
            "the imported menu on the register",
            on=[register.events],
        )
        print(
            f"\n{ITEMS}-item CSV import: {imported:.2f} s at the console, "
            f"{time.monotonic() - started:.2f} s to the register"
        )
        products = register_products()
        assert set(products) > sample  # the sample was kept
        item = products["item-123"]
        assert (item["name"], item["price"], item["category"]) == ("Item 123", 223, "Group 3")
        assert set(register.call("GET", "/api/catalog")["categories"]) >= {
            f"Group {i}" for i in range(10)
        }
        # the malformed file reached nothing: the stray price of line 322 is not there
        assert products["item-320"]["price"] == 420

        # a cashier made at the console logs in on the register with the PIN set there
        console.call("POST", f"{venue}/roles", {"name": "seller", "rights": ["sell", "open_shift"]})
        console.call(
            "POST",
            f"{venue}/users",
            {"id": "u-lea", "name": "Léa", "role": "seller", "pin": "4321"},
        )
        wait_for(
            lambda: any(u["id"] == "u-lea" for u in register.call("GET", "/api/catalog")["users"]),
            DEADLINE_S,
            "the new cashier on the register",
            on=[register.events],
        )
        login = register.call("POST", "/api/login", {"user": "u-lea", "pin": "4321"})
        assert login["user"]["name"] == "Léa"
        with pytest.raises(ApiError) as wrong:
            register.call("POST", "/api/login", {"user": "u-lea", "pin": "1234"})
        assert wrong.value.status == 403
        register.call("POST", "/api/shifts", {"user": "u-lea", "opening_cash": 0})
        receipt = register.sell("u-lea", ["item-123"])
        assert receipt["total"] == 223
        actions = [e["action"] for e in console.call("GET", f"{venue}/audit")]
        assert actions == ["user.put", "role.put", "menu.import"]
    finally:
        if register is not None:
            register.kill()
        console.stop()
