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

from collections.abc import Callable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from pycrdt import Doc

from meshpos.errors import CorruptRecord
from meshpos.model._records import CorruptRegistry, remember
from meshpos.model.ledger_kept import kept_order, remember_parse
from meshpos.model.ledger_types import Order
from meshpos.model.records import parse_order


class Kept:
    """What is kept of one live document since its last change: its orders as parsed, by id, and the
    plain values of orders this device wrote last (what ``json.loads(str(order map))`` gives), which a
    read parses without asking pycrdt for the map's text; ``changes`` counts the changes told."""

    __slots__ = ("changes", "orders", "plains")

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.plains: dict[str, dict[str, Any]] = {}
        self.changes = 0

    def changed(self, _event: object) -> None:
        self.orders.clear()
        self.plains.clear()
        self.changes += 1


# a live document -> (what is kept of it, the subscription that clears it)
_KEPT: WeakKeyDictionary[Doc[Any], tuple[Kept, object]] = WeakKeyDictionary()


def kept_orders(doc: Doc[Any]) -> Kept | None:
    """What is kept of ``doc`` since its last change; None while a transaction is open on it (then
    nothing is kept or used)."""
    if getattr(doc, "_txn", True) is not None:  # (pycrdt's open transaction, if any)
        return None
    found = _KEPT.get(doc)
    if found is None:
        kept = Kept()  # (its observer holds no document: one that did would keep it alive)
        found = _KEPT[doc] = (kept, doc._doc.observe(kept.changed))
    return found[0]


def wrote(
    kept: Kept | None, changes: int, order_id: str, plain: dict[str, Any], at: str, value: object
) -> None:
    """This device put ``value`` under ``at`` in the map of order ``order_id``, whose plain values
    were ``plain`` (``{}`` for a new map), when ``kept.changes`` was ``changes``. If that put is the one
    change told since (nothing else moved the document) the map's values now are ``plain`` plus it: kept
    for the next read. Only a text (a record, a kitchen send): it reads back as the same text."""
    if kept is not None and kept.changes == changes + 1 and type(value) is str:
        remember(kept.plains, order_id, {**plain, at: value})


def parse_kept(
    name: str,
    order_id: str,
    om: Callable[[], object],
    corrupt: CorruptRegistry | None,
    kept: Kept | None,
) -> Order:
    """The order in ``om()`` (its map in document ``name``), parsed from the plain values this device
    wrote last (``kept.plains``: a parse of a map does not depend on the order of its keys) or found by
    its text (``ledger_kept.kept_order``); kept in ``kept`` if nothing in it was left out as corrupt
    (every reader then gets what it would parse itself). With no registry a bad line makes the order
    corrupt (strict); with one it is left out of the order and noted."""
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

    plain = kept.plains.get(order_id) if kept is not None else None
    if plain is None:
        found: list[dict[str, Any]] = []
        order = kept_order(where, om(), parse, found.append if kept is not None else None)
        if kept is not None and whole and found:  # (decoded from its text: a write adds to it)
            remember(kept.plains, order_id, found[0])
    else:
        order = parse(plain)[0]
        if whole:  # (found by its values when read again after another change)
            remember_parse(where, plain, order)
    if kept is not None and whole:
        remember(kept.orders, order_id, order)  # (bounded: a listing of the day keeps its last)
    return order
