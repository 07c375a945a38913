"""Found from the outside: a menu saved by a spreadsheet did not import through the console's API. A
"CSV UTF-8" file starts with a byte order mark (the Menu tab strips it; the API said ``unknown column
'\\ufeffid'``), and a spreadsheet in a language whose decimal mark is a comma (French, German, ...)
separates the columns with ``;`` (``unknown column 'id;name;category;price'``). Both now import as the
same menu written with commas. A real ``meshpos console``."""

from __future__ import annotations

from pathlib import Path

from ..mesh.kit import ConsoleProcess, make_venue


def _menu_file(separator: str, mark: str, price: int) -> list[str]:
    """A spreadsheet's menu: ``mark`` before the header, ``separator`` between columns."""
    s = separator
    return [
        f"{mark}id{s}name{s}category{s}price",
        f'tea{s}"Tea{s} green"{s}{s}{price}',
        f"cake{s}Cake, lemon{s}{s}{price + 1}" if s == ";" else f'cake,"Cake, lemon",,{price + 1}',
    ]


def test_a_spreadsheets_menu_imports_as_written_with_commas(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"
        for price, separator, mark in (
            (200, ",", ""),
            (300, ",", "\ufeff"),
            (400, ";", ""),
            (500, ";", "\ufeff"),
        ):
            lines = _menu_file(separator, mark, price)
            console.call("POST", f"{v}/menu/import", {"lines": lines})
            products = {p["id"]: p for p in console.call("GET", f"{v}/catalog")}
            got = {k: (products[k]["name"], products[k]["price"]) for k in ("tea", "cake")}
            assert got == {
                "tea": (f"Tea{separator} green", price),
                "cake": ("Cake, lemon", price + 1),
            }, (separator, ascii(mark))
    finally:
        console.stop()
