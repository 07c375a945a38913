"""Reads a sale repeats, kept by the JSON text they were parsed from (``_records.remember``).

Every step of a sale reads its order again (seven reads a sale) and the register's open shift (four),
and each read parsed every record afresh. Records are insert-only JSON text, so the same text parses
the same and any change makes another text: a parse is kept by its text, and only a parse that skipped
nothing as corrupt is kept, so every reader gets what it would parse itself.

pycrdt lists a map's keys in another order on every read, so one state has many texts: a text not
seen before is looked up again by its values whatever their order (:func:`canonical`) before it is
parsed (issue 18: a sale parsed its order 5.3 times, now 4, one per write).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from pycrdt import Map

from meshpos.model._records import decoded, remember
from meshpos.model.ledger_types import Order, Shift

_ORDERS: dict[tuple[str, str], Order] = {}  # (where, the order map's JSON) -> its parse
_ORDERS_BY_VALUES: dict[
    tuple[str, object], Order
] = {}  # (where, canonical(its values)) -> the same
_OPEN_SHIFTS: dict[
    tuple[str, str, str, str], tuple[Shift, ...]
] = {}  # (day, register, shifts, closes)
_OPENED = attrgetter("opened_at_ms", "id")


def kept_order(
    where: str, om: object, parse: Callable[[Mapping[str, Any]], tuple[Order, bool]]
) -> Order:
    """The order in ``om`` (its map, or its plain values), from ``parse(plain values)``, which says
    whether its parse may be kept (nothing in it was left out as corrupt)."""
    if not isinstance(om, Map):
        return parse(om)[0]  # type: ignore[arg-type]  # (a snapshot's plain values)
    text = str(om)  # pycrdt's native JSON: one call, not a transaction per key
    found = _ORDERS.get((where, text))
    if found is not None:
        return found
    plain = json.loads(text)
    values = (where, canonical(plain))
    found = _ORDERS_BY_VALUES.get(values)
    if found is None:
        found, keep = parse(plain)
        if not keep:
            return found
        remember(_ORDERS_BY_VALUES, values, found)
    remember(_ORDERS, (where, text), found)
    return found


def canonical(plain: Mapping[str, Any]) -> object:
    """A map's values as one key whatever the order its keys were listed in: a map of texts (records
    are JSON text) as the set of its items, anything else as its JSON with the keys sorted."""
    if all(type(v) is str for v in plain.values()):
        return frozenset(plain.items())
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def open_shifts(
    day: str,
    register: str,
    shifts: Any,
    closes: Any,
    parse: Callable[[list[str]], list[Shift]],
) -> list[Shift]:
    """``register``'s open shifts of a day (its ``shifts`` and ``shift_closes`` roots), oldest first:
    ``parse(keys)`` of the few records that match, not every shift."""
    live = isinstance(shifts, Map) and isinstance(closes, Map)
    key = (day, register, str(shifts), str(closes)) if live else None
    if key is not None and key in _OPEN_SHIFTS:
        return list(_OPEN_SHIFTS[key])
    raw = json.loads(key[2]) if key is not None else shifts
    mine = [
        k
        for k, v in raw.items()
        if k not in closes and (d := decoded(v)) is not None and d.get("register") == register
    ]
    found = sorted(parse(mine), key=_OPENED)
    if key is not None and len(found) == len(mine):  # (none skipped as corrupt: any reader's)
        remember(_OPEN_SHIFTS, key, tuple(found))
    return found
