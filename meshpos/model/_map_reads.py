"""One key of a pycrdt map read in one yrs transaction: what a tap's lookups cost.

**Changed** (issue 18, seller): pycrdt's ``m[key]`` asks ``key in m`` first, each through its own
transaction wrapper (~32 Python calls a lookup, ``key in m`` ~14), where yrs' own read transaction
takes ~8. A sale looks up its order, each key before it is written (``_writes.put``), and whether the
day holds its order ~15 times: ~300 Python calls of the seller's ~3900 a sale. These read what pycrdt
reads, through the same yrs calls (``has``, then ``get``): inside a transaction pycrdt holds open (an
operation's, an observer's) through that transaction, as pycrdt's nested use does; else in a read
transaction of their own, committed and dropped as pycrdt does (it changes nothing, so no observer is
told). A shared value (an order's map) comes back as pycrdt's type, as from ``m[key]``; anything that
is not an integrated ``Map`` read by a text key (a plain dict, a snapshot's values) is read as before,
by ``m[key]``. ``_order_kept.keys_in`` reads an order's key count the same way.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Map

ABSENT: Any = object()
"""What :func:`get` gives for a key the map does not hold, unless told otherwise."""

# what yrs hands back for a plain value (a shared type comes back as yrs' own class, for pycrdt to wrap)
_PLAIN = (str, float, int, bool, type(None), dict, list, bytes)


def get(m: Any, key: str, absent: Any = ABSENT) -> Any:
    """``m[key]``, or ``absent`` when ``m`` holds no ``key``."""
    raw = m._integrated if type(m) is Map else None
    if raw is None or type(key) is not str:  # (a dict, a map not integrated: pycrdt's own errors)
        try:
            return m[key]
        except KeyError:
            return absent
    doc = m._doc
    held = doc._txn  # (pycrdt's open transaction: nested reads use it)
    if held is not None:
        txn = held._txn
        found = raw.get(txn, key) if raw.has(txn, key) else absent
    else:
        txn = doc._doc.create_transaction()
        try:
            found = raw.get(txn, key) if raw.has(txn, key) else absent
        finally:
            txn.commit()
            txn.drop()
    if found is absent or type(found) in _PLAIN:
        return found
    return m._maybe_as_type_or_doc(found)


def holds(m: Any, key: str) -> bool:
    """``key in m``."""
    raw = m._integrated if type(m) is Map else None
    if raw is None or type(key) is not str:
        return key in m
    doc = m._doc
    held = doc._txn
    if held is not None:
        return bool(raw.has(held._txn, key))
    txn = doc._doc.create_transaction()
    try:
        return bool(raw.has(txn, key))
    finally:
        txn.commit()
        txn.drop()
