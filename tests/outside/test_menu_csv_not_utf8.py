"""Found from the outside (the twenty-first session), as a manager exporting the menu from Excel on a
Windows PC: "CSV (Comma delimited)" is saved in the PC's code page (Windows-1252 in France, -1251 in
Ukraine), not UTF-8. The console's Menu tab reads a file as a browser does (UTF-8, each unreadable byte
becoming U+FFFD) and the import took the result: ``Café crème`` became ``Caf� cr�me`` on every
register's buttons and receipts, ``Борщ`` four question marks in diamonds, and the import said it had
saved the products (200). Now such a file is ``422 bad_csv`` naming the line and column and saying to
save it as "CSV UTF-8", and nothing is written; the same menu saved as UTF-8 imports with its accents.

A real ``meshpos console``; the file's lines are sent as the Menu tab sends them (console_menu.js:
``file.text()``, a UTF-8 decode with replacement, split at line ends). On main the first import answers
200 and the product is saved with U+FFFD in its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..mesh.kit import ConsoleProcess, make_venue

MENU = "id,name,category,price\nfz-creme,Café crème,Coffee,350\nfz-borsch,Борщ,Kitchen,900\n"


def as_the_menu_tab_reads(data: bytes) -> list[str]:
    """A file's lines as console_menu.js sends them: decoded as UTF-8 with U+FFFD for what is not."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def test_a_menu_saved_in_a_windows_code_page_is_refused_naming_line_and_column(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"

        def products() -> dict[str, Any]:
            return {p["id"]: p for p in console.call("GET", f"{v}/menu")["products"]}

        before = products()
        western = MENU.replace("fz-borsch,Борщ,Kitchen,900\n", "").encode("cp1252")
        cyrillic = MENU.replace("fz-creme,Café crème,Coffee,350\n", "").encode("cp1251")
        for data, line in [(western, 2), (cyrillic, 2)]:
            lines = as_the_menu_tab_reads(data)
            answer = console.client.request("POST", f"{v}/menu/import", {"lines": lines})
            code, message = answer.error
            assert (answer.status, code) == (422, "bad_csv"), (lines, answer)  # main: 200
            assert f"line {line}, column 2:" in message, message
            assert "not UTF-8" in message, message
            assert "save it as 'CSV UTF-8'" in message, message
            assert products() == before

        header = "id,name,catégorie,price\nfz-creme,Creme,Coffee,350\n".encode("cp1252")
        answer = console.client.request(
            "POST", f"{v}/menu/import", {"lines": as_the_menu_tab_reads(header)}
        )
        assert answer.status == 422, answer
        assert "line 1, column 3:" in answer.error[1], answer
        assert products() == before

        # the same menu saved as "CSV UTF-8" (a byte order mark first) imports with its letters
        lines = as_the_menu_tab_reads(b"\xef\xbb\xbf" + MENU.encode())
        console.call("POST", f"{v}/menu/import", {"lines": lines})
        got = products()
        assert (got["fz-creme"]["name"], got["fz-borsch"]["name"]) == ("Café crème", "Борщ")
    finally:
        console.stop()
