"""What the console's reports show of an order beyond its amounts, as JSON text for the ``orders`` table's
``line_detail`` and ``order_discounts`` columns: a receipt keeps each line's name and amounts only, while a
manager reading a receipt's detail, or a void, wants the modifiers and discounts too
(docs/architecture.md (Relay and console))."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from meshpos.errors import CorruptRecord
from meshpos.model._records import Fields
from meshpos.model.ledger_types import Order, Removal


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
                "approved_by": line.approved_by,  # schema 7: who let its discount be given
            }
            for line in order.lines
        ]
    )


def order_discounts(order: Order) -> str:
    """The order's own discounts, each with who approved it on the spot (schema 7; "" for none)."""
    return json.dumps(
        [
            {"discount_id": d, "kind": kind, "value": value, "approved_by": by}
            for (d, kind, value), by in zip(
                order.discounts, order.discounts_approved_by, strict=True
            )
        ]
    )


def removals(parts: Mapping[str, Mapping[str, Any]], where: str) -> tuple[Removal, ...]:
    """An order's voids and removed lines (its ``voids`` and ``removed`` parts), oldest first. Detail
    only: one that does not parse is left out (what the order's status reads is the part's presence),
    so an odd record never makes the whole order unreadable."""
    found: list[Removal] = []
    for part, line in (("voids", False), ("removed", True)):
        for key, value in parts[part].items():
            try:
                f = Fields(value, f"{where} {part}/{key}")
                item = parts["lines"].get(key) if line else None
                what = Fields(item, f"{where} lines/{key}") if item is not None else None
                found.append(
                    Removal(
                        key if line else "",
                        f.text("user"),
                        f.integer("at"),
                        f.opt_text("reason") or "",
                        f.opt_text("approved_by") or "",
                        name=what.text("name") if what else "",
                        quantity=what.quantity("quantity") if what else 0,
                        sent=line and key in parts["sent"],
                        moved_to=f.opt_text("moved_to") or "",
                    )
                )
            except CorruptRecord:
                continue
    return tuple(sorted(found, key=lambda r: (r.at_ms, r.line_id, r.user)))


def void_detail(order: Order) -> str:
    """Who voided an order or removed its lines, when, why and who approved it on the spot (the
    console's voids report); null in rows stored before schema 6 until their day is materialised again."""
    return json.dumps(
        [
            {
                "line_id": r.line_id,
                "user": r.user,
                "at_ms": r.at_ms,
                "reason": r.reason,
                "approved_by": r.approved_by,
                # schema 7: the removed line's item, and whether it was a void (the kitchen had it)
                # or a split (moved to another bill)
                **(
                    {"name": r.name, "quantity": r.quantity, "sent": r.sent, "moved_to": r.moved_to}
                    if r.line_id
                    else {}
                ),
            }
            for r in order.removals
        ]
    )
