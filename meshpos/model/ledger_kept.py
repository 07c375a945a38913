"""Reads a sale repeats, kept by the JSON text they were parsed from (``_records.remember``).

Every step of a sale reads its order again (seven reads a sale) and the register's open shift (four),
and each read parsed every record afresh. Records are insert-only JSON text, so the same text parses
the same and any change makes another text: a parse is kept by its text, and only a parse that skipped
nothing as corrupt is kept, so every reader gets what it would parse itself.
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
    if found is None:
        found, keep = parse(json.loads(text))
        if keep:
            remember(_ORDERS, (where, text), found)
    return found


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
