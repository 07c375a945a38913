"""A live day's orders as last parsed, each kept until its own map changes.

Each tap of a sale reads its order again (``Venue._open_order``) right after the previous tap wrote it
and parsed it (the order the tap returns). ``ledger_kept.kept_order`` keeps parses by the order map's
text, but finding one still costs the map's JSON, its decoding and a canonical key (~25 µs a read,
three reads a sale; issue 18). So the plain values of an order's map, as last decoded or written by
this device, are kept by order id with their parse, and a read uses them while they are still the
map's values.

**Changed** (issue 18, order): an order's kept parse survives changes to the rest of the day (other
orders, receipts, shifts, cash moves). On main it was dropped whenever anything in the day's document
changed, so under load (six registers' receipts landing in one day) a seller's every tap read and
decoded its order's text again. Neither yrs' events nor a per-order observer can say which order
changed: yrs tells a change inside a map to that map's observers (and its ancestors' deep ones) only
when the map was created below its writer's state vector, and after an out-of-order delivery yrs
integrates a writer's records past a gap in its clocks (the state vector stays behind the gap): a line
added to an order created past such a gap is told to no observer of the order or of ``orders``, only
to the document's (tests/model/test_order_kept_exact.py shows it). What is exact and cheap:

* records are insert-only under fresh keys, and in a Yjs map a key's value changes or goes only by
  deleting the item that held it, in the transaction that makes the change (a new value deletes the
  one it replaces, a losing concurrent one deletes itself, an undo deletes). So while no transaction
  told to the document's observer deletes anything, a flat order map (every value a record's text)
  only gains keys, and one that holds as many keys as the kept values holds exactly them;
* the document's own observer (``Doc._doc.observe``) is told of every committed transaction that
  integrated or deleted anything (our writes, a peer's update even past a gap, an undo; not a read),
  with the transaction's delete set: a deletion drops everything kept of the day;
* so a kept order is used as it is while no transaction was told since it was last found current
  (``checked``), and after one when its map still holds as many keys (one pycrdt ``len``, ~1 µs, and
  the map's lookup). An order an older node opened keeps part maps (a write into one adds no key to
  the order's map): its parse is used only until the next transaction told, as before.

Inside an open transaction nothing is kept or used (a change made in it is not told until it
commits). The observer is yrs' own, holding only what it clears, never the document, so a forgotten
day is still freed; its subscription goes with the document's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from pycrdt import Doc, Map

from meshpos.errors import CorruptRecord
from meshpos.model._records import CorruptRegistry, remember
from meshpos.model.ledger_kept import kept_order, remember_parse
from meshpos.model.ledger_types import Order
from meshpos.model.records import parse_order

_NO_DELETION = b"\x00"  # a transaction's delete set that deletes nothing (lib0: no clients)


class Known(NamedTuple):
    """An order map's plain values (what ``json.loads(str(order map))`` gives) as last decoded or
    written by this device, their parse if it may be kept (nothing left out as corrupt), and whether
    the map is flat: no value is a shared type (an older node's part map, or a text or list a peer
    could edit in place without adding a key to the order's map)."""

    plain: dict[str, Any]
    order: Order | None
    flat: bool


NEW = Known({}, None, True)  # a map just made, empty


class Kept:
    """What is kept of one live document: its orders by id (``known``), the ids found current since
    the last transaction told (``checked``), and ``changes``, the transactions told."""

    __slots__ = ("changes", "checked", "known")

    def __init__(self) -> None:
        self.known: dict[str, Known] = {}
        self.checked: set[str] = set()
        self.changes = 0

    def changed(self, event: Any) -> None:
        self.changes += 1
        self.checked.clear()
        if event.delete_set != _NO_DELETION:  # a value replaced or gone, somewhere in the day
            self.known.clear()

    def unchanged(self, order_id: str) -> Order | None:
        """The kept parse of order ``order_id`` if no transaction was told since it was found current."""
        if order_id in self.checked and (known := self.known.get(order_id)) is not None:
            return known.order
        return None

    def current(self, order_id: str, om: Callable[[], Any]) -> Known | None:
        """What is kept of order ``order_id`` if it is still its map's (``om()``) values."""
        known = self.known.get(order_id)
        if known is None:
            return None
        if order_id not in self.checked:
            if not known.flat or len(om()) != len(known.plain):
                del self.known[order_id]
                return None
            self.checked.add(order_id)
        return known

    def keep(self, order_id: str, plain: dict[str, Any], order: Order | None, flat: bool) -> None:
        """``plain`` are order ``order_id``'s map's values now (with their parse, if it may be kept)."""
        remember(self.known, order_id, Known(plain, order, flat))
        self.checked.add(order_id)


# what pycrdt hands back for a plain value (a shared type comes back as its own class)
_PLAIN = (str, int, float, bool, type(None), dict, list, bytes)


def flat(om: Map[Any]) -> bool:
    """Whether no value of the map ``om`` is a shared type, asked of pycrdt (a shared text reads as
    a string in the map's JSON): one read transaction, its keys and their values, ~2 µs."""
    raw = om.integrated
    with om.doc.transaction() as txn:
        t = txn._txn
        return all(type(raw.get(t, key)) in _PLAIN for key in raw.keys(t))


# a live document -> (what is kept of it, the subscription that tells it of changes)
_KEPT: WeakKeyDictionary[Doc[Any], tuple[Kept, object]] = WeakKeyDictionary()


def kept_orders(doc: Doc[Any]) -> Kept | None:
    """What is kept of ``doc``'s orders; None while a transaction is open on it (then nothing is kept
    or used)."""
    if getattr(doc, "_txn", True) is not None:  # (pycrdt's open transaction, if any)
        return None
    found = _KEPT.get(doc)
    if found is None:
        kept = Kept()  # (its observer holds no document: one that did would keep it alive)
        found = _KEPT[doc] = (kept, doc._doc.observe(kept.changed))
    return found[0]


def kept_known(kept: Kept | None, order_id: str, om: Callable[[], Any]) -> Known | None:
    """What is kept of order ``order_id`` if it is still its map's values (a write adds to them)."""
    return kept.current(order_id, om) if kept is not None else None


def wrote(
    kept: Kept | None, changes: int, order_id: str, before: Known, at: str, value: object
) -> None:
    """This device put ``value`` under ``at`` in the map of order ``order_id``, whose values were
    ``before`` (``NEW`` for a new map), when ``kept.changes`` was ``changes``. If that put is the one
    transaction told since (nothing else ran in between) the map's values now are those plus it: kept
    for the next read. Only a text (a record, a kitchen send): it reads back as the same text."""
    if kept is not None and kept.changes == changes + 1 and type(value) is str:
        kept.keep(order_id, {**before.plain, at: value}, None, before.flat)


def parse_kept(
    name: str,
    order_id: str,
    om: Callable[[], object],
    corrupt: CorruptRegistry | None,
    kept: Kept | None,
) -> Order:
    """The order in ``om()`` (its map in document ``name``): as kept if its map still holds the kept
    values (parsed from them if not parsed yet: a parse of a map does not depend on the order of its
    keys), else found by its map's text (``ledger_kept.kept_order``) and kept. A parse is kept only if
    nothing in it was left out as corrupt (every reader then gets what it would parse itself). With no
    registry a bad line makes the order corrupt (strict); with one it is left out and noted."""
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

    the_map = cache(om)  # (looked up once a read)
    known = kept.current(order_id, the_map) if kept is not None else None
    if known is not None:
        if known.order is not None:
            return known.order
        order = parse(known.plain)[0]
        if whole and kept is not None:  # (found by its values when read again after a deletion)
            remember_parse(where, known.plain, order)
            kept.keep(order_id, known.plain, order, known.flat)
        return order
    found: list[dict[str, Any]] = []
    order = kept_order(where, the_map(), parse, found.append if kept is not None else None)
    if kept is not None and found:  # (decoded from its text: a write adds to it)
        om_now = the_map()
        kept.keep(
            order_id, found[0], order if whole else None, isinstance(om_now, Map) and flat(om_now)
        )
    return order
