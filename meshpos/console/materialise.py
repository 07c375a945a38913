"""Turn a ``ledger/<date>`` document into relational rows, through the model's typed reads only.

The model validates every field and converts pycrdt's floats back to integers, so no float and no
unchecked value reaches a table. A corrupt record (a peer may write anything) is skipped and becomes a
``corrupt_record`` alarm naming it, and the rest of the day is materialised: one bad record must not keep
a day out of the reports. The totals are then short by what was skipped, and say so: the hub counts those
alarms as records not in the reports, and every register shows that count instead of "All data is
synced".

A console keeps materialising the same day as its updates arrive. :class:`LedgerFeed` makes that cost
what changed rather than what the day holds: the first export is the whole day, later ones only the
records touched since (seen by observing the document) plus the records their rows are read with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from pycrdt import Array, Doc, Map, Subscription

from meshpos.console.records import LedgerConflict, MaterialiseResult, RecordBatch, Row
from meshpos.console.sqldays import check_document
from meshpos.model import CorruptRegistry, Ledger
from meshpos.model._records import decoded
from meshpos.model.documents import is_ledger
from meshpos.model.ledger_layout import order_parts
from meshpos.model.records import LEDGER_RECORDS, ORDERS, RECEIPTS, REFUNDS, SHIFTS

CORRUPT_RECORD = "corrupt_record"  # the alarm of a record the console skipped: not in its reports

if TYPE_CHECKING:
    from meshpos.console.db import ConsoleDB


def ledger_rows(ledger: Ledger) -> RecordBatch:
    """Rows for every record table, each as its spec declares them; pure, so it is tested without a
    database."""
    rows: dict[str, tuple[Row, ...]] = {}
    for spec in LEDGER_RECORDS:
        rows[spec.table] = tuple(
            Row(record.id, *spec.values(record, ledger.date), late=spec.late)
            for record in ledger.records(spec)
        )
    conflicts = tuple(LedgerConflict(c.kind, c.order_id, c.detail) for c in ledger.conflicts())
    if ledger.corrupt is not None:  # what the reads skipped: the rest of the day is still reported
        conflicts += tuple(
            LedgerConflict(CORRUPT_RECORD, entry.key, entry.reason)
            for entry in ledger.corrupt.entries()
        )
    return RecordBatch(ledger.name, rows, conflicts)


async def materialise(
    db: ConsoleDB, venue_id: str, doc_name: str, doc: Doc[Any], *, at_ms: int | None = None
) -> MaterialiseResult:
    """Upsert what ``doc`` holds into the relational tables; safe to repeat at any time.

    Only ``ledger/<date>`` documents have relational rows; any other valid document name gives an
    empty result. Reads ``doc`` on the calling thread (a pycrdt Doc must stay on one thread).
    """
    check_document(doc_name)
    if not is_ledger(doc_name):
        return MaterialiseResult(venue_id, doc_name, {})
    batch = ledger_rows(Ledger.snapshot(doc, doc_name.split("/", 1)[1], corrupt=CorruptRegistry()))
    return await db.write_records(venue_id, batch, at_ms=at_ms)


async def materialise_stored(
    db: ConsoleDB, venue_id: str, doc_name: str, *, at_ms: int | None = None
) -> MaterialiseResult:
    """Materialise what the console holds of a document (after ``append_updates``)."""
    check_document(doc_name)
    if not is_ledger(doc_name):
        return MaterialiseResult(venue_id, doc_name, {})
    state = await db.load_document(venue_id, doc_name)
    if state is None:
        return MaterialiseResult(venue_id, doc_name, {})
    # Reading a big day takes seconds of Python: do it on a worker thread so the console keeps
    # serving. The Doc is created and read there and never leaves it (a Doc must stay on one thread).
    batch = await asyncio.to_thread(_rows_from_state, state, doc_name.split("/", 1)[1])
    return await db.write_records(venue_id, batch, at_ms=at_ms)


def _rows_from_state(state: bytes, date: str) -> RecordBatch:
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return ledger_rows(Ledger(doc, date, corrupt=CorruptRegistry()))


def rows_from_export(texts: dict[str, str], date: str) -> RecordBatch:
    """Rows of an export (:meth:`LedgerFeed.export`, ``Ledger.export``): runs on any thread."""
    return ledger_rows(Ledger.from_export(texts, date, corrupt=CorruptRegistry()))


# How ledger_rows() reads a ledger document, per root (each spec says which roots its parser reads).
# orders/<id> meets receipts/<id> in conflicts(): an order is checked against every receipt it lists
# (orders/<id>/receipts), so those two are read together:
_LINKED = frozenset({ORDERS.root, RECEIPTS.root})
# a shift's row reads shifts/<id> and shift_closes/<id>:
_SHIFTS = frozenset(SHIFTS.reads)
# a record of these roots makes rows from itself:
_STANDALONE = frozenset(
    spec.root
    for spec in LEDGER_RECORDS
    if spec.parse is not None and spec.reads == (spec.root,) and spec.root not in _LINKED
)
# A root the model reads that is in none of these: a change in it makes the next export the whole
# day, never rows computed from a part of what they read.
_KNOWN = _STANDALONE | _SHIFTS | _LINKED
_MISSING = object()
MAX_PARTIAL = 20_000
"""Above this many touched records one export of the whole day is cheaper than record by record."""
INLINE_EXPORT_CHARS = 128 << 10
"""An export this small (~1.5 KB and ~0.15 ms of rows per sale: a burst of up to ~80 sales, ~13 ms) is
read on the event loop: handing a burst to a worker thread and back (and the two threads taking the
GIL from each other) cost the console more CPU than the rows. A whole day still goes to a thread."""


class LedgerFeed:
    """What the console materialises of one ``ledger/<date>`` document, time after time.

    The first export is the whole day; from then on the feed observes the document and an export
    holds only the records touched since the last one, with the records their rows are read with (a
    shift and its close; an order and the receipts it lists; a receipt and the orders that list it).
    After an export that was not materialised (:meth:`reset`) the next is whole again.

    Lives on the document's thread (the event loop): exports and observers run there; the texts go
    to ``rows_from_export`` on any thread.
    """

    def __init__(self, doc: Doc[Any], date: str) -> None:
        self.doc = doc
        self.date = date
        self.whole = True
        """Whether the last export was the whole day."""
        self._roots: dict[str, Map[Any]] = {}  # kept: a collected Map drops its subscription
        self._subscriptions: list[tuple[Map[Any], Subscription]] = []
        self._touched: set[tuple[str, str]] | None = None  # None: the next export is the whole day
        self._listed_by: dict[str, set[str]] = {}  # receipt id -> orders that list it (rows seen)

    async def materialise(
        self,
        db: ConsoleDB,
        venue_id: str,
        *,
        at_ms: int | None = None,
        version: int | None = None,
    ) -> MaterialiseResult:
        """Materialise what changed since the last call: export here (the doc's thread), build the
        rows (on a worker thread when big: seconds of Python for a whole day), write them in one
        transaction."""
        try:
            texts = self.export()
            if sum(map(len, texts.values())) <= INLINE_EXPORT_CHARS:
                batch = rows_from_export(texts, self.date)
            else:
                batch = await asyncio.to_thread(rows_from_export, texts, self.date)
            result = await db.write_records(venue_id, batch, at_ms=at_ms, version=version)
        except BaseException:
            self.reset()  # what this export held is not in the tables: read the whole day next
            raise
        self.learn(batch)
        return result

    def export(self) -> dict[str, str]:
        """Each root as JSON text: the whole day, or only what changed since the last export."""
        touched, self._touched = self._touched, set()
        if touched is not None and len(touched) <= MAX_PARTIAL:
            try:
                texts = self._export_part(touched)
            except Exception:  # anything odd in the records: read the whole day
                pass
            else:
                self.whole = False
                return texts
        texts = Ledger.export(self.doc)
        self._observe(texts)
        self.whole = True
        return texts

    def learn(self, batch: RecordBatch) -> None:
        """Note which orders list which receipts, from rows built from an export: a receipt that
        arrives or changes later is read with every order that lists it, whatever order it names."""
        for row in batch.rows.get("orders", ()):
            listed = row.state.get("receipt_ids")
            for receipt in json.loads(listed) if isinstance(listed, str) else ():
                self._listed_by.setdefault(receipt, set()).add(row.id)

    def reset(self) -> None:
        """The last export was not materialised (an error): the next one reads the whole day."""
        self._touched = None

    def close(self) -> None:
        for root, subscription in self._subscriptions:
            root.unobserve(subscription)
        self._subscriptions.clear()
        self._roots.clear()
        self._listed_by.clear()
        self._touched = None

    def _observe(self, roots: Iterable[str]) -> None:
        for name in roots:
            if name not in self._roots:
                root = self.doc.get(name, type=Map)
                self._roots[name] = root
                self._subscriptions.append((root, root.observe_deep(partial(self._seen, name))))

    def _seen(self, root: str, events: list[Any]) -> None:
        """Observer: remember the records a transaction touched. Never raises (that would fail the
        transaction that applied a relay's update); when unsure, reads the whole day next time."""
        touched = self._touched
        if touched is None:
            return
        try:
            for event in events:
                path = event.path
                if path:
                    touched.add((root, str(path[0])))
                else:
                    touched.update((root, str(key)) for key in event.keys)
        except Exception:
            self._touched = None

    def _export_part(self, touched: set[tuple[str, str]]) -> dict[str, str]:
        want: dict[str, set[str]] = {name: set() for name in self._roots}
        for root, key in touched:
            if root not in _KNOWN or root not in want:
                raise LookupError(f"{root}: not known to be read record by record")
            want[root].add(key)
        both = want["shifts"] | want["shift_closes"]
        want["shifts"], want["shift_closes"] = set(both), set(both)
        if want.get(REFUNDS.root):  # read with its receipt and every refund of it (over_refunds)
            self._with_refunds_of(want)
        records: dict[str, dict[str, str]] = {name: {} for name in want}
        receipts = records["receipts"]
        for key in want["receipts"]:
            value = self._roots["receipts"].get(key, _MISSING)
            if value is not _MISSING:
                receipts[key] = _record_json(value)
            want["orders"].update(self._listed_by.get(key, ()))
        for key in want["orders"]:
            value = self._roots["orders"].get(key, _MISSING)
            if value is _MISSING:
                continue
            text = records["orders"][key] = _record_json(value)
            # the receipts it lists, of either layout (receipts/<id> keys, an older part map)
            for receipt in order_parts(json.loads(text), key)["receipts"]:
                if receipt not in receipts:
                    other = self._roots["receipts"].get(receipt, _MISSING)
                    if other is not _MISSING:
                        receipts[receipt] = _record_json(other)
        for name, keys in want.items():
            if name not in ("orders", "receipts"):
                for key in keys:
                    value = self._roots[name].get(key, _MISSING)
                    if value is not _MISSING:
                        records[name][key] = _record_json(value)
        return {
            name: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in found.items()) + "}"
            for name, found in records.items()
        }

    def _with_refunds_of(self, want: dict[str, set[str]]) -> None:
        """Add to ``want`` the receipts of the refunds in it and every refund of those receipts:
        ``conflicts.over_refunds`` compares a receipt's lines with all its refunds, and the refund
        that makes it one too many may come in an upload of its own. A scan of the day's refunds,
        which are few, and only when one was touched."""
        if RECEIPTS.root not in want:
            raise LookupError("a refund without a receipts root: read the whole day")
        refunds = self._roots[REFUNDS.root]
        receipts = {_receipt_of(refunds.get(key)) for key in want[REFUNDS.root]} - {""}
        for key, value in refunds.items():
            if _receipt_of(value) in receipts:
                want[REFUNDS.root].add(str(key))
        want[RECEIPTS.root] |= receipts


def _receipt_of(value: object) -> str:
    """The receipt a stored refund names ("" when it names none, or does not read)."""
    fields = decoded(value)
    receipt = None if fields is None else fields.get("receipt_id")
    return receipt if isinstance(receipt, str) else ""


def _record_json(value: object) -> str:
    """One record as the whole-day export writes it (up to how numbers are spelt, which the model
    reads alike); anything but a plain record raises, and the export reads the whole day instead."""
    if isinstance(value, Map | Array):
        return str(value)
    if value is None or isinstance(value, dict | list | str | int | float | bool):
        return json.dumps(value, allow_nan=False)
    raise TypeError(f"a {type(value).__name__} in a ledger document")
