"""Plain values passed between the materialiser and the database adapters.

Rows hold only ``int``, ``str`` and ``None``: the model already turned pycrdt's floats back into
integers, and nothing here ever makes a float again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Value = int | str | None
Values = Mapping[str, Value]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(content: object) -> str:
    """Canonical JSON: equal content gives equal text on every machine and Python version.

    Exactly ``json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` (stored
    digests depend on it), with the encoder built once: a big day computes tens of thousands."""
    return _CANONICAL.encode(content)


def digest(content: object) -> str:
    return hashlib.sha256(canonical(content).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One console write: who made it, when, what (``action`` on ``subject``) and its before/after
    summary (``detail``, a JSON object). Made by ``meshpos.console.audit.entry``."""

    at_ms: int
    who: str
    action: str
    subject: str
    detail: dict[str, Any]
    seq: int = 0  # its place in the venue's log (0 until stored): pages go back by it


@dataclass(frozen=True, slots=True)
class Row:
    """One record for a table in ``tables.RECORD_TABLES``, with its child rows."""

    id: str
    fixed: Values
    state: Values = field(default_factory=dict)
    children: Mapping[str, tuple[Values, ...]] = field(default_factory=dict)
    late: tuple[str, ...] = ()
    """Its table's columns added after rows were stored (``Column.late``): out of the digest while
    empty, so a row stored before one existed keeps its digest."""
    digest: str = field(init=False)
    """Of ``fixed`` and ``children``: what must never change once stored."""
    state_digest: str = field(init=False)

    def __post_init__(self) -> None:  # computed once: every comparison of a big day uses them
        object.__setattr__(self, "digest", digest([self._digested(), self.children]))
        object.__setattr__(self, "state_digest", digest(self.state) if self.state else "")

    def _digested(self) -> Values:
        if not self.late:
            return self.fixed
        return {k: v for k, v in self.fixed.items() if k not in self.late or v not in ("", None)}

    @property
    def legacy_digest(self) -> str:
        """The digest a row stored before its late columns existed had: the console accepts this
        record's late values into such a row (NULL there) once, as a fill, not as a change."""
        kept = {k: v for k, v in self.fixed.items() if k not in self.late}
        return digest([kept, self.children])

    def content(self) -> str:
        """What an alarm keeps of a refused record, so nobody has to dig it out of the CRDT."""
        return canonical({"fixed": self.fixed, "children": self.children})


@dataclass(frozen=True, slots=True)
class LedgerConflict:
    """A conflict the model itself derives (two registers paid one order, ...)."""

    kind: str
    order_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Everything one ledger document materialises into: rows per table name."""

    document: str
    rows: Mapping[str, tuple[Row, ...]]
    conflicts: tuple[LedgerConflict, ...] = ()


@dataclass(frozen=True, slots=True)
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    alarms: int = 0


@dataclass(frozen=True, slots=True)
class Alarm:
    """A record the console refused to overwrite, or a conflict the model found in the ledger.

    ``kind`` is ``changed_record`` for the same id arriving with different insert-only content
    (``old_digest`` is what the console keeps, ``new_digest`` what it refused, ``detail`` the
    refused content), ``duplicate_number`` for a receipt whose number an earlier receipt of the venue
    already has (``record_id`` is the later one), else the model's conflict kind (``overpaid``,
    ``double_receipt``, ``refunded_twice``, ...).
    """

    venue_id: str
    kind: str
    table: str
    record_id: str
    old_digest: str
    new_digest: str
    document: str
    detail: str
    first_seen_ms: int
    new: bool
    """True when this materialisation recorded it for the first time."""


@dataclass(frozen=True, slots=True)
class MaterialiseResult:
    venue_id: str
    document: str
    tables: Mapping[str, TableCounts]
    alarms: tuple[Alarm, ...] = ()

    @property
    def inserted(self) -> int:
        return sum(c.inserted for c in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.tables.values())

    @property
    def changed(self) -> bool:
        """Whether the database changed at all; False on a repeated materialisation."""
        return bool(self.inserted or self.updated or any(a.new for a in self.alarms))
