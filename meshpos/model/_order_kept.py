"""A live day's orders as last parsed, kept until anything in the day's document changes.

Each tap of a sale reads its order again (``Venue._open_order``) right after the previous tap wrote it
and parsed it (the order the tap returns). ``ledger_kept.kept_order`` keeps parses by the order map's
text, but finding one still costs the map's JSON, its decoding and a canonical key (~25 µs a read,
three reads a sale; issue 18). Between two changes of the document nothing needs even that: the parse
is kept by order id until the document's own observer is told of a change (yrs calls it as each
transaction that changed the document commits: our writes, a peer's update, an undo; not a read).
The document's observer, not the ``orders`` root's: a write into an order's map is not always told to
the root's (``ledger_kept``'s note), every change is told to the document's.

Inside an open transaction nothing is kept or used (a change made in it is not told until it
commits). The observer is yrs' own (``Doc._doc.observe``), holding only the dict it clears, never the
document, so a forgotten day is still freed; its subscription goes with the document's entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

from pycrdt import Doc

from meshpos.errors import CorruptRecord
from meshpos.model._records import CorruptRegistry, remember
from meshpos.model.ledger_kept import kept_order
from meshpos.model.ledger_types import Order
from meshpos.model.records import parse_order

# a live document -> (its orders as last parsed, by id; the subscription that clears them)
_KEPT: WeakKeyDictionary[Doc[Any], tuple[dict[str, Order], object]] = WeakKeyDictionary()


def kept_orders(doc: Doc[Any]) -> dict[str, Order] | None:
    """The orders of ``doc`` kept since its last change, by id; None while a transaction is open on
    it (then nothing is kept or used)."""
    if getattr(doc, "_txn", True) is not None:  # (pycrdt's open transaction, if any)
        return None
    found = _KEPT.get(doc)
    if found is None:
        kept: dict[str, Order] = {}

        def drop(_event: object, kept: dict[str, Order] = kept) -> None:
            kept.clear()  # (holds no document: an observer that did would keep it alive)

        found = _KEPT[doc] = (kept, doc._doc.observe(drop))
    return found[0]


def parse_kept(
    name: str,
    order_id: str,
    om: object,
    corrupt: CorruptRegistry | None,
    kept: dict[str, Order] | None,
) -> Order:
    """The order in ``om`` (its map in document ``name``), parsed or found by its text
    (``ledger_kept.kept_order``), and kept in ``kept`` if nothing in it was left out as corrupt (every
    reader then gets what it would parse itself). With no registry a bad line makes the order corrupt
    (strict); with one it is left out of the order and noted."""
    where = f"{name} orders/{order_id}"
    whole = True

    def parse(plain: Mapping[str, Any]) -> tuple[Order, bool]:
        nonlocal whole
        if corrupt is None:  # strict: a bad line makes the order corrupt
            return parse_order(order_id, plain, where), True
        bad: list[tuple[str, CorruptRecord]] = []
        order = parse_order(order_id, plain, where, bad)
        for line_id, exc in bad:  # left out of the order, named in the alarms
            corrupt.note(name, f"orders/{order_id}/lines/{line_id}", exc)
        whole = not bad
        return order, whole

    order = kept_order(where, om, parse)
    if kept is not None and whole:
        remember(kept, order_id, order)  # (bounded: a listing of the day keeps its last orders)
    return order
