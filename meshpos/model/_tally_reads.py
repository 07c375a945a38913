"""How the day's counts (:mod:`meshpos.model.tally`) read a stored record: the few fields they count,
glanced at by orjson, and an order's payments read by key through yrs without the rest of the order.

Split out of model/tally.py in the twenty-second session (part ``receiver``), behaviour unchanged: the
tally module was at the size limit, and these reads are a part of their own (what a record says),
apart from the counting (what was counted and when).
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping
from typing import Any

import orjson
from pycrdt import Map

from meshpos.model._records import decoded
from meshpos.model.ledger_layout import order_key, receipt_payment

PAYMENT = order_key("payments", "")  # an order's map key of a payment, less its id
RECEIPT = order_key("receipts", "")  # of a receipt (holding the payment that issued it)
_PAYMENT_AT, _RECEIPT_AT = len(PAYMENT), len(RECEIPT)


def field_of(record: object, name: str) -> object:
    """A field of a stored record: its JSON text, or the map an older node (or a nested type) holds."""
    if isinstance(record, Map):
        return record.get(name)
    fields = glance(record)
    return None if fields is None else fields.get(name)


_DEEP = 500  # brackets in a text past which glance leaves it to the model's parse


def glance(record: object) -> Mapping[str, Any] | None:
    """A stored record's fields for counting, read by orjson, or by the model's own parse
    (``_records.decoded``) when orjson refuses the text, so a record reads as it does everywhere else.

    Why orjson here: a day arriving at once (a register catching up after a restart) is counted record
    by record, three decodes a sale, and the standard decoder made the counting most of a catch-up's
    CPU (issue 18; ~3x faster on these records, docs/benchmarks.md). Why only for what the counts
    glance at: where orjson accepts a text the standard decoder takes it alike for these fields (a
    register's name, a payment's id, ``stock`` and the number of lines; the last of duplicate keys
    wins in both); it refuses more (a lone surrogate, ``NaN``, a number past a double) and those fall
    back. It reads integers past 64 bits as floats: the counts read a name (a register, a shift, a
    payment id) only as a non-empty text, so such a number counts as no name in both. It nests up to
    1,024 deep where the standard decoder stops at Python's recursion limit: a text that could nest that deep
    (:data:`_DEEP` brackets; an honest record has a dozen) is read by the model's parse."""
    deep = isinstance(record, str) and len(record) >= _DEEP  # (shorter: fewer brackets)
    if isinstance(record, str) and not (deep and record.count("[") + record.count("{") >= _DEEP):
        try:
            fields = orjson.loads(record)
        except orjson.JSONDecodeError:
            return decoded(record)
        return fields if isinstance(fields, dict) else None
    return decoded(record)


def payments_of(order: object) -> list[tuple[str, object]]:
    """An order's payments (key and stored value), of either layout (``payments/<id>`` keys, or an older
    node's ``payments`` map); none of a malformed order."""
    if isinstance(order, Map):
        with order.doc.transaction() as txn:
            entries = payment_entries(order.integrated, txn._txn)
        if entries is not None:
            return entries
        text = str(order)
        try:
            order = orjson.loads(text)
        except orjson.JSONDecodeError:  # (what orjson refuses is read as before)
            order = json.loads(text)
    if not isinstance(order, dict):
        return []
    older = order.get("payments")
    found = list(older.items()) if isinstance(older, dict) else []
    for k, v in order.items():
        if k.startswith(PAYMENT):
            found.append((k.removeprefix(PAYMENT), v))
        elif k.startswith(RECEIPT) and (
            paid := receipt_payment(k.removeprefix(RECEIPT), v, glance)
        ):
            found.append(paid)
    return found


def payment_entries(
    raw: Any, held: Any, counted: Container[str] = ()
) -> list[tuple[str, object]] | None:
    """The payments of an order's ``payments/<id>`` and ``receipts/<id>`` entries (yrs' own map
    ``raw`` in transaction ``held``), read by key without the rest of the order, less the
    ``payments/<id>`` whose id is in ``counted``; None when the order holds anything but texts there
    or an older node's ``payments`` map, which :func:`payments_of` reads whole as before.

    Why: an order arriving whole (a day caught up at once) was turned into JSON whole, its lines too,
    to find its one or two payments (``str(map)``: ~7 of the ~19 us a sale cost to count)."""
    found: list[tuple[str, object]] = []
    for key in raw.keys(held):
        if key.startswith(PAYMENT):
            if key[_PAYMENT_AT:] in counted:
                continue
        elif not key.startswith(RECEIPT):
            if key == "payments":
                return None
            continue
        value = raw.get(held, key)
        if not isinstance(value, str):
            return None
        if key.startswith(PAYMENT):
            found.append((key[_PAYMENT_AT:], value))
        elif paid := receipt_payment(key[_RECEIPT_AT:], value, glance):
            found.append(paid)
    return found
