"""A ledger day counted in the venue's words, per register: the unit of "not at the console yet".

A cashier reads "2 receipts and 2 payments are not at the console yet", not a count of CRDT clock units (one
sale is 16 of those). Registers and the console count the same document with the same code, so a register
compares its own counts with the counts the console reports for the records it has *materialised* (its
reports), and "All data is synced" means exactly that no kind of record is missing there.

Counting follows the day, not history: :class:`LedgerTally` counts a document whole at its first read and
then only what changes added (records are insert-only; a deletion, such as a failed write taken back, counts
down). Each record is counted once by its key, whatever events report it. pycrdt does not report every
change inside nested types (see :meth:`LedgerTally.recount`), so a count that still looks short once the
document is quiet is checked by counting it afresh. A record whose register cannot be told (malformed, or a
cash move whose shift is in another day) is counted under :data:`UNKNOWN_REGISTER`.

**Changed** (issue 18, tally): what a change added is counted when the counts are next read, not inside the
change's transaction, and a whole day (a new tally, a recount) in that same pass, each order read once by
key through yrs; a new tally counts nothing before its first read. A whole order deleted is counted afresh
at the next read: its deleted map reads empty, so its payments stayed counted (a console then reported
more than it held).

**Changed** (issue 18, receiver; the twenty-second session): what a change hands over is counted in its
transaction (``_arrived``): a flat root's record from the event's text, an order's payments from its
text or, for an order arriving whole, its yrs map; only what names its register through its shift, an
older layout and a whole day wait for the read (a received sale was read from the document again there).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache, partial
from typing import Any

from pycrdt import Doc, Map
from pycrdt._pycrdt import Map as _RAW_MAP

from meshpos.model._root_events import RootChange, RootWatch, unwatch, watch
from meshpos.model._tally_reads import (
    PAYMENT,
    RECEIPT,
    field_of,
    glance,
    payment_entries,
    payments_of,
)
from meshpos.model.ledger_layout import receipt_payment, sale_move_count
from meshpos.model.records import INVENTORY_MOVES, LEDGER_RECORDS, RECEIPTS
from meshpos.model.replica import decode_state_vector

#: the kinds of record a register owes the console, as a person names them (singular, plural), from
#: the record specs
KINDS: dict[str, tuple[str, str]] = {
    spec.tally.kind: (spec.tally.singular, spec.tally.plural)
    for spec in LEDGER_RECORDS
    if spec.tally is not None
}
UNKNOWN_REGISTER = "?"
_STOCK = INVENTORY_MOVES.tally.kind if INVENTORY_MOVES.tally else ""  # a receipt's lines count here
# a day quiet this long (seconds) is counted afresh once: pycrdt misses some nested changes
RECOUNT_WHEN_QUIET = 2.0

Tally = dict[str, dict[str, int]]  # register -> kind -> count (kinds with 0 left out)

# root map of a ledger document -> (kind, the field naming the register that wrote it): the records
# that name their register themselves and live in a root of their own
_FLAT_ROOTS = {
    spec.root: (spec.tally.kind, spec.tally.by)
    for spec in LEDGER_RECORDS
    if spec.tally is not None and spec.tally.by is not None and spec.parse is not None
}


def covers(state: Mapping[int, int], needed: Mapping[int, int]) -> bool:
    """Whether a replica at ``state`` holds everything of one at ``needed`` (state vectors)."""
    return all(state.get(client, 0) >= clock for client, clock in needed.items())


def describe(counts: Mapping[str, int]) -> str:
    """``{"receipts": 2, "payments": 1}`` as "2 receipts and 1 payment".

    Remembered per counts (status2: a status says it for every device that owes something, and
    mostly the same counts as the last status), keyed on the counts as given (issue 18, status:
    sorting and filtering them cost more than the words; the words follow :data:`KINDS`' order and
    leave out kinds with none, so an order or a zero makes only another key)."""
    return _describe(tuple(counts.items()))


@lru_cache(maxsize=1024)
def _describe(counts: tuple[tuple[str, int], ...]) -> str:
    given = dict(counts)
    parts = [
        f"{n:,} {KINDS[kind][0] if n == 1 else KINDS[kind][1]}"
        for kind in KINDS
        if (n := given.get(kind, 0)) > 0
    ]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def missing(local: Tally, reported: Tally, register: str | None = None) -> dict[str, int]:
    """Per kind, how many records ``local`` holds that ``reported`` (the console's reports) does not:
    of one ``register``, or of all of them."""
    out: dict[str, int] = {}
    for reg, counts in local.items():
        if register is None or reg == register:
            add(out, _gap(counts, reported.get(reg, {})))
    return out


def missing_by_register(local: Tally, reported: Tally) -> Tally:
    """Per register, what :func:`missing` finds of it (registers with nothing missing left out): one
    pass over ``local`` (asking :func:`missing` per register read all of it per register)."""
    out: Tally = {}
    for register, counts in local.items():
        gap = _gap(counts, reported.get(register, {}))
        if gap:
            out[register] = gap
    return out


def _gap(counts: Mapping[str, int], theirs: Mapping[str, int]) -> dict[str, int]:
    """Per kind, how many of ``counts`` are above ``theirs`` (kinds with none above left out)."""
    return {kind: n - theirs.get(kind, 0) for kind, n in counts.items() if n > theirs.get(kind, 0)}


def add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for kind, n in counts.items():
        into[kind] = into.get(kind, 0) + n


class LedgerTally:
    """Live counts of one ``ledger/<date>`` document per register and kind. Its observers note the keys a
    change added (an order's id for a record inside it); a read counts each noted key once, from the
    document as it is then, in one transaction (:meth:`_settle`). Why (issue 18, tally): counted record
    by record inside each change, an order was read at its opening, again for its lines and again for
    its payment, and a day arriving at once was counted one observer event at a time: about half of a
    catch-up's apply (docs/architecture.md (Model); ``tests/model/test_tally_steps.py``)."""

    def __init__(self, doc: Doc[Any]) -> None:
        self._doc = doc
        self._counts: dict[str, dict[str, int]] = {}
        # moves whenever the counts may have (issue 18, rounds2: what is computed from them is kept)
        self._version = 0
        # (issue 18, status) registers whose counts moved since :meth:`take_moved`, and how many
        # times the day was counted afresh (every register may have moved then): what reads the
        # counts after each change reads only the registers a change moved
        self._moved: set[str] = set()
        self.recounts = 0
        self._receipts = 0  # receipts counted, of every register
        # kind -> record key -> register counted (one dict per kind and one string per register, not a
        # tuple and a string per record: a day holds four records a sale)
        self._registers: dict[str, dict[str, str]] = {}
        self._roots = {
            name: doc.get(name, type=Map)
            for name in (*_FLAT_ROOTS, "shift_closes", "cash_moves", "orders")
        }
        # its part of the day's shared observers (model/_root_events: the day index follows the same)
        self._watches: list[RootWatch] = []
        # receipt id -> a state vector of this document that holds it (shared by every receipt settled
        # at once): a device whose state covers it holds the receipt (see :meth:`receipt_state`)
        self._receipts_at: dict[str, dict[int, int]] = {}
        self._unsettled: list[str] = []
        # receipt key -> how many stock movements it stands for (ledger_layout.sale_moves), counted with it
        self._sale_moves: dict[str, int] = {}
        # (issue 18, tally) root -> the keys changes added since the counts were last read (an order's
        # id for a record added inside it); ``_whole``: every key of every root is due (a new tally, a
        # recount). The roots in counting order: shifts before what names its register by its shift.
        self._raw = [(name, root.integrated) for name, root in self._roots.items()]
        self._touched: dict[str, set[str]] = {name: set() for name in self._roots}
        self._due = False  # a key is noted in ``_touched``
        self._whole = True
        # a whole order was deleted: its map reads empty then, so what it held is found by counting
        # the day afresh at the next read (a write taken back that made an order: rare)
        self._redo = False
        for name in self._roots:
            if name == "orders":
                self._watches.append(watch(doc, self._on_orders))
            else:
                self._watches.append(watch(doc, partial(self._on_root, name), name, deep=False))

    @property
    def doc(self) -> Doc[Any]:
        return self._doc

    @property
    def version(self) -> int:  # moves whenever the counts may have
        self._settle()
        return self._version

    @property
    def receipts(self) -> int:  # receipts counted, of every register
        self._settle()
        return self._receipts

    def close(self) -> None:
        for held in self._watches:
            unwatch(held)
        self._watches.clear()

    def receipt_state(self, receipt_id: str) -> dict[int, int] | None:
        """A state vector of this document that includes ``receipt_id`` (the document's state when the
        receipt was first seen after it arrived), or None if the day has no such receipt. It may
        include later changes too, so a device found to cover it surely holds the receipt."""
        self._settle()
        if self._unsettled:  # settled lazily: never from inside the document's own transaction
            now = decode_state_vector(self._doc.get_state())
            for key in self._unsettled:
                self._receipts_at[key] = now
            self._unsettled.clear()
        return self._receipts_at.get(receipt_id)

    def recount(self) -> bool:
        """Count the whole document afresh; whether the live counts had drifted from it.

        pycrdt reports no change inside a nested type (an order's payments) whose creating item lies
        beyond a gap in its author's clock (measured: a payment written into such an order fires no
        Map event at all, though the document's update event fires). Callers recount once a document
        has been quiet for a while and something still looks missing; it costs a full read of the day."""
        before = self.counts()
        self._afresh()
        self._settle()
        return self.counts() != before

    def _afresh(self) -> None:
        """Forget every count: the next read counts the whole day (every register may move)."""
        self._counts.clear()
        self._registers.clear()
        self._sale_moves.clear()
        self._receipts = 0
        self._whole, self._redo = True, False
        self._version += 1
        self.recounts += 1

    def counts(self) -> Tally:
        """A copy: register -> kind -> count."""
        self._settle()
        return {reg: dict(kinds) for reg, kinds in self._counts.items() if kinds}

    def register_counts(self, register: str) -> dict[str, int]:
        """A copy: kind -> count, of one register."""
        self._settle()
        return dict(self._counts.get(register, {}))

    def take_moved(self) -> set[str]:
        """The registers whose counts moved since the last call (a recount moves ``recounts``
        instead: every register may have moved)."""
        self._settle()
        moved, self._moved = self._moved, set()
        return moved

    # --- counting ---------------------------------------------------------------------------------

    def _record(self, kind: str, key: str, register: object, moves: int = 0) -> None:
        """Count a record once, however many events report it (a change that arrives before its
        parent is reported with the parent and may be reported again on its own); a receipt with the
        ``moves`` stock movements it stands for (of its register, as the console derives them)."""
        seen = self._registers.setdefault(kind, {})
        if key in seen:
            return
        reg = register if isinstance(register, str) and register else UNKNOWN_REGISTER
        seen[key] = reg = sys.intern(reg)
        self._version += 1
        self._moved.add(reg)
        if kind == "receipts":
            self._receipts += 1
        kinds = self._counts.setdefault(reg, {})
        kinds[kind] = kinds.get(kind, 0) + 1
        if moves:
            self._sale_moves[key] = moves
            kinds[_STOCK] = kinds.get(_STOCK, 0) + moves
        if kind == "receipts" and key not in self._receipts_at:
            self._unsettled.append(key)

    def _forget(self, kind: str, key: str) -> None:
        reg = self._registers.get(kind, {}).pop(key, None)
        if reg is None:
            return
        self._version += 1
        self._moved.add(reg)
        if kind == "receipts":
            self._receipts -= 1
        kinds = self._counts[reg]
        moves = self._sale_moves.pop(key, 0) if kind == "receipts" else 0
        for counted, n in ((kind, 1), (_STOCK, moves)):
            if n:
                kinds[counted] -= n
                if not kinds[counted]:
                    del kinds[counted]
        if kind == "receipts":
            self._receipts_at.pop(key, None)

    def _register_of_shift(self, shift_id: object) -> object:
        if not isinstance(shift_id, str):
            return None
        shift = self._roots["shifts"].get(shift_id)
        return field_of(shift, "register")

    def _count_record(self, root: str, key: str, value: object, added: bool) -> None:
        moves = 0
        if root in _FLAT_ROOTS:
            kind, field = _FLAT_ROOTS[root]
            key = f"open {key}" if root == "shifts" else key
            if added and key in self._registers.get(kind, ()):
                return  # counted already: not read again
            if root == RECEIPTS.root and added and not isinstance(value, Map):
                fields = glance(value)  # read once: its register and the stock moves it stands for
                register = None if fields is None else fields.get(field)
                moves = sale_move_count(fields)
            else:
                register = field_of(value, field)
        elif root == "shift_closes":
            kind, key, register = "shift_events", f"close {key}", self._register_of_shift(key)
        elif root == "cash_moves":
            kind, register = "cash_moves", self._register_of_shift(field_of(value, "shift_id"))
        else:
            return
        if added:
            self._record(kind, key, register, moves)
        else:
            self._forget(kind, key)

    def _count_payments(self, payments: Iterable[tuple[str, object]], added: bool) -> None:
        for key, payment in payments:
            if added:
                register = payment.get("register") if type(payment) is dict else None
                self._record("payments", key, register or field_of(payment, "register"))
            else:
                self._forget("payments", key)

    def _settle(self) -> None:
        """Count what changes added since the counts were last read (every key of the day after a new
        tally or a recount): each noted key once, read as it is now, all in one transaction."""
        if not (self._due or self._whole):
            return
        if self._redo:
            self._afresh()
        whole, self._whole, self._due = self._whole, False, False
        with self._doc.transaction() as txn:
            held = txn._txn
            for name, raw in self._raw:
                keys: Iterable[str]
                if whole:
                    keys = raw.keys(held)
                    self._touched[name].clear()
                else:
                    keys, self._touched[name] = self._touched[name], set()
                    if not keys:
                        continue
                if name == "orders":
                    self._count_orders(keys, raw, held, whole)
                    continue
                for key in keys:
                    if whole or raw.has(held, key):
                        value = raw.get(held, key)
                        if not isinstance(value, str):
                            value = self._roots[name][key]  # a nested type, as pycrdt wraps it
                        self._count_record(name, key, value, True)
        if whole and self._unsettled:  # the state they were counted from, as a new tally's
            loaded = decode_state_vector(self._doc.get_state())
            self._receipts_at.update(dict.fromkeys(self._unsettled, loaded))
            self._unsettled.clear()

    def _count_orders(self, keys: Iterable[str], raw: Any, held: Any, listed: bool) -> None:
        """Count the payments of the orders ``keys`` (``listed``: all exist) read by key through yrs
        (:func:`~meshpos.model._tally_reads.payment_entries`; a ``payments/<id>`` already counted is not read again)."""
        counted = self._registers.setdefault("payments", {})
        for key in keys:
            if listed or raw.has(held, key):
                order = raw.get(held, key)
                found = payment_entries(order, held, counted) if type(order) is _RAW_MAP else None
                if found is None:  # an older node's order, or not a map: read whole as before
                    found = payments_of(self._roots["orders"][key])
                self._count_payments(found, True)

    def _arrived(self, path: list[str | int], key: str, value: object) -> bool:
        """Count the payments an order's change added from what the change holds, inside its
        transaction: an order added whole (yrs' own map, read by key) or a payment's or a receipt's
        text added to one; whether it was counted (False: nothing of a payment, or a layout read
        when the counts are next read, as before). **Changed** (issue 18, receiver; the
        twenty-second session): they were noted and read again from the document at the next
        read (the ticker's, 10 a second), and a received sale's receipt text, handed over by the
        event already, read and copied out of yrs a second time."""
        if not path:
            if type(value) is not _RAW_MAP:
                return False
            held = self._doc._txn  # the observer's own transaction (model/_root_events)
            if held is None or held._txn is None:
                return False
            found = payment_entries(value, held._txn, self._registers.get("payments", ()))
            if found is None:  # an older node's order: read whole when counted
                return False
            self._count_payments(found, True)
            return True
        if len(path) != 1 or not key.startswith((PAYMENT, RECEIPT)):
            return len(path) != 2 or path[-1] != "payments"  # (an older node's part map: later)
        if not isinstance(value, str):
            return False
        if key.startswith(PAYMENT):
            self._count_payments([(key.removeprefix(PAYMENT), value)], True)
        elif paid := receipt_payment(key.removeprefix(RECEIPT), value, glance):
            self._count_payments([paid], True)
        return True

    def _on_root(self, name: str, changes: list[RootChange]) -> None:  # a flat root's own changes
        eager = name in _FLAT_ROOTS  # (its records name their register themselves)
        for _, keys in changes:
            for key, change in (keys or {}).items():
                action = change.get("action")
                if action == "add":
                    if self._whole:
                        continue
                    value = change.get("newValue")
                    if eager and isinstance(value, str):
                        self._count_record(name, key, value, True)  # (the text is at hand)
                    else:
                        self._touched[name].add(key)
                        self._due = True
                elif action == "delete":
                    self._count_record(name, key, change.get("oldValue"), False)

    def _on_orders(self, changes: list[RootChange]) -> None:
        touched = self._touched["orders"]
        for path, keys in changes:
            if keys is None:  # not a map's change
                continue
            for key, change in keys.items():
                action = change.get("action")
                if action == "add":  # an order, or a record in it
                    if not self._whole and not self._arrived(path, key, change.get("newValue")):
                        touched.add(str(path[0]) if path else key)  # read when counted
                        self._due = True
                    continue
                if action != "delete":
                    continue
                value = change.get("oldValue")
                if not path:  # a whole order: what it held is gone too (the map reads empty)
                    self._redo = self._due = True
                elif len(path) == 1 and key.startswith(PAYMENT):  # a record in an order's map
                    self._count_payments([(key.removeprefix(PAYMENT), value)], False)
                elif len(path) == 1 and key.startswith(RECEIPT):  # a receipt and its payment
                    paid = receipt_payment(key.removeprefix(RECEIPT), value, glance)
                    self._count_payments([paid] if paid is not None else [], False)
                elif path[-1] == "payments" and len(path) == 2:  # an older node's part map
                    self._count_payments([(key, value)], False)
