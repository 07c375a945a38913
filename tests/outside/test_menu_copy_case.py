"""Open rule (the twenty-first session), as a chain's manager copying one café's menu to another: the
console refused a product id differing only by case from one the venue has (``Tea`` beside ``tea``) in
the API and the CSV import, but a menu copied from another venue of the chain wrote ``Tea`` beside the
target's ``tea``: two products, sold and reported apart. Now the copy is refused naming both and the
venue each is in (``422 domain_error``), nothing written; a copy with no twins goes through. A real
``meshpos console`` serving two venues.

On main the copy answered 200 and the target had both ``Tea`` and ``tea``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpos.trust import init_venue

from ..mesh.kit import ConsoleProcess


def test_a_copied_menu_with_a_case_twin_of_the_venues_product_is_refused(tmp_path: Path) -> None:
    source = init_venue(tmp_path / "source", "Café 1")
    target = init_venue(tmp_path / "target", "Café 2")
    third = init_venue(tmp_path / "third", "Café 3")
    (tmp_path / "console").mkdir()
    dirs = [source.directory, target.directory, third.directory]
    console = ConsoleProcess(tmp_path / "console", dirs).start()
    try:
        into = f"/api/venues/{target.venue_id}"

        def products(venue: str) -> dict[str, Any]:
            return {
                p["id"]: p for p in console.call("GET", f"/api/venues/{venue}/menu")["products"]
            }

        console.call("POST", f"{into}/menu/import", {"lines": ["id,name,price", "tea,Tea,250"]})
        console.call(
            "POST",
            f"/api/venues/{source.venue_id}/menu/import",
            {"lines": ["id,name,price", "Tea,Tea,260", "cake,Cake,300"]},
        )
        before = products(target.venue_id)
        answer = console.client.request(
            "POST", f"{into}/menu/copy", {"from_venue": source.venue_id}
        )
        code, message = answer.error
        assert (answer.status, code) == (422, "domain_error"), answer
        for word in ("'Tea'", "'tea'", source.venue_id):
            assert word in message, (word, message)
        assert products(target.venue_id) == before  # nothing written: not even 'cake'

        # the other way round too; and a venue without twins takes the copy as before
        answer = console.client.request(
            "POST", f"/api/venues/{source.venue_id}/menu/copy", {"from_venue": target.venue_id}
        )
        assert (answer.status, answer.error[0]) == (422, "domain_error"), answer
        console.call(
            "POST", f"/api/venues/{third.venue_id}/menu/copy", {"from_venue": source.venue_id}
        )
        assert sorted(products(third.venue_id)) == ["Tea", "cake"]
    finally:
        console.stop()
