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
  told to the document's observer deletes anything, a flat order map (no value a shared type) only
  gains keys, and one that holds as many keys as the kept values holds exactly them;
* the document's own observer (``Doc._doc.observe``) is told of every committed transaction that
  integrated or deleted anything (our writes, a peer's update even past a gap, an undo; not a read),
  with the transaction's delete set: a deletion drops everything kept of the day;
* so a kept order is used as it is while no transaction was told since it was last found current
  (``checked``), and after one when its map still holds as many keys (``keys_in``: one yrs read
  transaction, ~0.6 µs). A map with a shared value (an older node's part maps; a text a peer could
  edit in place) gains no key when a write goes inside it: its parse is used only until the next
  transaction told, as on main. Whether a value is shared is asked of yrs once, when the map's text
  is decoded (``flat``): a shared text reads as a string in the map's JSON.

**Changed** (issue 18, seller): a line this device writes into its order grows the kept parse
(:func:`grown`: the new line parsed alone, put in its place, the amounts and totals computed again
by the parse's own functions), where on main the read after the write (the tap's answer) parsed the
whole order again from the kept values: a sale parses its order once (after opening it), not 3 times.

Inside an open transaction nothing is kept or used (a change made in it is not told until it
commits). The observer is yrs' own, holding only what it clears, never the document, so a forgotten
day is still freed; its subscription goes with the document's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from pycrdt import Doc, Map
from pycrdt._pycrdt import Map as RawMap

from meshpos.errors import CorruptRecord
from meshpos.model._records import CorruptRegistry, remember
from meshpos.model.ledger_kept import kept_order, remember_parse
from meshpos.model.ledger_layout import order_key
from meshpos.model.ledger_types import Order
from meshpos.model.order_lines import with_line
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

    def parsed(self, order_id: str, doc: Doc[Any], orders: Map[Any]) -> Order | None:
        """The kept parse of order ``order_id`` if it is still its map's (see :meth:`current`)."""
        if order_id in self.checked and (known := self.known.get(order_id)) is not None:
            return known.order  # (no transaction told since it was found current)
        known = self.current(order_id, doc, orders)
        return None if known is None else known.order

    def current(self, order_id: str, doc: Doc[Any], orders: Map[Any]) -> Known | None:
        """What is kept of order ``order_id`` if it is still its map's values (``orders``: the day's
        root of orders in ``doc``)."""
        known = self.known.get(order_id)
        if known is None:
            return None
        if order_id not in self.checked:
            if not known.flat or keys_in(doc, orders, order_id) != len(known.plain):
                del self.known[order_id]
                return None
            self.checked.add(order_id)
        return known

    def keep(self, order_id: str, plain: dict[str, Any], order: Order | None, flat: bool) -> None:
        """``plain`` are order ``order_id``'s map's values now (with their parse, if it may be kept)."""
        remember(self.known, order_id, Known(plain, order, flat))
        self.checked.add(order_id)


def keys_in(doc: Doc[Any], orders: Map[Any], order_id: str) -> int:
    """How many keys the map of order ``order_id`` holds (-1: no map there), in one of yrs' own read
    transactions: ~0.6 µs and 8 Python calls, where pycrdt's ``orders[order_id]`` and ``len`` take
    ~6 µs and 49 (a transaction each, with its bookkeeping). Only outside pycrdt's transactions
    (``kept_orders`` is None inside one)."""
    raw = orders.integrated
    txn = doc._doc.create_transaction()
    try:
        found = raw.get(txn, order_id) if raw.has(txn, order_id) else None
        return found.len(txn) if isinstance(found, RawMap) else -1
    finally:
        txn.commit()
        txn.drop()


# what pycrdt hands back for a plain value (a shared type comes back as its own class)
_PLAIN = (str, int, float, bool, type(None), dict, list, bytes)


def flat(doc: Doc[Any], om: Map[Any]) -> bool:
    """Whether no value of the map ``om`` (in ``doc``) is a shared type, asked of yrs (a shared text
    reads as a string in the map's JSON): one read transaction, its keys and values, ~1-2 µs."""
    raw = om.integrated
    txn = doc._doc.create_transaction()
    try:
        return all(type(raw.get(txn, key)) in _PLAIN for key in raw.keys(txn))
    finally:
        txn.commit()
        txn.drop()


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


def kept_known(kept: Kept | None, order_id: str, doc: Doc[Any], orders: Map[Any]) -> Known | None:
    """What is kept of order ``order_id`` if it is still its map's values (a write adds to them)."""
    return kept.current(order_id, doc, orders) if kept is not None else None


def wrote(
    kept: Kept | None,
    changes: int,
    order_id: str,
    before: Known,
    at: str,
    value: object,
    where: str,
) -> None:
    """This device put ``value`` under ``at`` in the map of order ``order_id`` (``where``: the map, for
    messages), whose values were ``before`` (``NEW`` for a new map), when ``kept.changes`` was
    ``changes``. If that put is the one transaction told since (nothing else ran in between) the map's
    values now are those plus it: kept for the next read, with their parse when the write can grow
    the kept one exactly (:func:`grown`). Only a text (a record, a kitchen send): it reads back as the
    same text."""
    if kept is not None and kept.changes == changes + 1 and type(value) is str:
        order = grown(before, at, value, where)
        kept.keep(order_id, {**before.plain, at: value}, order, before.flat)


# an older node's part maps the parse of a new line reads: with one, the line's key may not be its own
_LINE_PARTS = ("lines", "removed")


def grown(before: Known, at: str, value: str, where: str) -> Order | None:
    """The parse of ``before``'s values with ``value`` put under ``at``, grown from ``before``'s parse
    where that is exactly what ``parse_order`` of them gives, else None (the next read parses them).

    A line this register adds to its order is parsed alone and put into the kept parse
    (``order_lines.with_line``). Exact when the key is new in the map (nothing replaced), no removal
    names the line (a removal written first, by a peer, would leave it out) and the map holds no
    older node's part map for lines or removals (whose records merge with the map's own keys in the
    map's order); the lines' order, a new quantity taking a line's place and the amounts and totals
    are computed as the parse computes them. Any other write keeps the values only
    (tests/model/test_order_grown.py compares grown parses with fresh ones over generated maps;
    tests/model/test_order_kept_exact.py every read with a fresh parse after random taps)."""
    part, _, key = at.partition("/")
    if before.order is None or part != "lines" or at in before.plain:
        return None
    plain = before.plain
    if order_key("removed", key) in plain or any(older in plain for older in _LINE_PARTS):
        return None
    return with_line(before.order, key, value, where)


def parse_kept(
    name: str,
    order_id: str,
    om: Callable[[], object],
    corrupt: CorruptRegistry | None,
    kept: tuple[Kept, Doc[Any], Map[Any]] | None,
) -> Order:
    """The order in ``om()`` (its map in document ``name``; ``kept``: what is kept of that live
    document, the document and its root of orders): as kept if its map still holds the kept
    values (parsed from them if not parsed yet: a parse of a map does not depend on the order of its
    keys), else found by its map's text (``ledger_kept.kept_order``) and kept. A parse is kept only if
    nothing in it was left out as corrupt (every reader then gets what it would parse itself). With no
    registry a bad line makes the order corrupt (strict); with one it is left out and noted."""
    if kept is not None and (ready := kept[0].parsed(order_id, kept[1], kept[2])) is not None:
        return ready  # (before anything else is made: most reads of a tap end here)
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

    if kept is None:
        return kept_order(where, om(), parse)
    what, doc, orders = kept
    known = what.current(order_id, doc, orders)
    if known is not None:
        if known.order is not None:
            return known.order
        order = parse(known.plain)[0]
        if whole:  # (found by its values when read again after a deletion)
            remember_parse(where, known.plain, order)
            what.keep(order_id, known.plain, order, known.flat)
        return order
    found: list[dict[str, Any]] = []
    the_map = om()
    order = kept_order(where, the_map, parse, found.append)
    if found:  # (decoded from its text: a write adds to it)
        shared = not isinstance(the_map, Map) or not flat(doc, the_map)
        what.keep(order_id, found[0], order if whole else None, not shared)
    return order
