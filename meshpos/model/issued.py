"""The receipt numbers a business day issued, read from as few fields as possible (split from
``ledger``, behaviour unchanged): a receipt corrupt in another field still holds its number, which
must never be issued again (``numbering``, ``day_end``)."""

from __future__ import annotations

from typing import Any

from meshpos.errors import CorruptRecord
from meshpos.model._records import decoded, to_int
from meshpos.model._root_events import entries


def series_of(number: str) -> str:
    """``R2-k7qm-000004`` -> ``R2-k7qm``; the sequence is always the last dash-separated part."""
    return number.rpartition("-")[0]


def issued_numbers(receipts: Any) -> list[tuple[str, int]]:
    """(series, seq) of every receipt in a day's ``receipts`` root. The series is the number
    without its sequence (``R2`` or ``R2-k7qm``), or the register's id."""
    found = []
    for _, stored in entries(receipts):
        value = decoded(stored)
        if value is None:
            continue
        number, register = value.get("number"), value.get("register")
        series = series_of(number) if isinstance(number, str) else register
        if not isinstance(series, str):
            continue
        try:
            found.append((series, to_int(value.get("seq"), "seq")))
        except CorruptRecord:
            continue
    return found
