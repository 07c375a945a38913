"""A day's orders by table and tab, for the register's receipt search by table (``receipt_search``).

A search by table read every receipt of the day and the order of each (~30 ms for 200 receipts, more as
the day grows). This keeps, per loaded ledger day and once a search asked for it, each order's table and
tab and its receipt ids, and the orders under each name (upper-cased: the search is case-insensitive), so
a search reads the matching orders' receipts and nothing else. ``DayIndex`` keeps it as orders change:
it is built from the day's orders at the first search (once), then each look reads again the orders
that can have moved (new ones, open ones, those a deep observer saw touched: the orders the index already
reads again) and drops the orders taken back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from meshpos.model.ledger_types import Order


@dataclass(frozen=True, slots=True)
class Placed:
    """Where an order is (as ``Order.table``/``tab``) and its receipts."""

    order_id: str
    table: str
    tab: str
    receipt_ids: tuple[str, ...]


@dataclass(eq=False)
class TablePlaces:
    """Each order of a day by id, and the order ids under each table or tab name (upper-cased)."""

    orders: dict[str, Placed] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, orders: Iterable[Order]) -> TablePlaces:
        places = cls()
        for order in orders:
            places.put(order)
        return places

    def put(self, order: Order) -> None:
        self.drop(order.id)
        placed = Placed(order.id, order.table, order.tab, order.receipt_ids)
        self.orders[order.id] = placed
        for name in _names(placed):
            self.by_name.setdefault(name, set()).add(order.id)

    def drop(self, order_id: str) -> None:
        placed = self.orders.pop(order_id, None)
        if placed is None:
            return
        for name in _names(placed):
            ids = self.by_name.get(name)
            if ids is not None:
                ids.discard(order_id)
                if not ids:
                    del self.by_name[name]

    def at(self, name: str) -> list[Placed]:
        """The orders whose table or tab is ``name`` (any case)."""
        ids = self.by_name.get(name.upper(), set())
        return [self.orders[i] for i in sorted(ids)]


def _names(placed: Placed) -> set[str]:
    return {n.upper() for n in (placed.table, placed.tab) if n}
