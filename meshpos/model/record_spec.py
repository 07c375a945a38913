"""The shape of a record spec: columns, child rows, tally kind and what a parser reads from.

The specs themselves, one per money record, are in :mod:`meshpos.model.records`; this module holds only
their types, so that the Ledger (which parses through a spec) and the specs (whose parsers read a Ledger as a
:class:`RecordSource`) depend on it and not on each other. See docs/architecture.md (Documents).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

from meshpos.errors import CorruptRecord
from meshpos.model._records import Fields
from meshpos.model.ledger_types import Order

R = TypeVar("R")
Value = int | str | None


@dataclass(frozen=True, slots=True)
class Column:
    """One relational column: its name, its kind (``"text"`` or ``"int"``) and how its value is read off
    the model's record (``get``; None for a column not read off a record, such as a child's position)."""

    name: str
    type: str
    get: Callable[[Any], Value] | None = None
    nullable: bool = False
    late: bool = False
    """A column added to a table that already held rows (the console's ``refunds.approved_by``):
    nullable, NULL in rows stored before it, and left out of a row's digest while it is empty, so
    those rows keep their digests and raise no ``changed_record`` alarm (console/records.py Row)."""


def col(name: str, kind: str = "text", attr: str | None = None) -> Column:
    """A column holding the record's attribute ``attr`` (by default the column's own name)."""
    return Column(name, kind, attrgetter(attr or name))


@dataclass(frozen=True, slots=True)
class Children:
    """Rows owned by one record (a receipt's lines), stored with it and numbered by ``position``."""

    table: str
    parent_key: str
    columns: tuple[Column, ...]
    items: Callable[[Any], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class TallyKind:
    """How a register counts a kind of record it owes the console, as a person names it."""

    kind: str
    singular: str
    plural: str
    by: str | None = "register"
    """The document field naming the register that wrote it; None when only its shift tells."""


@dataclass(frozen=True, slots=True)
class Derived:
    """Records of a kind that are not stored but stand for a part of another record: each record of
    ``root`` (its fields) gives ``records(key, fields)`` of them (a receipt's lines are its sale stock
    movements). Readers list them with the stored ones; they arrive, merge and go with that record."""

    root: str
    records: Callable[[str, Fields], Sequence[Any]]


class RecordSource(Protocol):
    """What a parser reads a record from: a ledger day (live, or a snapshot of plain values)."""

    def record(self, root: str, key: str) -> Fields:
        """The record ``root/key``; UnknownRecord when there is none."""

    def optional(self, root: str, key: str) -> Fields | None: ...

    def order(self, order_id: str) -> Order: ...


@dataclass(frozen=True)
class RecordSpec(Generic[R]):
    """One kind of money record, declared once (see the module docstring)."""

    table: str
    """Its relational table, and its name in the console's records API."""
    root: str
    """Where it lives in a ``ledger/<date>`` document (a path inside an order for one that lives there)."""
    parse: Callable[[RecordSource, str], R] | None
    """Its parser, given the record's key; None for a record read as a part of its order."""
    sort: Callable[[R], Any]
    fixed: tuple[Column, ...]
    """Insert-only columns (after ``business_date``, which every table has): a change is an alarm."""
    mutable: tuple[Column, ...] = ()
    """Columns that change by design (an order's status, a shift's close)."""
    children: tuple[Children, ...] = ()
    indexes: tuple[str, ...] = ()
    in_order: Callable[[Order], Sequence[R]] | None = None
    """For a record inside an order (a payment): its records in one parsed order."""
    device: str | None = None
    """The column naming the device that wrote it (the console's register list)."""
    parent: str | None = None
    """The column naming the record it belongs to (an order or a receipt)."""
    tally: TallyKind | None = None
    reads: tuple[str, ...] = ()
    """The document roots its parser reads; by default its own root only."""
    derived: Derived | None = None
    """Records of this kind that another record stands for (listed with the stored ones)."""

    def __post_init__(self) -> None:
        if not self.reads:
            object.__setattr__(self, "reads", (self.root,))

    def parse_key(self, src: RecordSource, key: str) -> R:
        """The record ``key`` of this kind in ``src``, parsed (CorruptRecord if it does not parse)."""
        if self.parse is None:
            raise CorruptRecord(f"{self.table} are read as a part of their order, not by key")
        return self.parse(src, key)

    @property
    def late(self) -> tuple[str, ...]:
        """Its insert-only columns added after rows were stored (:attr:`Column.late`)."""
        return tuple(c.name for c in self.fixed if c.late)

    def values(
        self, record: R, day: str
    ) -> tuple[dict[str, Value], dict[str, Value], dict[str, tuple[dict[str, Value], ...]]]:
        """The record's (fixed, mutable, children) column values on business day ``day``."""
        fixed: dict[str, Value] = {"business_date": day}
        fixed.update((c.name, _get(c, record)) for c in self.fixed)
        state = {c.name: _get(c, record) for c in self.mutable}
        children = {
            child.table: tuple(
                {"position": i, **{c.name: _get(c, item) for c in child.columns}}
                for i, item in enumerate(child.items(record))
            )
            for child in self.children
        }
        return fixed, state, children


def _get(column: Column, record: object) -> Value:
    assert column.get is not None, f"column {column.name} is not read off a record"
    return column.get(record)
