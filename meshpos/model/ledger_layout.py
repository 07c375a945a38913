"""How a ledger day stores what is not one record under its own key: an order's records in its map, the
payment that completes an order under its receipt's key, and the stock movements a receipt stands for.

An order is one map: ``info`` and a key ``<part>/<key>`` per record of its own (``order_key``); an older
node's order holds a map per part instead, and both are read alike (``order_parts``). The payment that
completes an order issues its receipt, and both are one entry: ``receipts/<receipt id>`` holding the
payment with its id (``receipt_payment``); an older node wrote the payment under ``payments/<id>`` and the
receipt's number under the receipt's key. A receipt that says ``"stock": true`` stands for its lines' sale
stock movements (``sale_moves``), which no one writes; an older node's receipt came with ``inventory``
records of its own. Fewer map entries per sale (docs/architecture.md (Documents); docs/benchmarks.md,
"records").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pycrdt import Map

from meshpos.errors import CorruptRecord
from meshpos.model._records import CorruptRegistry, Fields, decoded
from meshpos.model.ledger_types import InventoryMove
from meshpos.model.record_spec import Derived

ORDER_PARTS = (
    "lines",
    "removed",
    "discounts",
    "payments",
    "voids",
    "receipts",
    "sent",
    "places",  # where the order is now (table, tab): the latest by stamp; an older node ignores them
)
SETTLED_BY = ("receipts", "voids")  # the order parts that make it paid or void (Order.status)


def order_key(part: str, key: str) -> str:
    """The key of an order's ``part`` record ``key`` inside the order's one map (``lines/<line id>``)."""
    return f"{part}/{key}"


PAYMENT_ID_FIELD = "id"
"""The field naming the payment stored under an order's ``receipts/<receipt id>`` (the one that issued it)."""


def receipt_payment(
    receipt_id: str,
    value: object,
    read: Callable[[object], Mapping[str, Any] | None] = decoded,
) -> tuple[str, object] | None:
    """The payment an order's ``receipts/<receipt id>`` value holds, as (its id, its stored value), or
    None for an older node's value (the receipt's number only).

    The payment that completes an order issues its receipt; both are one entry of the order's map: the
    receipt's id is the key, the payment (with its id) the value. A value that is a record but names no
    payment id is still returned (under ``receipts/<receipt id>``), so its reader finds it corrupt.
    ``read``: how the value is read (the day's counts read it faster, model/tally.py)."""
    if not isinstance(value, str | Mapping):
        return None
    fields = read(value)
    payment_id = None if fields is None else fields.get(PAYMENT_ID_FIELD)
    if isinstance(payment_id, str) and payment_id:
        return payment_id, fields
    return order_key("receipts", receipt_id), value


def order_parts(order: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """An order's records by part (``lines``, ``payments``, ...), from either layout, merged.

    An order is one map: ``info`` and a key ``<part>/<key>`` per record (docs/architecture.md (Model)).
    An order an older node opened holds a map per part instead (``lines/<line id>`` under ``lines``);
    a part present in that form must be a map, or the order is corrupt. A key naming no part is left
    out (nothing this node knows reads it). The payment a receipt's key holds (:func:`receipt_payment`)
    is listed with the payments too."""
    parts: dict[str, dict[str, Any]] = {part: {} for part in ORDER_PARTS}
    for key, value in order.items():
        if key in parts:
            if not isinstance(value, Mapping):
                raise CorruptRecord(f"{where}: {key!r} is not a map")
            parts[key].update(value.items())
            continue
        part, slash, record = key.partition("/")
        if slash and part in parts:
            parts[part][record] = value
    for receipt_id, value in parts["receipts"].items():
        found = receipt_payment(receipt_id, value)
        if found is not None:
            parts["payments"][found[0]] = found[1]
    return parts


SALE_MOVES_FIELD = "stock"
"""A receipt's field saying its lines are its sale stock movements (written as ``true``): the register
wrote no ``inventory`` record for them. A receipt without it (an older node's) came with its own."""


def sale_move_id(receipt_id: str, position: int) -> str:
    """The id of the stock movement of a receipt's line ``position`` (its row's key at the console)."""
    return f"{receipt_id}.{position}"


def sale_moves(receipt_id: str, f: Fields) -> tuple[InventoryMove, ...]:
    """The stock movements a receipt stands for: one ``sale`` per line, of the receipt's register, user
    and time, ``ref`` the receipt; none for a receipt that does not say so (``SALE_MOVES_FIELD``)."""
    if f.opt_flag(SALE_MOVES_FIELD) is not True:
        return ()
    user, device, at = f.text("user"), f.text("register"), f.integer("at")
    return tuple(
        InventoryMove(
            sale_move_id(receipt_id, i),
            ln.text("product_id"),
            "sale",
            ln.quantity("quantity"),
            receipt_id,
            user,
            device,
            at,
        )
        for i, ln in enumerate(f.records("lines"))
    )


def sale_move_count(value: Mapping[str, Any] | None) -> int:
    """How many stock movements a stored receipt stands for, from a glance (the status' counts)."""
    if value is None or value.get(SALE_MOVES_FIELD) is not True:
        return 0
    lines = value.get("lines")
    return len(lines) if isinstance(lines, list) else 0


def settled(order: object) -> bool:
    """Whether an order's map (live or plain) says it is paid or voided, from its keys alone (reading it
    whole costs ~50 times more): a page index skips settled orders without reading them. A missing or
    malformed order is not settled: reading it whole notes what is wrong."""
    if not isinstance(order, Mapping | Map):
        return False
    for key in list(order.keys()):
        part, slash, _ = key.partition("/")
        if part not in SETTLED_BY:
            continue
        if slash:
            return True
        older = order.get(key)  # an older node's part map
        if isinstance(older, Mapping | Map) and len(older) > 0:
            return True
    return False


def derived_records(
    stored: Mapping[str, Any], derived: Derived, doc: str, corrupt: CorruptRegistry | None
) -> list[Any]:
    """The records that the records of ``derived.root`` (``stored``: key -> stored value) stand for (a
    receipt's sale stock movements). A record they cannot be read from is noted as corrupt under its own
    key (strict without a registry), never marked as parsing again here (its own reader decides that)."""
    found: list[Any] = []
    for key, value in stored.items():
        try:
            found += derived.records(key, Fields(value, f"{doc} {derived.root}/{key}"))
        except CorruptRecord as exc:
            if corrupt is None:
                raise
            corrupt.note(doc, f"{derived.root}/{key}", exc)
    return found
