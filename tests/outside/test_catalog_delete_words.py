"""Found from the outside: deleting a tax or a category the menu still uses at the console said "taxe 'vat'
is still used by product 'latte'" and "categorie 'food'" (and "unknown taxe 'x'"): the entity's name was
its table's with the last ``s`` cut off. Now each kind says its own word. A real ``meshpos console``."""

from __future__ import annotations

from pathlib import Path

from meshpos.localapi import LocalApi

from ..mesh.kit import ConsoleProcess, make_venue


def _refusal(api: LocalApi, path: str) -> str:
    answer = api.request("DELETE", path)
    assert 400 <= answer.status < 500, (path, answer.status, answer.body)
    return answer.error[1]


def test_a_refused_delete_names_the_kind_in_english(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"
        console.call("POST", f"{v}/taxes", {"id": "vat", "name": "VAT", "rate_bp": 1000})
        console.call("POST", f"{v}/categories", {"id": "food", "name": "Food", "position": 1})
        product = {
            "id": "latte",
            "name": "Latte",
            "price": 400,
            "tax_id": "vat",
            "category": "food",
        }
        console.call("POST", f"{v}/products", product)
        api = console.client
        assert _refusal(api, f"{v}/taxes/vat") == "tax 'vat' is still used by product 'latte'"
        assert _refusal(api, f"{v}/categories/food").startswith("category 'food' is still used")
        assert _refusal(api, f"{v}/taxes/nope") == "unknown tax 'nope'"
        assert _refusal(api, f"{v}/categories/nope") == "unknown category 'nope'"
        assert _refusal(api, f"{v}/modifier_groups/nope") == "unknown modifier group 'nope'"
    finally:
        console.stop()
