"""One business day of money facts: shifts, orders and their lines, payments, receipts, refunds, cash and stock.

Layout of a ``ledger/<date>`` document (all records are written once and never edited):

    shifts/<id>, shift_closes/<shift id>, receipts/<id>, refunds/<id>, cash_moves/<id>, inventory/<id>
    orders/<id> -> Map(info, lines/<id>, removed/<line id>, discounts/<id>, payments/<id>,
                       voids/<id>, receipts/<id>, sent/<line id>)

An order's map is created once by the register that opens it; every register only adds records keyed by fresh ids
to it, so concurrent additions merge (two payments taken on two registers during a partition are both
kept, and found as a conflict). Every record is one value: a record of fields is its compact-JSON text
(``_writes.record_text``), never merged field by field; a kitchen send is a plain value. What is not one
record under its own key (an order's records, the payment under its receipt's key, a receipt's stock
movements) and what an older node wrote are read through ``ledger_layout``. Status and totals are
derived from the records. This module reads and writes records: each kind's root and parser come from
its spec in ``records`` (its type is in ``ledger_types``); the rules (rights, stops, shift state,
over-payment) live in ``venue``. See docs/architecture.md (Documents).

Every write goes through ``_writes.put`` (checked, and taken back whole on failure). Given a
:class:`CorruptRegistry`, the listing reads skip a record that does not parse and note it there; without one
they are strict and raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

from pycrdt import Doc, Map

from meshpos.errors import CorruptRecord, MeshposError, UnknownRecord
from meshpos.model._map_reads import holds
from meshpos.model._order_kept import NEW, kept_known, kept_orders, parse_kept, wrote
from meshpos.model._records import (
    CorruptRegistry,
    Fields,
    JsonDict,
    decoded,
    lookup_key,
    parse_each,
    parse_one,
    value_at,
)
from meshpos.model._writes import put, put_record, record_text
from meshpos.model.conflicts import order_conflicts, over_refunds
from meshpos.model.documents import ledger_name
from meshpos.model.issued import issued_numbers
from meshpos.model.ledger_kept import a_shift_open, open_shifts
from meshpos.model.ledger_layout import PAYMENT_ID_FIELD, derived_records, order_key, order_parts
from meshpos.model.ledger_layout import settled as order_settled
from meshpos.model.ledger_types import (
    CashMove,
    Conflict,
    InventoryMove,
    Order,
    Payment,
    Receipt,
    Refund,
    Shift,
)
from meshpos.model.record_spec import RecordSpec
from meshpos.model.records import (
    CASH_MOVES,
    INVENTORY_MOVES,
    LEDGER_ROOTS,
    ORDERS,
    RECEIPTS,
    REFUNDS,
    SHIFTS,
    parse_payment,
    refund_of,
)

T = TypeVar("T")


_ROOTS = LEDGER_ROOTS


class Ledger:
    """Typed records of one ``ledger/<date>`` document."""

    def __init__(
        self,
        doc: Doc[Any],
        date: str,
        *,
        snapshot: bool = False,
        corrupt: CorruptRegistry | None = None,
    ) -> None:
        """``snapshot=True`` reads the whole document once into plain values (one call into pycrdt per
        root instead of one per field): much faster for reading many records, and read-only.
        ``corrupt``: where listing reads note the records they skip; None makes them strict."""
        self.doc = doc
        self.date = date
        self.name = ledger_name(date)
        self.readonly = snapshot
        self.corrupt = corrupt
        self._orders: list[Order] | None = None
        self._roots: dict[str, Any] = {key: doc.get(key, type=Map) for key in _ROOTS}
        if snapshot:
            self._roots = {key: json.loads(text) for key, text in self.export(doc).items()}

    @classmethod
    def snapshot(cls, doc: Doc[Any], date: str, corrupt: CorruptRegistry | None = None) -> Ledger:
        return cls(doc, date, snapshot=True, corrupt=corrupt)

    @staticmethod
    def export(doc: Doc[Any]) -> dict[str, str]:
        """Each root as JSON text (pycrdt's Rust export: fast, and the only part that needs the doc's
        thread); :meth:`from_export` can then read it on any thread."""
        return {key: str(doc.get(key, type=Map)) for key in _ROOTS}

    @classmethod
    def from_export(
        cls, texts: dict[str, str], date: str, corrupt: CorruptRegistry | None = None
    ) -> Ledger:
        ledger = cls.__new__(cls)
        ledger.doc = Doc()  # placeholder: a read-only ledger never touches it
        ledger.date = date
        ledger.name = ledger_name(date)
        ledger.readonly = True
        ledger.corrupt = corrupt
        ledger._orders = None
        ledger._roots = {key: json.loads(texts.get(key) or "{}") for key in _ROOTS}
        return ledger

    def _writable(self, root: str) -> Any:
        if self.readonly:
            raise MeshposError(f"{self.name}: a snapshot is read-only")
        return self._roots[root]

    def _put(self, root: str, key: str, record: JsonDict) -> None:
        """An insert-only fact, as its JSON text (its values checked against the bounds first)."""
        put_record(self._writable(root), key, record, f"{self.name} {root}/{key}")

    def _rec(self, root: str, key: str) -> Fields:
        value = value_at(self._roots[root], key)
        if value is None:
            raise UnknownRecord(f"{self.name}: unknown {root[:-1].replace('_', ' ')} {key!r}")
        return Fields(value, f"{self.name} {root}/{key}")

    def _each(
        self, root: str, parse: Callable[[str], T], keys: Iterable[str] | None = None
    ) -> Iterator[T]:
        """``parse(key)`` of every record of ``root`` (or of ``keys``), corrupt ones skipped and noted."""
        chosen = self._roots[root].keys() if keys is None else keys
        return parse_each(
            ((k, k) for k in chosen),
            lambda k, _: parse(k),
            doc=self.name,
            root=root,
            corrupt=self.corrupt,
        )

    # --- shifts ---------------------------------------------------------------------------------
    def shift(self, shift_id: str) -> Shift:
        lookup_key(shift_id, "shift id")
        return parse_one(
            f"shifts/{shift_id}",
            lambda: SHIFTS.parse_key(self, shift_id),
            doc=self.name,
            corrupt=self.corrupt,
        )

    def shifts(self) -> list[Shift]:
        return self.records(SHIFTS)

    def open_shifts_of(self, register: str) -> list[Shift]:
        """``register``'s open shifts, oldest first: the few records that match, not every shift."""
        return open_shifts(  # kept until the day's shifts or closes change (ledger_kept)
            self.doc,
            register,
            self._roots["shifts"],
            self._roots["shift_closes"],
            lambda mine: list(self._each("shifts", lambda k: SHIFTS.parse_key(self, k), mine)),
        )

    def has_shift(self, shift_id: str) -> bool:
        return holds(self._roots["shifts"], lookup_key(shift_id, "shift id"))

    def write_shift(
        self, shift_id: str, register: str, user: str, at_ms: int, opening_cash: int
    ) -> None:
        self._put(
            "shifts",
            shift_id,
            {"register": register, "user": user, "at": at_ms, "opening_cash": opening_cash},
        )

    def write_shift_close(
        self, shift_id: str, user: str, at_ms: int, counted: int, expected: int, *, z: bool = False
    ) -> None:
        """``z``: closed with a Z report (the field is written only then; a release that does not
        know it reads a plain close)."""
        close: dict[str, Any] = {
            "user": user,
            "at": at_ms,
            "counted_cash": counted,
            "expected_cash": expected,
            "difference": counted - expected,
        }
        if z:
            close["z"] = True
        self._put("shift_closes", shift_id, close)

    def has_open_shift(self) -> bool:
        """Is a shift opened on this day still open? (keys only, kept until they change)"""
        return a_shift_open(self.doc, self._roots["shifts"], self._roots["shift_closes"])

    # --- orders ---------------------------------------------------------------------------------
    def has_order(self, order_id: str) -> bool:
        return holds(self._roots["orders"], lookup_key(order_id, "order id"))

    def order_ids(self) -> list[str]:
        return list(self._roots["orders"].keys())

    def _order_map(self, order_id: str) -> Any:
        value = value_at(self._roots["orders"], order_id)
        if value is None:
            raise UnknownRecord(f"unknown order {order_id!r}")
        if not isinstance(value, Map | dict):
            raise CorruptRecord(f"{self.name} orders/{order_id}: expected a map")
        return value

    def write_order(self, order_id: str, info: JsonDict) -> None:
        """A new order: one map holding its ``info`` (as JSON text: it is written once) and, later, a
        key per record of its own (:meth:`write_order_record`)."""
        where = f"{self.name} orders/{order_id}"
        text = record_text(info, f"{where} info")
        kept = kept_orders(self.doc)  # (its map's values, for the next read: _order_kept)
        changes = kept.changes if kept is not None else 0
        put(self._writable("orders"), order_id, Map({"info": text}), where, checked=True)
        wrote(kept, changes, order_id, NEW, "info", text, where)

    def write_order_record(self, order_id: str, part: str, key: str, record: object) -> None:
        """A record of an open order's own (a line, a removal, a discount, a payment, a void, a
        receipt's number, a kitchen send) under ``<part>/<key>`` in the order's map; a record (a map of
        fields) is stored as its JSON text, it is never edited field by field. An order an older node
        opened keeps its part maps: the record goes into the part's map, where that node reads it."""
        self._writable("orders")
        order = self._order_map(order_id)
        where = f"{self.name} orders/{order_id}/{part}/{key}"
        value = record_text(record, where) if isinstance(record, dict) else record
        kept = kept_orders(self.doc)  # the map's values if still current: no text read
        known = kept_known(kept, order_id, self.doc, self._roots["orders"])
        older = value_at(order, part) if known is None or part in known.plain else None
        target, at = (older, key) if isinstance(older, Map) else (order, order_key(part, key))
        changes = kept.changes if kept is not None else 0
        put(target, at, value, where, checked=value is not record)
        if known is not None and target is order:
            wrote(kept, changes, order_id, known, at, value, f"{self.name} orders/{order_id}")

    def write_payment(self, order_id: str, payment_id: str, record: JsonDict) -> None:
        """A payment: an insert-only fact, as its JSON text in the order's map."""
        self.write_order_record(order_id, "payments", payment_id, record)

    def write_receipt_payment(
        self, order_id: str, receipt_id: str, seq: int, payment_id: str, record: JsonDict
    ) -> None:
        """The payment that completes an order and the receipt it issued, as one entry of the order's
        map: ``receipts/<receipt id>`` holding the payment's JSON text with its id
        (``ledger_layout.receipt_payment``). An order an older node opened keeps its part maps: the payment
        goes into ``payments`` and the receipt's sequence number into ``receipts``, where it reads them."""
        if isinstance(value_at(self._order_map(order_id), "payments"), Map):
            self.write_payment(order_id, payment_id, record)
            self.write_order_record(order_id, "receipts", receipt_id, seq)
            return
        self.write_order_record(
            order_id, "receipts", receipt_id, {**record, PAYMENT_ID_FIELD: payment_id}
        )

    def order_records(self, order_id: str, part: str) -> dict[str, object]:
        """An order's stored ``part`` records (key -> plain value, a record's JSON text decoded): what
        a copy of a line to another order or a new quantity starts from, every field kept."""
        om = self._order_map(order_id)
        if isinstance(om, Map):
            om = json.loads(str(om))
        where = f"{self.name} orders/{order_id}"
        return {k: decoded(v) or v for k, v in order_parts(om, where)[part].items()}

    def settled(self, order_id: str) -> bool:
        """Whether an order is paid or voided, from its keys alone (``ledger_layout.settled``)."""
        return order_settled(value_at(self._roots["orders"], order_id))

    def records_of(self, spec: RecordSpec[T], keys: Iterable[str]) -> list[T]:
        """The records of ``spec``'s kind under these keys that parse (a corrupt one skipped and noted)."""
        if spec is ORDERS:
            return cast(list[T], list(self._each("orders", self._order, keys)))
        return list(self._each(spec.root, lambda k: spec.parse_key(self, k), keys))

    def receipt_ids(self) -> list[str]:
        return self.record_ids(RECEIPTS)

    def record_ids(self, spec: RecordSpec[Any]) -> list[str]:
        """The keys of a top-level record kind (receipts, refunds, cash moves…), none read."""
        return list(self._roots[spec.root].keys())

    def order(self, order_id: str) -> Order:
        lookup_key(order_id, "order id")
        return parse_one(
            f"orders/{order_id}", lambda: self._order(order_id), doc=self.name, corrupt=self.corrupt
        )

    def _order(self, order_id: str) -> Order:
        kept = None if self.readonly else kept_orders(self.doc)  # until its map changes
        live = None if kept is None else (kept, self.doc, self._roots["orders"])
        return parse_kept(
            self.name, order_id, lambda: self._order_map(order_id), self.corrupt, live
        )

    def orders(self) -> list[Order]:
        """Every order of the day that parses; a corrupt one is skipped (and noted, given a registry)."""
        if self._orders is not None:
            return self._orders
        orders = sorted(self._each("orders", self._order), key=ORDERS.sort)
        if self.readonly:
            self._orders = orders  # a snapshot never changes: read each order once
        return orders

    def payments(self, order_ids: Iterable[str] | None = None) -> list[Payment]:
        """Every payment that parses (of these orders), read record by record: a payment counts in
        the drawer even when another part of its order is corrupt (the cash was taken all the same)."""
        found: list[Payment] = []
        for order_id in self.order_ids() if order_ids is None else order_ids:
            where = f"{self.name} orders/{order_id}"
            try:
                om = self._order_map(order_id)
                if isinstance(om, Map):
                    om = json.loads(str(om))
                part = order_parts(om, where)["payments"]
            except CorruptRecord as exc:
                if self.corrupt is None:
                    raise
                self.corrupt.note(self.name, f"orders/{order_id}", exc)
                continue

            def parse(
                key: str, value: object, order_id: str = order_id, where: str = where
            ) -> Payment:
                return parse_payment(order_id, key, Fields(value, f"{where} payments/{key}"))

            found += parse_each(
                part.items(),
                parse,
                doc=self.name,
                root=f"orders/{order_id}/payments",
                corrupt=self.corrupt,
            )
        return sorted(found, key=lambda p: (p.at_ms, p.id))

    # --- receipts, refunds, cash, stock ---------------------------------------------------------
    def write(self, root: str, key: str, record: JsonDict) -> None:
        self._put(root, key, record)

    def receipt(self, receipt_id: str) -> Receipt:
        lookup_key(receipt_id, "receipt id")
        return parse_one(
            f"receipts/{receipt_id}",
            lambda: RECEIPTS.parse_key(self, receipt_id),
            doc=self.name,
            corrupt=self.corrupt,
        )

    def has_receipt(self, receipt_id: str) -> bool:
        return holds(self._roots["receipts"], lookup_key(receipt_id, "receipt id"))

    def receipt_numbered(self, number: str) -> str | None:
        """The id of the day's receipt with this number, or None. A walk of the day's receipts (only
        those whose text holds the number are parsed): a lookup by number is a person typing in a
        paper receipt's number to reprint or refund it, not a hot path, and an index of numbers would
        cost every receipt memory."""
        for key, stored in self._roots["receipts"].items():
            if isinstance(stored, str) and number not in stored:
                continue
            value = decoded(stored)
            if value is not None and value.get("number") == number:
                return str(key)
        return None

    def receipt_count(self) -> int:
        """How many receipts the day holds, without reading them (status asks this often)."""
        return len(self._roots["receipts"])

    def receipts(self) -> list[Receipt]:
        return self.records(RECEIPTS)

    def issued_numbers(self) -> list[tuple[str, int]]:
        """(series, seq) of every receipt of the day, corrupt ones too (``model.issued``)."""
        return issued_numbers(self._roots["receipts"])

    def refunds(self, receipt_id: str | None = None) -> list[Refund]:
        found = self.records(REFUNDS)
        return [r for r in found if receipt_id is None or r.receipt_id == receipt_id]

    def corrupt_refund_of(self, receipt_id: str) -> str | None:
        """Why a refund naming ``receipt_id`` does not parse, or None: the quantities it gave back are
        unknown, so nothing more of that receipt may be refunded until it is dealt with."""
        for key, stored in self._roots["refunds"].items():
            value = decoded(stored)
            if value is not None and value.get("receipt_id") == receipt_id:
                try:
                    refund_of(key, Fields(value, f"{self.name} refunds/{key}"))
                except CorruptRecord as exc:
                    return exc.message
        return None

    def cash_moves(self) -> list[CashMove]:
        return self.records(CASH_MOVES)

    def inventory(self) -> list[InventoryMove]:
        """Every stock movement: the ``inventory`` records and those the receipts stand for (a
        sale's, one per line: ``ledger_layout.sale_moves``)."""
        return self.records(INVENTORY_MOVES)

    def inventory_move(self, move_id: str) -> InventoryMove:
        """One stored stock movement (a write-off, a supply, a refund's) by id."""
        lookup_key(move_id, "stock movement id")
        return parse_one(
            f"inventory/{move_id}",
            lambda: INVENTORY_MOVES.parse_key(self, move_id),
            doc=self.name,
            corrupt=self.corrupt,
        )

    def records(self, spec: RecordSpec[T]) -> list[T]:
        """Every record of ``spec``'s kind that parses, in its order; a corrupt one is skipped (and
        noted, given a registry). A record inside an order comes from the orders that parse."""
        if spec.in_order is not None:
            return [record for order in self.orders() for record in spec.in_order(order)]
        if spec is ORDERS:
            return cast(list[T], self.orders())
        found = list(self._each(spec.root, lambda k: spec.parse_key(self, k)))
        if spec.derived is not None:  # records others stand for (a receipt's stock movements)
            d = spec.derived
            found += derived_records(self._roots[d.root], d, self.name, self.corrupt)
        return sorted(found, key=spec.sort)

    # --- what a parser reads (records.RecordSource) ----------------------------------------------
    def record(self, root: str, key: str) -> Fields:
        return self._rec(root, key)

    def optional(self, root: str, key: str) -> Fields | None:
        value = value_at(self._roots[root], key)
        return None if value is None else Fields(value, f"{self.name} {root}/{key}")

    # --- derived views --------------------------------------------------------------------------
    def cash_flow(self, shift_id: str) -> int:
        """Cash this document moved through one shift's drawer: taken (with cash tips) + in - out - refunds."""
        taken = sum(
            p.amount + p.tip
            for p in self.payments()
            if p.shift_id == shift_id and p.method == "cash"
        )
        moves = sum(
            m.amount if m.kind == "in" else -m.amount
            for m in self.cash_moves()
            if m.shift_id == shift_id
        )
        refunded = sum(
            r.amount for r in self.refunds() if r.shift_id == shift_id and r.method == "cash"
        )
        return taken + moves - refunded

    def conflicts(self) -> list[Conflict]:
        """What two registers did at once that cannot both stand (meshpos/model/conflicts.py)."""
        found = order_conflicts(self.orders(), self._receipt_or_none)
        return found + over_refunds(self.refunds(), self._receipt_or_none)

    def _receipt_or_none(self, receipt_id: str) -> Receipt | None:
        """A receipt an order lists, or None when it is not here (yet) or is corrupt (then noted)."""
        if not self.has_receipt(receipt_id):
            return None
        try:
            return self.receipt(receipt_id)
        except CorruptRecord:
            if self.corrupt is None:
                raise
            return None
