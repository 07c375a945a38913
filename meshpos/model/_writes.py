"""The one way the model writes into a document: validated first, and taken back whole on any failure.

pycrdt panics (``PanicException``, a ``BaseException``) in the middle of an assignment on a value it cannot
encode, and a pycrdt transaction is not atomic: what was assigned before stays, is committed and replicated.
So every value is checked with :func:`meshpos.model.limits.check_value` before it is assigned, and every
assignment an operation makes is journalled; if anything raises before the operation ends, its assignments
are undone (an inserted key is deleted, a replaced one gets its old value back) and the operation changes
nothing a reader can see. Records are insert-only under fresh ids, so an undo never touches a record
another device wrote.

An insert-only money fact is written as one compact-JSON text (:func:`put_record`): it is never merged field
by field, and a text costs far less memory in a document than a map of values (docs/benchmarks.md,
"records"); ``_records`` reads it back.

**Changed** (issue 18, cpu): a record of plain text, integers, flags and containers is checked in one
pass (``limits.plain_record``) and written by orjson, the same text as the standard encoder's
(:func:`record_text`); anything else as before.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

import orjson

from meshpos.errors import MeshposError, WriteFailed
from meshpos.model._map_reads import get
from meshpos.model.limits import MAX_ID_CHARS, check_text, check_value, plain_record

log = logging.getLogger("meshpos.model")

_ABSENT = object()
_NOT_CONVERTED = (KeyboardInterrupt, SystemExit, GeneratorExit)

# (map, key, value before) of every assignment of the operation in progress, oldest first
_JOURNAL: ContextVar[list[tuple[Any, str, object]] | None] = ContextVar(
    "meshpos_write_journal", default=None
)


class all_or_nothing:  # (a class, used as the function it was: ``with all_or_nothing(what):``)
    """Run an operation whose writes complete together or are taken back together.

    A :class:`MeshposError` is raised again as it is (after the undo); anything else (a pycrdt panic, a
    bug) becomes :class:`WriteFailed` naming ``what``. KeyboardInterrupt, SystemExit and GeneratorExit are
    undone too but raised unchanged. Nested calls join the outermost operation.

    **Changed** (issue 18, seller, the twenty-second session): a class, not a ``@contextmanager``
    generator (each use cost ~9 Python calls, a sale's four taps ~36; now 3 a use); the same rule.
    """

    __slots__ = ("_journal", "_token", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._token: Token[list[tuple[Any, str, object]] | None] | None = None
        self._journal: list[tuple[Any, str, object]] = []

    def __enter__(self) -> None:
        if _JOURNAL.get() is None:  # (else a nested call: it joins the outermost operation)
            self._token = _JOURNAL.set(self._journal)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        token = self._token
        if token is None:
            return
        _JOURNAL.reset(token)
        if exc is None:
            return
        undone = _undo(self._journal, self._what)
        if isinstance(exc, _NOT_CONVERTED):
            return  # (raised again as it is)
        what = self._what
        if not undone:
            raise WriteFailed(
                f"{what} failed ({type(exc).__name__}) and could not be taken back whole: "
                "a part of it may remain in the document"
            ) from exc
        if isinstance(exc, MeshposError):
            return
        raise WriteFailed(
            f"{what} failed ({type(exc).__name__}: {str(exc)[:200]}); nothing was written"
        ) from exc


def put(target: Any, key: str, value: object, where: str, *, checked: bool = False) -> None:
    """``target[key] = value`` (``target`` a pycrdt Map), checked first and journalled.

    ``checked=True`` when the caller checked the plain values inside a new shared type (a new order's
    ``Map``) itself. Outside :class:`all_or_nothing` the single assignment is its own operation."""
    check_text(key, f"{where}: key", MAX_ID_CHARS)
    if not checked:
        check_value(value, where)
    journal = _JOURNAL.get()
    if journal is None:
        with all_or_nothing(where):
            put(target, key, value, where, checked=True)
        return
    before = get(target, key, _ABSENT)  # one yrs read transaction (``_map_reads``)
    if before is not _ABSENT and same_value(before, value):
        return  # nothing would change: no update to send every device, no tombstone to keep
    journal.append((target, key, before))
    target[key] = value


def same_value(stored: object, value: object) -> bool:
    """Whether a plain value read back from a document (``stored``: pycrdt hands integers back as
    floats) is ``value``. Strict on kind: a flag is not a number, a text not a number; a shared type
    (a new ``Map``) is never the same as anything.

    Writing a key the value it holds sends an update to every device and leaves a tombstone in the
    document for good (a menu imported again wrote every product again); and if another device changed
    the key meanwhile, its change is the one that should stand (issue 18)."""
    if isinstance(stored, bool) or isinstance(value, bool):
        return type(stored) is type(value) and stored == value
    if isinstance(stored, int | float) and isinstance(value, int | float):
        return stored == value
    if isinstance(stored, str) or isinstance(value, str):
        return type(stored) is type(value) and stored == value
    if stored is None or value is None:
        return stored is value
    if isinstance(stored, dict) and isinstance(value, dict):
        return stored.keys() == value.keys() and all(same_value(stored[k], value[k]) for k in value)
    if isinstance(stored, list) and isinstance(value, list | tuple):
        return len(stored) == len(value) and all(
            same_value(a, b) for a, b in zip(stored, value, strict=True)
        )
    return False


def remove(target: Any, key: str, where: str) -> None:
    """``del target[key]``, journalled like :func:`put` (an undo puts the old value back)."""
    check_text(key, f"{where}: key", MAX_ID_CHARS)
    journal = _JOURNAL.get()
    if journal is None:
        with all_or_nothing(where):
            remove(target, key, where)
        return
    if key in target:
        journal.append((target, key, target[key]))
        del target[key]


def record_text(record: object, where: str) -> str:
    """The insert-only fact ``record`` as its compact-JSON text, its values checked against the bounds
    first (as :func:`put` checks a value).

    **Changed** (issue 18, cpu): a record of plain text, integers, flags and containers (every record
    the model writes: ``limits.plain_record``) is checked in one pass and written by orjson, the same
    text as the standard encoder's at a tenth of its CPU (a sale writes five records on its register);
    anything else is checked and written as before."""
    if plain_record(record):
        return orjson.dumps(record).decode()
    check_value(record, where)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def put_record(target: Any, key: str, record: object, where: str) -> None:
    """``target[key] =`` the insert-only fact ``record`` as its compact-JSON text (:func:`record_text`)."""
    put(target, key, record_text(record, where), where, checked=True)


def _undo(journal: list[tuple[Any, str, object]], what: str) -> bool:
    """Take back the journalled assignments, newest first; False if one of them could not be."""
    whole = True
    for target, key, before in reversed(journal):
        try:
            if before is _ABSENT:
                if key in target:
                    del target[key]
            else:
                target[key] = before
        except BaseException as exc:
            if isinstance(exc, _NOT_CONVERTED):
                raise
            whole = False
            log.error("%s: could not take back %r (%s: %s)", what, key, type(exc).__name__, exc)
    return whole
