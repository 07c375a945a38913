"""Reads a sale repeats, kept by the JSON text they were parsed from (``_records.remember``).

Every step of a sale reads its order again (seven reads a sale) and the register's open shift (four),
and each read parsed every record afresh. Records are insert-only JSON text, so the same text parses
the same and any change makes another text: a parse is kept by its text, and only a parse that skipped
nothing as corrupt is kept, so every reader gets what it would parse itself.

pycrdt lists a map's keys in another order on every read, so one state has many texts: a text not
seen before is looked up again by its values whatever their order (:func:`canonical`) before it is
parsed (issue 18: a sale parsed its order 5.3 times, now 4, one per write).

Between two changes of a live day nothing needs even that: :func:`watched` keeps a read of roots (a
register's open shifts) until one of them changes, told by an observer of the root's own
(pycrdt calls it as each changing transaction commits: our writes, a peer's update, an undo). Inside
an open transaction nothing is kept or used (a change made in it is not told until it commits). The
observer holds only the dict it clears, never the document, so a forgotten day is still freed; the
dict goes with its document (issue 18: the seller parsed its open shift on almost every tap, keyed
by two roots' texts, which pycrdt lists in another order of keys on every read). Not for an order:
a write into an order's map is not always told to the observer of the ``orders`` root (an order
created past a hole in its author's clocks, after out-of-order deliveries: tests/model/
test_order_kept_exact.py), so an order is kept by its text here and by its count of keys in
``_order_kept``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any
from weakref import WeakKeyDictionary

from pycrdt import Doc, Map

from meshpos.model._records import decoded, remember
from meshpos.model.ledger_types import Order, Shift

_ORDERS: dict[tuple[str, str], Order] = {}  # (where, the order map's JSON) -> its parse
_ORDERS_BY_VALUES: dict[
    tuple[str, object], Order
] = {}  # (where, canonical(its values)) -> the same
_OPENED = attrgetter("opened_at_ms", "id")
# a live document -> (what is kept of it by name, the observers that clear it)
_WATCHED: WeakKeyDictionary[Doc[Any], tuple[dict[str, dict[str, Any]], list[Any]]] = (
    WeakKeyDictionary()
)


def watched(doc: Doc[Any], name: str, roots: tuple[Map[Any], ...]) -> dict[str, Any] | None:
    """What is kept of ``doc`` under ``name``, dropped whenever any of ``roots`` (or anything inside
    them) changes; None while a transaction is open on ``doc`` (then nothing is kept or used)."""
    if getattr(doc, "_txn", True) is not None:  # (pycrdt's open transaction, if any)
        return None
    found = _WATCHED.get(doc)
    if found is None:
        found = _WATCHED[doc] = ({}, [])
    kept = found[0].get(name)
    if kept is None:
        kept = found[0][name] = {}

        def drop(_events: object, kept: dict[str, Any] = kept) -> None:
            kept.clear()  # (holds no document: an observer that did would keep it alive)

        # the raw observers: pycrdt's own builds an event of Python objects per change (and holds
        # the document); the subscriptions are dropped (unobserved) with the document's entry
        found[1].extend(root.integrated.observe_deep(drop) for root in roots)
    return kept


def kept_order(
    where: str,
    om: object,
    parse: Callable[[Mapping[str, Any]], tuple[Order, bool]],
    seen: Callable[[dict[str, Any]], None] | None = None,
) -> Order:
    """The order in ``om`` (its map, or its plain values), from ``parse(plain values)``, which says
    whether its parse may be kept (nothing in it was left out as corrupt); ``seen(plain values)``
    with the map's text decoded (``_order_kept`` keeps them, and reads no text while they are current).
    """
    if not isinstance(om, Map):
        return parse(om)[0]  # type: ignore[arg-type]  # (a snapshot's plain values)
    text = str(om)  # pycrdt's native JSON: one call, not a transaction per key
    found = _ORDERS.get((where, text))
    if found is not None:
        if seen is not None:
            seen(json.loads(text))
        return found
    plain = json.loads(text)
    if seen is not None:
        seen(plain)
    values = (where, canonical(plain))
    found = _ORDERS_BY_VALUES.get(values)
    if found is None:
        found, keep = parse(plain)
        if not keep:
            return found
        remember(_ORDERS_BY_VALUES, values, found)
    remember(_ORDERS, (where, text), found)
    return found


def remember_parse(where: str, plain: Mapping[str, Any], order: Order) -> None:
    """Keep a whole parse of ``plain`` (an order map's values) to be found by its values."""
    remember(_ORDERS_BY_VALUES, (where, canonical(plain)), order)


def canonical(plain: Mapping[str, Any]) -> object:
    """A map's values as one key whatever the order its keys were listed in: a map of texts (records
    are JSON text) as the set of its items, anything else as its JSON with the keys sorted."""
    if all(type(v) is str for v in plain.values()):
        return frozenset(plain.items())
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def open_shifts(
    doc: Doc[Any],
    register: str,
    shifts: Any,
    closes: Any,
    parse: Callable[[list[str]], list[Shift]],
) -> list[Shift]:
    """``register``'s open shifts of a day (its ``shifts`` and ``shift_closes`` roots), oldest first:
    ``parse(keys)`` of the few records that match, not every shift; kept until either root changes."""
    live = isinstance(shifts, Map) and isinstance(closes, Map)
    kept = watched(doc, "open shifts", (shifts, closes)) if live else None
    if kept is not None and register in kept:
        return list(kept[register])
    raw = json.loads(str(shifts)) if live else shifts
    mine = [
        k
        for k, v in raw.items()
        if k not in closes and (d := decoded(v)) is not None and d.get("register") == register
    ]
    found = sorted(parse(mine), key=_OPENED)
    if kept is not None and len(found) == len(mine):  # (none skipped as corrupt: any reader's)
        kept[register] = tuple(found)
    return found


def a_shift_open(doc: Doc[Any], shifts: Any, closes: Any) -> bool:
    """Whether a shift of a day (its ``shifts`` and ``shift_closes`` roots) is still open: keys only,
    kept until either root changes. **Changed** (issue 18, rounds2): the last-Z look asks after
    every commit of a ledger day (several a receipt on every register), and it read every key."""
    live = isinstance(shifts, Map) and isinstance(closes, Map)
    kept = watched(doc, "a shift is open", (shifts, closes)) if live else None
    if kept is not None and "open" in kept:
        return bool(kept["open"])
    found = any(k not in closes for k in shifts)
    if kept is not None:
        kept["open"] = found
    return found
