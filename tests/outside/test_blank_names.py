"""Found from the outside (fifth round), as a manager in a hurry and an app filling the console's API: a
product, user, category, tax, discount or modifier could be named ``""``, spaces, a zero-width space
(U+200B) or a lone combining accent (U+0301). Each was taken (200) and reached the registers: a blank
button that sells something, a receipt line that names nothing, a user no cashier can pick on the
sign-in screen, an empty category tab. A catalog name now has something a person can read (a letter,
digit, punctuation or symbol: an emoji, Hebrew or a combining accent on a letter are names); one
without is 422 naming the entry, and nothing is written, through the JSON API and the menu's CSV
import alike. A real ``meshpos console``."""

from __future__ import annotations

import json
from pathlib import Path

from ..mesh.kit import ConsoleProcess, make_venue

BLANK = ("", "   ", "\u200b", "\u0301", "\u3000\u200e")
READABLE = ("Caf\u00e9\u0301 \U0001f600", "\u05e9\u05dc\u05d5\u05dd", "\U0001f32e", "-", "7")


def test_a_name_nobody_can_read_is_refused_and_nothing_written(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"
        console.call("POST", f"{v}/roles", {"name": "cashier", "rights": ["sell"]})
        before = console.call("GET", f"{v}/catalog")
        for name in BLANK:
            for path, body in (
                ("products", {"id": "tea", "name": name, "price": 250}),
                ("users", {"id": "u-x", "name": name, "role": "cashier", "pin": "2468"}),
                ("categories", {"id": "hot", "name": name}),
                ("taxes", {"id": "vat", "name": name, "rate_bp": 1000}),
                (
                    "discounts",
                    {"id": "d", "name": name, "kind": "percent", "scope": "line", "value": 1},
                ),
                (
                    "modifier_groups",
                    {"id": "g", "name": "G", "modifiers": [{"id": "m", "name": name}]},
                ),
            ):
                answer = console.client.request("POST", f"{v}/{path}", body)
                assert answer.status == 422, (path, ascii(name), answer)
                assert "give it a name cashiers can read" in answer.body, (path, answer)
            lines = ["id,name,price", "cake,Cake,300", f"tea,{name},250"]
            answer = console.client.request("POST", f"{v}/menu/import", {"lines": lines})
            assert answer.status == 422, (ascii(name), answer)
            error = json.loads(answer.body)["error"]
            assert error["code"] == "bad_csv", error
            assert error["message"].startswith("line 3, column 2 (name): "), error
        assert console.call("GET", f"{v}/catalog") == before  # not even the cake
        for i, name in enumerate(READABLE):
            console.call("POST", f"{v}/products", {"id": f"p{i}", "name": name, "price": 250})
        names = {p["id"]: p["name"] for p in console.call("GET", f"{v}/catalog")}
        assert [names[f"p{i}"] for i in range(len(READABLE))] == list(READABLE)
    finally:
        console.stop()
