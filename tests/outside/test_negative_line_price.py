"""Found from the outside (fifth round), as an API client or a tired manager: a modifier may lower a
price ("no cheese", -0.50), and the console refuses a negative product price, but nothing stopped a
modifier from taking more off than the product costs. A product at 1.00 with a -999.00 modifier was
sold as a line of -998.00: its receipt's total was negative, "paid" with 0, so a cashier with nothing
but the ``sell`` right issued a receipt that took 998.00 off the shift's sales, the sales report and
the tax, with no refund, approval or audit line. A line's price (the product's plus its modifiers')
is now never below zero: such a line is ``422 domain_error`` naming the product and its price, and
nothing is written; a modifier that brings the price to exactly zero is still sold. A real ``meshpos
node``.
"""

from __future__ import annotations

from pathlib import Path

from meshpos.model import Replica, Venue
from meshpos.model.catalog_types import Modifier, ModifierGroup, Product
from meshpos.model.documents import CATALOG
from meshpos.model.sample import CASHIER, sample_catalog

from ..mesh.kit import NodeProcess, make_device, make_venue

TYPO = Modifier("typo", "No cheese", -99_900)


def _catalog() -> bytes:
    """The sample menu and a 1.00 roll whose modifiers take off 1.00 ("plain") or 999.00 (a typo)."""
    replica = Replica()
    catalog = Venue(replica, device="console", role="console").catalog
    sample_catalog(catalog, pin_hash="x")
    plain = Modifier("plain", "Plain", -100)
    catalog.put_modifier_group(ModifierGroup("extras", "Extras", (plain,), 0, 1))
    catalog.put_product(Product("roll", "Roll", 100, "Bakery", "vat10", ("extras",)))
    # the console now refuses the typo (test_modifier_below_zero_console.py), but a catalog an older
    # console saved may hold it: written here past the console's check, as that console wrote it
    offers = [{"id": m.id, "name": m.name, "price_delta": m.price_delta} for m in (plain, TYPO)]
    record = {"name": "Extras", "min_select": 0, "max_select": 1, "modifiers": offers}
    catalog._put("modifier_groups", "extras", record)
    return replica.doc(CATALOG).get_update()


def test_a_line_below_zero_is_refused_and_nothing_written(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=_catalog())
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        order = node.call("POST", "/api/orders", {"user": CASHIER})["id"]
        line = {"user": CASHIER, "product_id": "roll", "modifiers": ["typo"]}
        answer = node.client.request("POST", f"/api/orders/{order}/lines", line)
        code, message = answer.error
        assert (answer.status, code) == (422, "domain_error"), answer
        assert "'Roll'" in message, message
        assert "-998.00 EUR" in message, message
        assert node.call("GET", f"/api/orders/{order}")["lines"] == []
        line["modifiers"] = ["plain"]  # free: sold
        node.call("POST", f"/api/orders/{order}/lines", line)
        paid = node.call(
            "POST", f"/api/orders/{order}/payments", {"user": CASHIER, "method": "card"}
        )
        assert paid["receipt"]["total"] == 0, paid
    finally:
        assert node.stop() == 0
