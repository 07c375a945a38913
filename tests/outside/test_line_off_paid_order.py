"""Found from the outside (sixth round), as a tired cashier: a guest pays part of an order in cash, then
changes their mind about an item, and the cashier takes the item off. Discounts and splits of a partly
paid order were refused, but taking a line off (or lowering its quantity) was not, so the order came to
less than was paid. With nothing left to pay it could not be paid ("no lines" or nothing due), nor voided
("has payments: refund them"; a refund is of a receipt, and there was none): it stayed open, and the
shift could never close ("pay or void them first"). With another item left, paying it closed an overpaid
receipt whose extra cash no sale accounts for. Now taking a line off, or down, so that the order would
cost less than was paid is ``422 domain_error`` naming the order, the item and both amounts, and nothing
is written; what is still covered is taken off as before. A real ``meshpos node``.
"""

from __future__ import annotations

from pathlib import Path

from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue

ESPRESSO = 250  # the sample menu's price, tax included


def test_a_line_off_a_partly_paid_order_never_leaves_it_overpaid(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        order = node.call("POST", "/api/orders", {"user": CASHIER})["id"]
        item = {"user": CASHIER, "product_id": "espresso"}
        one = node.call("POST", f"/api/orders/{order}/lines", item)["lines"][0]["id"]
        two = node.call("POST", f"/api/orders/{order}/lines", {**item, "quantity": 2})["lines"]
        pair = next(line["id"] for line in two if line["id"] != one)
        part = {"user": CASHIER, "method": "cash", "amount": 300, "tendered": 300}
        node.call("POST", f"/api/orders/{order}/payments", part)  # 3.00 of 7.50

        # still covered: one espresso of three off leaves 5.00 for 3.00 paid
        off = {"user": CASHIER, "reason": "changed their mind"}
        node.call("DELETE", f"/api/orders/{order}/lines/{one}", off)

        # the pair down to one, or off: 2.50 or 0.00 for 3.00 paid (main: 200; then an overpaid
        # receipt, or an order that can be neither paid nor voided and a shift that cannot close)
        fewer = node.client.request(
            "PUT", f"/api/orders/{order}/lines/{pair}/quantity", {"user": CASHIER, "quantity": 1}
        )
        assert (fewer.status, fewer.error[0]) == (422, "domain_error"), fewer
        assert "is partly paid (3.00 EUR)" in fewer.error[1], fewer.error
        assert "Espresso down to 1 it would come to 2.50 EUR" in fewer.error[1], fewer.error
        gone = node.client.request("DELETE", f"/api/orders/{order}/lines/{pair}", off)
        assert (gone.status, gone.error[0]) == (422, "domain_error"), gone
        assert "Espresso taken off it would come to 0.00 EUR" in gone.error[1], gone.error
        kept = node.call("GET", f"/api/orders/{order}")
        assert (kept["status"], kept["totals"]["total"]) == ("open", 2 * ESPRESSO), kept

        # the rest is paid, the receipt is the pair's, and the shift closes
        paid = node.call(
            "POST", f"/api/orders/{order}/payments", {"user": CASHIER, "method": "card"}
        )
        assert paid["receipt"]["total"] == 2 * ESPRESSO, paid
        closed = node.call(
            "POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 300}
        )
        assert closed["close"] is not None, closed
    finally:
        assert node.stop() == 0
