"""What the console's reports show of an order beyond its amounts, as JSON text for the ``orders`` table's
``line_detail`` and ``order_discounts`` columns: a receipt keeps each line's name and amounts only, while a
manager reading a receipt's detail, or a void, wants the modifiers and discounts too
(docs/architecture.md (Relay and console))."""

from __future__ import annotations

import json

from meshpos.model.ledger_types import Order


def line_detail(order: Order) -> str:
    """An order's lines as the console's reports show them: modifiers, discount, who and when."""
    return json.dumps(
        [
            {
                "line_id": line.id,
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "modifiers": [
                    {"id": m.id, "name": m.name, "price_delta": m.price_delta}
                    for m in line.modifiers
                ],
                "discount_id": line.discount_id,
                "discount_kind": line.discount_kind,
                "discount_value": line.discount_value,
                "user": line.user,
                "at_ms": line.at_ms,
            }
            for line in order.lines
        ]
    )


def order_discounts(order: Order) -> str:
    return json.dumps(
        [{"discount_id": d, "kind": kind, "value": value} for d, kind, value in order.discounts]
    )
