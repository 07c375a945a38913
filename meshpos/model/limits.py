"""Venue-sane bounds on every value that can enter a document, defined once.

pycrdt panics (a ``BaseException``) in the middle of a write on text it cannot encode, and hands back
integers above 2**53 inexactly, so a value is checked *before* the first write, never after. Every layer that
accepts values (the model, the node's HTTP API, the console's API, the schemas in the OpenAPI documents) takes
its bounds from here.

**Changed** (outside, the twenty-second session): a refused NUL (U+0000) says what nearly always put it
there (``NUL_HINT``): a menu file saved as UTF-16, read by the console's Menu tab as a browser reads a
file (UTF-8), was refused saying only "control character (U+0000)", which tells a manager nothing they
can act on (tests/outside/test_menu_csv_utf16.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from meshpos.errors import DomainError, InvalidInput

MAX_AMOUNT = 10**10  # minor units (100,000,000.00): one price, payment, refund or cash count
MAX_QUANTITY = 9_999  # items on one line, units of one stock movement
MAX_NAME_CHARS = 200  # a product, user or table name, a tab
MAX_NOTE_CHARS = 500  # a reason for a void, refund, cash or stock movement
MAX_ID_CHARS = 128  # a record or user id
# an id in the catalog (a product, a tax, a user...): short, typed in CSV files
MAX_CATALOG_ID_CHARS = 64
# products in one CSV import (one update: 5,000 parse and write in about 0.4 s)
MAX_MENU_ROWS = 5_000
MAX_DEPTH = 8  # nesting of one record's values
#: lines on one order (issue 18, keep). Each tap of a sale reads and answers the whole order (at
#: 600-800 lines a tap cost ~200 ms and its answer 370 kB: a stuck barcode scanner gets there); a
#: repeat is one line's quantity (up to ``MAX_QUANTITY``) and a party of hundreds is split into
#: bills, so no venue meets this honestly. A peer's order past it is read whole (its money stays
#: exact) but grows no further here.
MAX_ORDER_LINES = 500
#: "no sale" drawer openings one register records in a minute: a drawer is opened by hand, so more is a
#: stuck key or a script, each opening a record every device keeps for good
MAX_NO_SALES_PER_MINUTE = 10
SAFE_INTEGER = 2**53  # JavaScript's and pycrdt's exact integers
MAX_RECEIPT_SEQ = (
    10**9
)  # receipts of one register's number series; a higher mark in the mesh is bogus


def text_problem(value: object, max_chars: int) -> str | None:
    """Why ``value`` cannot be stored as text of at most ``max_chars`` characters, or None if it can.

    Refused: anything but ``str``, lone surrogates (pycrdt panics on them), and control characters (a
    receipt printer, a CSV export or a log line would be corrupted by them)."""
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if len(value) > max_chars:
        return f"is {len(value)} characters long; at most {max_chars} are allowed"
    if (
        value.isprintable()
    ):  # no Cc nor Cs in it (nor other unprintables): the usual text, at C speed
        return None
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category == "Cs":
            return f"has a lone surrogate (U+{ord(ch):04X}) at position {i}: not valid Unicode text"
        if category == "Cc":
            return f"has a control character (U+{ord(ch):04X}) at position {i}" + (
                NUL_HINT if ch == "\x00" else ""
            )
    return None


NUL_HINT = (
    ": text saved as UTF-16 (Excel's 'Unicode Text', Notepad's 'Unicode') and read as UTF-8 holds "
    "one beside every Latin letter; save it as UTF-8 (a spreadsheet's 'CSV UTF-8') and send it again"
)
"""Why a NUL is where it is, nearly always (the module docstring's change of the twenty-second session)."""


def check_text(value: object, what: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """``value`` as storable text, or :class:`InvalidInput` naming ``what`` and the problem."""
    if type(value) is str and len(value) <= max_chars and value.isprintable():
        return value  # (the usual id or name: what text_problem passes first, without its calls)
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise InvalidInput(f"{what} {problem}")
    assert isinstance(value, str)
    return value


def check_name(value: object, what: str) -> str:
    """``value`` as the name of a catalog entry (a product, a user, a tax...): :class:`InvalidInput`
    if it is not storable text, :class:`DomainError` (422: a value breaking a rule) if it is blank.

    **Changed** (outside round 5, outside): a name is shown on the register's buttons, printed on
    receipts and listed in the console's reports and exports, so it has something a person can read: a
    letter, digit, punctuation or symbol (an emoji is one). ``""``, spaces, a zero-width space or a
    combining accent alone made a blank button, a receipt line without a name and a user nobody can
    pick on the sign-in screen (tests/outside/test_blank_names.py)."""
    check_text(value, what)
    assert isinstance(value, str)
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in value):
        shown = "empty" if not value else f"{value!r}, nothing a person can read"
        raise DomainError(f"{what} is {shown}: give it a name cashiers can read")
    return value


def value_problem(value: object, depth: int = 0) -> str | None:
    """Why a record value cannot be written into a document, or None: the last guard before pycrdt.

    Plain JSON only: text (as :func:`text_problem`, up to the note length; keys up to the id length),
    integers within ±2**53, finite floats, booleans, None, lists and string-keyed maps nested at most
    ``MAX_DEPTH`` deep."""
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= SAFE_INTEGER else f"integer {value} is out of range"
    if isinstance(value, float):
        return None if abs(value) <= SAFE_INTEGER else f"number {value} is out of range"
    if isinstance(value, str):
        return text_problem(value, MAX_NOTE_CHARS)
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if not _plain(item):
                problem = value_problem(item, depth + 1)
                if problem is not None:
                    return f"[{i}] {problem}"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not (type(key) is str and len(key) <= MAX_ID_CHARS and key.isprintable()):
                problem = text_problem(key, MAX_ID_CHARS)
                if problem is not None:
                    return f"key {key!r} {problem}"
            if not _plain(item):
                problem = value_problem(item, depth + 1)
                if problem is not None:
                    return f"{key}: {problem}"
        return None
    return f"{type(value).__name__} is not a storable value"


def _plain(item: object) -> bool:
    """Whether ``item`` is a value :func:`value_problem` passes at once: printable text within the note
    length, or an integer within range (most of a record's values: checked without a call each, issue
    18). Anything else is for :func:`value_problem` to judge."""
    if type(item) is str:
        return len(item) <= MAX_NOTE_CHARS and item.isprintable()
    return type(item) is int and abs(item) <= SAFE_INTEGER


def plain_record(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is a record that :func:`value_problem` passes and that holds no float: a
    ``dict`` (or ``list``/``tuple``) of printable text within the note length under printable keys within
    the id length, integers within range, flags, None, and such containers, less than ``MAX_DEPTH``
    deep. Such a record's compact JSON is the same from orjson as from the standard encoder (a float
    is not: ``1e16`` against ``1e+16``), so ``_writes.record_text`` writes it at C speed (issue 18, cpu).
    False says nothing is wrong: only that :func:`value_problem` must judge (a float, a ``Mapping``
    that is no dict, control characters, a value past a bound) and the standard encoder write it.

    **Changed** (issue 18, seller, the twenty-second session): a key that passed once is known
    (``_PLAIN_KEYS``: a record's keys are its few field names, met again in every sale) and a text or
    integer value is judged in the loop, not by a call each: a sale's five records cost ~190 Python calls
    fewer (of ~3,500 a sale). The verdicts are the same (tests/model/test_record_text.py)."""
    if depth >= MAX_DEPTH:  # (stricter than value_problem: the deepest values are left to it)
        return False
    items: Iterable[object]
    if type(value) is dict:
        for key in value:
            if type(key) is not str:
                return False
            if key not in _PLAIN_KEYS:
                if not (len(key) <= MAX_ID_CHARS and key.isprintable()):
                    return False
                if len(_PLAIN_KEYS) >= _MAX_PLAIN_KEYS:
                    _PLAIN_KEYS.clear()  # (ids as keys: the field names come back at once)
                _PLAIN_KEYS.add(key)
        items = value.values()
    elif type(value) is list or type(value) is tuple:
        items = value
    else:
        return False
    for item in items:
        kind = type(item)
        if kind is str:
            if not (len(item) <= MAX_NOTE_CHARS and item.isprintable()):
                return False
        elif kind is int:
            if not -SAFE_INTEGER <= item <= SAFE_INTEGER:
                return False
        elif not (item is None or kind is bool or plain_record(item, depth + 1)):
            return False
    return True


#: keys :func:`plain_record` found printable text within the id length (each judged once; a key is
#: text, so its verdict never changes). Bounded: emptied when full (a record keyed by many ids).
_PLAIN_KEYS: set[str] = set()
_MAX_PLAIN_KEYS = 1024


def check_value(value: object, where: str) -> None:
    """Raise :class:`InvalidInput` naming ``where`` unless ``value`` can be written whole."""
    problem = value_problem(value)
    if problem is not None:
        raise InvalidInput(f"{where}: {problem}")
