"""Found from the outside (third round), importing a menu a manager typed into a spreadsheet: a price
cell written ``--5`` (a minus typed twice) or ``²`` (a superscript two that an autocorrect made) was
answered ``write_failed``, "the console cannot answer now: the change failed (ValueError)", as if the
console were broken, instead of the line and column at fault: ``str.isdigit`` takes both, ``int`` then
refuses them. And a price in other scripts' digits (``٢٥٠``, Arabic-Indic 250; ``၅``, Myanmar 5) was
imported as that number without a word, though no export writes one and a person checking the file
reads something else. A price is ASCII digits: each of these is now ``422 bad_csv`` naming line 3,
column 3 (price), and nothing of the file is imported. A real ``meshpos console``."""

from __future__ import annotations

import json
from pathlib import Path

from ..mesh.kit import ConsoleProcess, make_venue


def test_a_price_that_is_not_ascii_digits_is_named_and_nothing_imported(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"
        before = console.call("GET", f"{v}/catalog")
        for price in ("--5", "\u00b2", "\u0662\u0665\u0660", "\u1045", "-\u00b9"):
            lines = ["id,name,price", "tea,Tea,250", f"cake,Cake,{price}"]
            answer = console.client.request("POST", f"{v}/menu/import", {"lines": lines})
            assert answer.status == 422, (ascii(price), answer)
            error = json.loads(answer.body)["error"]
            assert error["code"] == "bad_csv", (ascii(price), error)
            assert error["message"].startswith("line 3, column 3 (price): "), error
            assert console.call("GET", f"{v}/catalog") == before  # not even the tea
        console.call("POST", f"{v}/menu/import", {"lines": ["id,name,price", "tea,Tea,250"]})
        assert {p["id"]: p["price"] for p in console.call("GET", f"{v}/catalog")}["tea"] == 250
    finally:
        console.stop()
