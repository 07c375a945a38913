"""Open rule (the twentieth session), as a manager typing a menu: the register refuses a line whose
modifiers take off more than its product costs (``422 domain_error``, tests/outside/
test_negative_line_price.py), but the console saved such a menu without a word, through its API and its
CSV import, so the refusal met a cashier at the till. The console now refuses it when saved, with the
register's rule (``model/line_price.py``), naming the product and the modifier, and keeps nothing of it:
a product (its groups' cheapest choice), a new price under a modifier's cut, a modifier group whose
modifier now takes off more, a CSV line (naming its line). A price brought to exactly zero is still
saved. A real ``meshpos console``.

On main every one of these saves answered 200 (the first assertion fails there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..mesh.kit import ConsoleProcess, make_venue


def _group(group_id: str, cut: int, min_select: int = 0) -> dict[str, Any]:
    return {
        "id": group_id,
        "name": group_id.title(),
        "min_select": min_select,
        "max_select": 2,
        "modifiers": [
            {"id": f"{group_id}-cut", "name": "No cheese", "price_delta": -cut},
            {"id": f"{group_id}-add", "name": "Extra", "price_delta": 50},
        ],
    }


def _product(product_id: str, price: int, groups: list[str]) -> dict[str, Any]:
    return {"id": product_id, "name": product_id.title(), "price": price, "category": "",
            "modifier_groups": groups}  # fmt: skip


def test_the_console_refuses_a_menu_the_register_would_refuse(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"

        def refused(
            path: str, body: dict[str, Any], *words: str, code: str = "domain_error"
        ) -> None:
            answer = console.client.request("POST", f"{v}/{path}", body)
            got, message = answer.error
            assert (answer.status, got) == (422, code), (path, body, answer)
            for word in words:
                assert word in message, (word, message)

        def products() -> dict[str, Any]:
            return {p["id"]: p for p in console.call("GET", f"{v}/menu")["products"]}

        console.call("POST", f"{v}/modifier_groups", _group("typo", 99_900))
        refused("products", _product("roll", 100, ["typo"]), "'roll'", "'typo-cut'", "-998.00")
        assert "roll" not in products()
        # CSV: named by its line; nothing of the file is kept
        lines = ["id,name,price,modifier_groups", "tea,Tea,250,", "roll,Roll,100,typo"]
        refused("menu/import", {"lines": lines}, "line 3", "'roll'", "'typo-cut'", code="bad_csv")
        assert {"tea", "roll"}.isdisjoint(products())
        # exactly zero is sold, so it is saved; below it a new price, or a group's new cut, is refused
        console.call("POST", f"{v}/modifier_groups", _group("plain", 100))
        console.call("POST", f"{v}/products", _product("bun", 100, ["plain"]))
        refused("prices", {"product_id": "bun", "price": 99}, "'bun'", "'plain-cut'")
        refused("modifier_groups", _group("plain", 101), "'bun'", "'plain-cut'")
        assert products()["bun"]["price"] == 100
        menu = console.call("GET", f"{v}/menu")["modifier_groups"]
        [plain] = [g for g in menu if g["id"] == "plain"]
        assert plain["modifiers"][0]["price_delta"] == -100
        # a group chosen from on every sale that takes nothing off: saved
        console.call("POST", f"{v}/modifier_groups", _group("must", 0, min_select=1))
        console.call("POST", f"{v}/products", _product("soup", 10, ["must"]))
    finally:
        console.stop()
