"""Open rule (the twentieth session): an order's discounts apply in the order the cashier gave them.

Before, they applied in the order of their records' random keys: "Happy hour 10 %" and two 5.00 vouchers
on a 12.50 burger took 10.25, 10.75 or 11.25 off by chance, so the same taps could give two guests two
totals. Now each applies to what the ones before it left (``model/discount_turns.py``): 10 % first takes
1.25 then 10.00 (11.25 off); the vouchers first take 10.00 then 10 % of 2.50 (10.25 off); a voucher,
the 10 %, a voucher: 5.00 + 0.75 + 5.00 (10.75 off). Each order is asked again after the node restarts,
so the order given is what is stored, not what one process remembered. A real ``meshpos node``.

On main each of the three sequences, rung four times, came out by key: at least one of the twelve
orders differed (a 1 in 3 chance each of matching for the first two sequences).
"""

from __future__ import annotations

from pathlib import Path

from meshpos.model.sample import MANAGER

from ..mesh.kit import NodeProcess, make_device, make_venue

SEQUENCES = {  # discounts in the order given -> discount off a 12.50 burger
    ("happy", "voucher5", "voucher5"): 1125,
    ("voucher5", "voucher5", "happy"): 1025,
    ("voucher5", "happy", "voucher5"): 1075,
}


def test_order_discounts_apply_in_the_order_given(tmp_path: Path) -> None:
    device = make_device(make_venue(tmp_path), tmp_path, "R1")
    node = NodeProcess(device, tmp_path / "R1.log", ["--no-discovery"]).start()
    rung: dict[str, int] = {}
    try:
        node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 0})
        for sequence, off in SEQUENCES.items():
            for _ in range(4):
                order = node.call("POST", "/api/orders", {"user": MANAGER})["id"]
                node.call(
                    "POST", f"/api/orders/{order}/lines", {"user": MANAGER, "product_id": "burger"}
                )
                for discount in sequence:
                    answer = node.call(
                        "POST",
                        f"/api/orders/{order}/discounts",
                        {"user": MANAGER, "discount_id": discount},
                    )
                got = answer["totals"]["discount"]
                assert got == off, (sequence, answer["totals"], answer["discounts"])
                assert [d[0] for d in answer["discounts"]] == list(sequence), answer["discounts"]
                rung[order] = off
    finally:
        assert node.stop() == 0
    node = NodeProcess(device, tmp_path / "R1-again.log", ["--no-discovery"]).start()
    try:
        for order, off in rung.items():
            totals = node.call("GET", f"/api/orders/{order}")["totals"]
            assert totals["discount"] == off, (order, totals)
            assert totals["total"] == 1250 - off, (order, totals)
    finally:
        assert node.stop() == 0
