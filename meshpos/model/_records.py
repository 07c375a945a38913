"""Reading records out of pycrdt values, strictly.

pycrdt hands integers back as floats and a peer may have written anything, so every field is checked on the
way out; a bad field raises CorruptRecord naming the document, record and field. No float leaves the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshpos.errors import CorruptRecord

JsonDict = dict[str, Any]


class Fields:
    """Typed access to one record; ``where`` says which document and key it came from."""

    __slots__ = ("_data", "where")

    def __init__(self, data: object, where: str) -> None:
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
        return to_int(self._get(name), f"{self.where}: field {name!r}")

    def opt_integer(self, name: str) -> int | None:
        value = self._data.get(name)
        return None if value is None else to_int(value, f"{self.where}: field {name!r}")

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
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
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    raise CorruptRecord(f"{where} is {value!r}, expected an integer")
