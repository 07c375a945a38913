"""Receipt-shaped writes for benchmarks and crash tests, until the real model can produce them.

The interface is deliberately tiny (``add_receipt``, ``UpdateLog``, ``receipt_ids``) so it can later be
reimplemented on top of meshpos.model without touching the benchmark or the crash test.
"""

from __future__ import annotations

import uuid
from typing import Any

import pycrdt

PRODUCTS = (
    ("espresso", 250),
    ("flat white", 380),
    ("croissant", 290),
    ("club sandwich", 1190),
    ("sparkling water", 300),
)


def add_receipt(doc: pycrdt.Doc[Any], i: int, register: str = "R1") -> str:
    """Write one paid receipt (10 fields + 3 lines) in one transaction; return its id."""
    receipt_id = str(uuid.uuid4())
    lines: list[dict[str, Any]] = []
    total = 0
    for k in range(3):
        name, price = PRODUCTS[(i + k) % len(PRODUCTS)]
        qty = 1 + (i + k) % 3
        lines.append({"product": name, "qty": qty, "unit_price": price, "amount": qty * price})
        total += qty * price
    receipts = doc.get("receipts", type=pycrdt.Map)
    with doc.transaction(origin="workload"):
        receipts[receipt_id] = pycrdt.Map(
            {
                "id": receipt_id,
                "number": f"{register}-{i:06d}",
                "register": register,
                "cashier": f"cashier-{i % 4}",
                "table": f"T{i % 20}",
                "status": "paid",
                "currency": "EUR",
                "total": total,
                "tax": total * 10 // 110,
                "paid_at": f"2026-11-25T12:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                "lines": pycrdt.Array([pycrdt.Map(line) for line in lines]),
            }
        )
    return receipt_id


class UpdateLog:
    """Collects the update bytes of every transaction on ``doc`` (what a node would store and send)."""

    def __init__(self, doc: pycrdt.Doc[Any]) -> None:
        self._pending: list[bytes] = []
        self._subscription = doc.observe(lambda event: self._pending.append(event.update))
        self._doc = doc

    def take(self) -> list[bytes]:
        """Return the updates since the last call, oldest first."""
        taken, self._pending = self._pending, []
        return taken

    def close(self) -> None:
        self._doc.unobserve(self._subscription)


def receipt_ids(doc: pycrdt.Doc[Any]) -> set[str]:
    return set(doc.get("receipts", type=pycrdt.Map).keys())
