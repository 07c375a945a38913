"""Found from the outside: the console's menu export (``GET .../menu.csv``, the Menu tab's download) wrote a
product named ``=HYPERLINK("http://...","Espresso")`` as it was, so the manager's spreadsheet ran it as a
formula (CSV injection; the reports' CSV already kept such cells text). The export keeps every such cell
text with a leading ``'``, and the import reads its own export back unchanged (a name that begins with
``'`` and then a formula character too)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..mesh.kit import ConsoleProcess, make_venue

FORMULA_START = (
    "=",
    "+",
    "-",
    "@",
)  # what a spreadsheet runs as a formula (tab and CR: no name holds them)
NAMES = {
    "link": '=HYPERLINK("http://evil.example/","Espresso")',
    "plus": "+1 shot",
    "minus": "-10% latte",
    "at": "@SUM(A1:A9)",
    "quoted": "'=already quoted",
    "plain": "Café crème",
    "apostrophe": "'Twas a tea",
}


def test_the_menu_export_keeps_formulas_text_and_imports_back_unchanged(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        venue = f"/api/venues/{authority.venue_id}"
        for pid, name in NAMES.items():
            console.call("POST", f"{venue}/products", {"id": pid, "name": name, "price": 100})
        answer = console.client.request("GET", f"{venue}/menu.csv")
        assert answer.status == 200, answer.body
        rows = list(csv.DictReader(answer.body.splitlines()))
        cells = {row["id"]: row["name"] for row in rows if row["id"] in NAMES}
        assert set(cells) == set(NAMES)
        for pid, cell in cells.items():
            assert not cell.startswith(FORMULA_START), (pid, cell)  # a spreadsheet shows it as text
        assert cells["plain"] == NAMES["plain"]
        assert cells["apostrophe"] == NAMES["apostrophe"]

        console.call("POST", f"{venue}/menu/import", {"lines": answer.body.splitlines()})
        products = {p["id"]: p["name"] for p in console.call("GET", f"{venue}/catalog")}
        assert {pid: products[pid] for pid in NAMES} == NAMES
    finally:
        console.stop()
