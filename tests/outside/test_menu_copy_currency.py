"""A chain's menu copied to a venue that sells in another currency (tenth outside round, the
twenty-third session).

The chain's owner opens a shop in Tokyo and, on the console, copies the Paris café's menu to it
(``POST .../menu/copy``) to save typing. Prices are whole minor units: the Paris espresso's 250 is
EUR 2.50, and the copy wrote 250 into a venue whose currency is JPY, where 250 is ¥250 (a KWD venue,
three decimals, would have read 0.250 KWD): every price silently became a number of another currency,
and registers sold at it. Now a copy between venues of different currencies is refused
(``422 domain_error``) naming both, with nothing written; a copy between venues of one currency goes
through as before. A real ``meshpos console`` serving three venues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpos.trust import init_venue

from ..mesh.kit import ConsoleProcess


def test_a_menu_is_not_copied_into_another_currency(tmp_path: Path) -> None:
    paris = init_venue(tmp_path / "paris", "Café Paris")
    tokyo = init_venue(tmp_path / "tokyo", "Café Tokyo")
    lyon = init_venue(tmp_path / "lyon", "Café Lyon")
    (tmp_path / "console").mkdir()
    dirs = [paris.directory, tokyo.directory, lyon.directory]
    console = ConsoleProcess(tmp_path / "console", dirs).start()
    try:

        def products(venue: str) -> dict[str, Any]:
            return {
                p["id"]: p["price"]
                for p in console.call("GET", f"/api/venues/{venue}/menu")["products"]
            }

        def settings(venue: str) -> dict[str, Any]:
            found: dict[str, Any] = console.call("GET", f"/api/venues/{venue}/settings")
            return found

        at_paris = f"/api/venues/{paris.venue_id}"
        console.call(
            "POST", f"{at_paris}/menu/import", {"lines": ["id,name,price", "esp,Espresso,250"]}
        )
        assert settings(paris.venue_id)["currency"] == "EUR"
        at_tokyo = f"/api/venues/{tokyo.venue_id}"
        console.call(
            "POST", f"{at_tokyo}/settings", {**settings(tokyo.venue_id), "currency": "JPY"}
        )
        console.call("POST", f"{at_tokyo}/menu/import", {"lines": ["id,name,price", "tea,Tea,400"]})

        answer = console.client.request(
            "POST", f"{at_tokyo}/menu/copy", {"from_venue": paris.venue_id}
        )
        assert (answer.status, answer.error[0]) == (422, "domain_error"), answer  # main: 200
        message = answer.error[1]
        for word in ("EUR", "JPY", paris.venue_id):
            assert word in message, (word, message)
        assert products(tokyo.venue_id) == {"tea": 400}  # main: esp 250, as yen

        console.call(
            "POST", f"/api/venues/{lyon.venue_id}/menu/copy", {"from_venue": paris.venue_id}
        )
        assert products(lyon.venue_id) == {"esp": 250}  # one currency: copied as before
    finally:
        console.stop()
