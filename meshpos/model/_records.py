"""Reading records out of pycrdt values, strictly.

pycrdt hands integers back as floats and a peer may have written anything, so every field is checked on the
way out; a bad field raises CorruptRecord naming the document, record and field. No float leaves the model.

A peer with a valid certificate can write anything straight into a document, so one bad record must not take
down the reads of a day: readers that list records skip one that does not parse and note it in a
:class:`CorruptRegistry`, which the register shows as an alarm and counts. A reader given no registry is
strict and raises (a caller that must not compute from a part of a day, such as the console's materialiser).

An insert-only money record is stored as one compact-JSON text (``_writes.put_record``): it is never merged
field by field, and as text it costs far less memory than a map of values (a sale's records: 18.0 -> 11.8
KB, docs/benchmarks.md "records"). Days written by older nodes hold maps, so every reader takes both
(:func:`decoded`, :class:`Fields`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from meshpos.errors import CorruptRecord, RecordUnusable
from meshpos.model._map_reads import get
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_QUANTITY,
    SAFE_INTEGER,
    check_text,
)

JsonDict = dict[str, Any]
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")

log = logging.getLogger("meshpos.model")

MAX_REASON_CHARS = 300
"""A reason quotes the bad value; a peer chooses its size, so what is kept of it is bounded."""

# an escaped UTF-16 surrogate in JSON text: the one way a lone surrogate (which pycrdt panics on, and
# no database takes) can come out of a text that pycrdt held
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def decoded(value: object) -> Mapping[str, Any] | None:
    """A stored record's fields, from its JSON text or an older node's map; None if it is neither (or
    its text does not parse): for readers that only glance at a field (counts, numbers issued)."""
    if isinstance(value, str):
        try:
            return _parse(value, "")
        except CorruptRecord:
            return None
    return value if isinstance(value, Mapping) else None


def _parse(text: str, where: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate raises here
    except UnicodeEncodeError:
        raise CorruptRecord(
            f"{where}: expected a record, found text with a lone surrogate"
        ) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError, as is a huge int
        raise CorruptRecord(
            f"{where}: expected a record, found text that is not JSON ({str(exc)[:80]})"
        ) from None
    if not isinstance(value, dict):
        raise CorruptRecord(f"{where}: expected a record, found JSON {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class CorruptEntry:
    """One record a reader skipped: which document, which record (its key or path) and why."""

    doc: str
    key: str
    reason: str


class CorruptRegistry:
    """The records this device's reads skipped because they do not parse, one entry per record.

    Logged once per document (a peer controls how many bad records there are), counted always. A record
    that parses again later (the console replaced a bad catalog entry) leaves the registry.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], CorruptEntry] = {}
        self._logged: set[str] = set()

    def note(self, doc: str, key: str, error: CorruptRecord) -> None:
        if (doc, key) in self._entries:
            return
        reason = error.message[:MAX_REASON_CHARS]
        self._entries[(doc, key)] = CorruptEntry(doc, key, reason)
        if doc not in self._logged:
            self._logged.add(doc)
            log.warning(
                "skipping a corrupt record in %s (%s); further ones are counted", doc, reason
            )

    def parsed(self, doc: str, key: str) -> None:
        """``key`` parses now: it is no longer corrupt."""
        if self._entries:
            self._entries.pop((doc, key), None)

    def entries(self) -> list[CorruptEntry]:
        return sorted(self._entries.values(), key=lambda e: (e.doc, e.key))

    def __len__(self) -> int:
        return len(self._entries)


#: parses kept per kind (:func:`remember`): a register's open orders and its shift. Bounded, so a
#: closed day's parses do not stay.
MAX_REMEMBERED = 64


def remember(into: dict[K, V], key: K, value: V) -> None:
    """Keep a parse by the exact JSON text it was made from (in ``key``): records are insert-only
    text, so the same text parses the same, and any change makes another text. The oldest goes first.
    Only parses that skipped nothing as corrupt may be kept: every reader then gets what it would
    parse itself (a strict one would have raised, a lenient one noted, on a corrupt record)."""
    if len(into) >= MAX_REMEMBERED:
        into.pop(next(iter(into)))
    into[key] = value


def value_at(mapping: Any, key: str) -> Any:
    """``mapping.get(key)`` of a pycrdt Map (or a plain dict) in one read transaction, not pycrdt's
    three (its ``get`` asks ``in`` and then reads); None when absent. A map lookup is most of what a
    tap's reads cost (issue 18; through yrs' own calls: ``_map_reads``)."""
    return get(mapping, key, None)


def lookup_key(key: object, what: str) -> str:
    """``key`` if it can name a record; pycrdt raises on a lone surrogate even to look one up, so an id
    from a caller is checked before it reaches a map."""
    return check_text(key, what, MAX_ID_CHARS)


def parse_each(
    items: Iterable[tuple[str, V]],
    parse: Callable[[str, V], R],
    *,
    doc: str,
    root: str,
    corrupt: CorruptRegistry | None,
) -> Iterator[R]:
    """``parse(key, value)`` of every item, skipping (and noting) those that raise CorruptRecord; with no
    registry the first one raises."""
    for key, value in items:
        try:
            parsed = parse(key, value)
        except CorruptRecord as exc:
            if corrupt is None:
                raise
            corrupt.note(doc, f"{root}/{key}", exc)
            continue
        if corrupt is not None:
            corrupt.parsed(doc, f"{root}/{key}")
        yield parsed


def parse_one(key: str, parse: Callable[[], R], *, doc: str, corrupt: CorruptRegistry | None) -> R:
    """``parse()`` of one record asked for by id. When it is corrupt: with a registry it is noted there and
    refused as :class:`RecordUnusable` (a CorruptRecord that callers answer like a broken rule); without
    one the CorruptRecord is raised as it is."""
    try:
        return parse()
    except CorruptRecord as exc:
        if corrupt is None or isinstance(exc, RecordUnusable):
            raise
        corrupt.note(doc, key, exc)
        raise RecordUnusable(f"{exc.message} (listed as a corrupt record)") from exc


class Fields:
    """Typed access to one record; ``where`` says which document and key it came from."""

    __slots__ = ("_data", "where")

    def __init__(self, data: object, where: str) -> None:
        if isinstance(data, str):  # a record's JSON text (what is written now)
            data = _parse(data, where)
        if not isinstance(data, Mapping):
            raise CorruptRecord(f"{where}: expected a record, found {type(data).__name__}")
        self._data = data
        self.where = where

    def _get(self, name: str) -> object:
        try:
            return self._data[name]
        except KeyError:
            raise CorruptRecord(f"{self.where}: field {name!r} is missing") from None

    def integer(self, name: str) -> int:
        value = self._get(name)
        if type(value) is int:  # (a record's JSON text gives int: no call, no message made)
            return value
        return to_int(value, f"{self.where}: field {name!r}")

    def amount(self, name: str) -> int:
        """Money in minor units within the venue's bound (one price, payment, refund or cash count)."""
        return bounded(self.integer(name), 0, MAX_AMOUNT, f"{self.where}: field {name!r}")

    def quantity(self, name: str) -> int:
        return bounded(self.integer(name), 1, MAX_QUANTITY, f"{self.where}: field {name!r}")

    def opt_integer(self, name: str) -> int | None:
        value = self._data.get(name)
        return None if value is None else to_int(value, f"{self.where}: field {name!r}")

    def text(self, name: str) -> str:
        value = self._get(name)
        if type(value) is not str and not isinstance(value, str):
            raise CorruptRecord(f"{self.where}: field {name!r} is {value!r}, expected text")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise CorruptRecord(f"{self.where}: field {name!r} is {value!r}, expected text")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise CorruptRecord(f"{self.where}: field {name!r} is {value!r}, expected true/false")
        return value

    def opt_flag(self, name: str) -> bool | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, bool):
            raise CorruptRecord(f"{self.where}: field {name!r} is {value!r}, expected true/false")
        return value

    def array(self, name: str) -> list[Any]:
        value = self._data.get(name, [])
        if not isinstance(value, list):
            raise CorruptRecord(f"{self.where}: field {name!r} is {value!r}, expected a list")
        return value

    def records(self, name: str) -> list[Fields]:
        return [
            Fields(item, f"{self.where}.{name}[{i}]") for i, item in enumerate(self.array(name))
        ]

    def opt_record(self, name: str) -> Fields | None:
        value = self._data.get(name)
        return None if value is None else Fields(value, f"{self.where}.{name}")

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise CorruptRecord(
                f"{self.where}: field {name!r} is {value!r}, expected one of {allowed}"
            )
        return value


def to_int(value: object, where: str) -> int:
    """Undo pycrdt's int -> float conversion, refusing anything that was not an integer."""
    if isinstance(value, bool):
        raise CorruptRecord(f"{where} is {value!r}, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= SAFE_INTEGER:
        return int(value)
    raise CorruptRecord(f"{where} is {value!r}, expected an integer")


def bounded(value: int, low: int, high: int, where: str) -> int:
    if not low <= value <= high:
        raise CorruptRecord(f"{where} is {value}, outside {low}..{high}")
    return value
