"""Open rule (the twentieth session), as a manager importing a spreadsheet: product ids that differ only
by case (``Tea`` and ``tea``) were imported, and saved through the API, as two products, sold and
reported apart, though to the manager and the spreadsheet they are one. The console now refuses the
second, naming both: in one file ``422 bad_csv`` naming its line and the other line, against the venue's
products naming the one the venue has, through the API ``422 domain_error``; nothing is written. An edit
of the product as it is written (``tea``) still goes through. A real ``meshpos console``.

On main the file was imported whole (the first assertion fails there: 200).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..mesh.kit import ConsoleProcess, make_venue


def test_a_product_id_differing_only_by_case_is_refused_naming_both(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"

        def refused(path: str, body: dict[str, Any], code: str, *words: str) -> None:
            answer = console.client.request("POST", f"{v}/{path}", body)
            got, message = answer.error
            assert (answer.status, got) == (422, code), (path, body, answer)
            for word in words:
                assert word in message, (word, message)

        def products() -> dict[str, Any]:
            return {p["id"]: p for p in console.call("GET", f"{v}/menu")["products"]}

        before = products()
        lines = ["id,name,price", "tea,Tea,250", "cake,Cake,300", "TEA,Tea large,350"]
        refused("menu/import", {"lines": lines}, "bad_csv", "line 4", "'TEA'", "'tea'", "line 2")
        assert products() == before
        console.call("POST", f"{v}/menu/import", {"lines": lines[:2]})
        refused("menu/import", {"lines": ["id,name,price", "Tea,Tea,260"]}, "bad_csv",
                "line 2", "'Tea'", "'tea'", "the venue has")  # fmt: skip
        body = {"id": "Tea", "name": "Tea", "price": 260, "category": ""}
        refused("products", body, "domain_error", "'Tea'", "'tea'")
        assert "Tea" not in products()
        assert products()["tea"]["price"] == 250
        console.call("POST", f"{v}/products", {**body, "id": "tea"})  # the same id: an edit
        assert products()["tea"]["price"] == 260
    finally:
        console.stop()
