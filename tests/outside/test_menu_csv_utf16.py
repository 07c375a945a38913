"""A menu saved as UTF-16 (ninth outside round, the twenty-second session).

Excel's "Unicode Text", LibreOffice's "Unicode (UTF-16)" and some till exports save a menu as UTF-16,
two bytes a letter with a byte order mark. The console's Menu tab reads a file as a browser does
(UTF-8, each unreadable byte becoming U+FFFD): every other character of such a file is U+0000, and the
import answered "the line has a control character (U+0000) at position 1", which tells a manager
nothing they can act on. Now the refusal (400 ``bad_field``: every text the API takes is checked before
a handler runs, ``model.limits.text_problem``) says a NUL there means text saved as UTF-16 and to save
it as "CSV UTF-8"; nothing is written, and the same menu saved as CSV UTF-8 imports.

A real ``meshpos console``; the lines are sent as the Menu tab sends them
(tests/outside/test_menu_csv_not_utf8.py's ``as_the_menu_tab_reads``). On main the message names the
control character and not the encoding. An API client sending UTF-16 text in any field meets the
same words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..mesh.kit import ConsoleProcess, make_venue
from .test_menu_csv_not_utf8 import MENU, as_the_menu_tab_reads


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le"])
def test_a_utf16_menu_is_refused_saying_to_save_it_as_csv_utf8(
    tmp_path: Path, encoding: str
) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        v = f"/api/venues/{authority.venue_id}"

        def products() -> dict[str, Any]:
            return {p["id"]: p for p in console.call("GET", f"{v}/menu")["products"]}

        before = products()
        for text in (MENU, MENU.replace(",", "\t")):  # "Unicode Text" separates with tabs
            lines = as_the_menu_tab_reads(text.encode(encoding))
            answer = console.client.request("POST", f"{v}/menu/import", {"lines": lines})
            code, message = answer.error
            assert (answer.status, code) == (400, "bad_field"), (lines, answer)
            assert message.startswith("field 'lines' [0] has a control character"), message
            assert "UTF-16" in message, message  # main: "has a control character (U+0000)"
            assert "'CSV UTF-8'" in message, message
            assert products() == before
        console.call("POST", f"{v}/menu/import", {"lines": as_the_menu_tab_reads(MENU.encode())})
        assert products()["fz-creme"]["name"] == "Café crème"
    finally:
        console.stop()
