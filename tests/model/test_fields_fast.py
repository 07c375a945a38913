"""The usual field takes a short way (issue 18, seller: ``Fields.integer`` and ``Fields.text`` of a
record's JSON text, ``limits.check_text`` of an id): it must refuse and accept exactly what the long
way does. A flag is no integer (``bool`` is an ``int`` to ``isinstance``), pycrdt's float of an integer
is one, and text past its bound or with a control character is refused."""

from __future__ import annotations

import pytest

from meshpos.errors import CorruptRecord, InvalidInput
from meshpos.model._records import Fields
from meshpos.model.limits import check_text


class Name(str):
    """Text of a subclass: text all the same."""


@pytest.mark.parametrize("record", [{"n": True}, '{"n":true}', {"n": 1.5}, '{"n":"1"}'])
def test_what_is_not_an_integer_is_refused(record: object) -> None:
    with pytest.raises(CorruptRecord, match=r"field 'n' is .*, expected an integer"):
        Fields(record, "doc rec").integer("n")


@pytest.mark.parametrize("record", [{"n": 3.0}, '{"n":3}', {"n": 3}])
def test_an_integer_is_an_int(record: object) -> None:
    value = Fields(record, "doc rec").integer("n")
    assert value == 3
    assert type(value) is int


def test_text_is_text_and_nothing_else_is() -> None:
    assert Fields({"t": Name("x")}, "doc rec").text("t") == "x"
    with pytest.raises(CorruptRecord, match="field 't' is 3, expected text"):
        Fields('{"t":3}', "doc rec").text("t")


@pytest.mark.parametrize("value", ["a" * 9, "a\x07b", 7, "\ud800"])
def test_an_id_past_its_bound_or_not_printable_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"^the id "):
        check_text(value, "the id", 8)


def test_an_id_within_its_bound_is_itself() -> None:
    assert check_text("a" * 8, "the id", 8) == "a" * 8
    assert check_text(Name("ok"), "the id", 8) == "ok"
