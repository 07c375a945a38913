"""A record's text (``_writes.record_text``) is written by orjson when ``limits.plain_record`` says the
standard encoder would write the same (issue 18, cpu): whatever a record holds, the text and every
refusal (its words too) must be what the checked standard encoder gives."""

from __future__ import annotations

import json
import sys
from collections import Counter
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpos.errors import InvalidInput
from meshpos.model import _writes, limits
from meshpos.model._writes import record_text
from meshpos.model.limits import (
    MAX_DEPTH,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    SAFE_INTEGER,
    check_value,
    plain_record,
    value_problem,
)
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue


def standard(record: object, where: str) -> str:
    """What ``record_text`` wrote before orjson: checked, then the standard encoder."""
    check_value(record, where)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def outcome(write: Any, record: object) -> tuple[str, str]:
    try:
        return "text", write(record, "day orders/o1")
    except InvalidInput as exc:
        return "refused", str(exc)


TEXTS = st.one_of(
    st.text(max_size=12),  # any characters: control ones, lone surrogates, RTL marks, emoji
    st.sampled_from(["Café", "\u2028", "\u200f", 'a"b\\c', "😀", "x" * MAX_NOTE_CHARS]),
    st.just("x" * (MAX_NOTE_CHARS + 1)),
)
KEYS = st.one_of(
    st.text(max_size=6), st.just("k" * MAX_ID_CHARS), st.just("k" * (MAX_ID_CHARS + 1))
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE_INTEGER - 2, max_value=SAFE_INTEGER + 2),
    st.sampled_from([SAFE_INTEGER, -SAFE_INTEGER, 2**64, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e16, 1e-7, 1.0, -0.0, 0.1]),
    TEXTS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=30,
)


def nested(depth: int, leaf: object) -> object:
    value: object = leaf
    for _ in range(depth):
        value = {"d": value}
    return value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_a_record_is_written_and_refused_as_by_the_standard_encoder(record: dict[str, Any]) -> None:
    assert outcome(record_text, record) == outcome(standard, record)
    if plain_record(record):
        assert value_problem(record) is None


@pytest.mark.parametrize(
    "record",
    [
        {"amount": 1e16, "tip": 1e-7, "rate": 1.0},  # floats: the standard encoder's forms
        {"n": -0.0},
        nested(MAX_DEPTH, None),  # the deepest a value may sit, and one deeper
        nested(MAX_DEPTH + 1, None),
        nested(MAX_DEPTH, "x"),
        nested(MAX_DEPTH + 1, "x"),
        nested(MAX_DEPTH - 1, [None, True, 1, "x"]),
        nested(MAX_DEPTH, [None]),
        {"lines": ({"name": "Café\u200f😀", "quantity": 2},), "at": SAFE_INTEGER},
        {"name": "bell\x07"},
        {"name": "a\ud800"},
        {"big": 2**64},
        {1: "x"},
        {"k" * (MAX_ID_CHARS + 1): 1},
    ],
)
def test_edges_are_written_and_refused_as_by_the_standard_encoder(record: Any) -> None:
    assert outcome(record_text, record) == outcome(standard, record)


def test_a_sales_records_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record a sale writes (an order's info, its lines, the payment with its receipt) is plain:
    else the change bought nothing."""
    judged: list[tuple[object, bool]] = []

    def plain(record: object) -> bool:
        judged.append((record, answer := plain_record(record)))
        return answer

    monkeypatch.setattr(_writes, "plain_record", plain)
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    order = venue.open_order(CASHIER, NOW, table="4")
    venue.add_line(CASHIER, order.id, "burger", 2, NOW)
    venue.add_line(CASHIER, order.id, "fries", 1, NOW)
    assert venue.pay(CASHIER, order.id, "card", NOW, tip=50).receipt is not None
    assert len(judged) >= 5
    assert [record for record, answer in judged if not answer] == []


def _calls_of(check: Any, record: object) -> Counter[str]:
    """The calls ``check(record)`` makes, Python (``py:``) and builtin (``c:``), by name."""
    calls: Counter[str] = Counter()

    def hook(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            calls[f"py:{frame.f_code.co_name}"] += 1
        elif event == "c_call":
            calls[f"c:{getattr(arg, '__name__', '?')}"] += 1

    sys.setprofile(hook)
    try:
        check(record)
    finally:
        sys.setprofile(None)
    return calls


def test_a_known_key_is_judged_once_and_plain_values_in_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18 (seller, the twenty-second session): a sale's records repeat their field names, so a key
    that passed is not judged again, and a text or integer value costs no call of its own; the
    verdicts stay the standard encoder's (the tests above). On main: every key's ``isprintable`` and
    a ``_plain_item`` call per value."""
    monkeypatch.setattr(limits, "_PLAIN_KEYS", set())  # (other tests' keys may have filled it)
    record = {"table": "4", "lines": [{"product": "burger", "quantity": 2}], "at": 17, "void": None}
    assert plain_record(record)
    again = {"table": "5", "lines": [{"product": "fries", "quantity": 1}], "at": 18, "void": None}
    calls = _calls_of(plain_record, again)
    assert calls["c:isprintable"] == 2  # "5" and "fries": the values, none of the five keys
    assert calls["py:plain_record"] == 3  # the record, its list and the line in it: no call a value
    assert plain_record(again)
    assert not plain_record({**again, "table": "bell\x07"})


def test_keys_past_the_known_bound_are_judged_one_by_one() -> None:
    """A record keyed by ids (thousands of them) is judged as ever, the known keys kept bounded."""
    many = {f"id-{k:05d}": k for k in range(3 * limits._MAX_PLAIN_KEYS)}
    assert plain_record(many)
    assert len(limits._PLAIN_KEYS) <= limits._MAX_PLAIN_KEYS
    assert not plain_record({**many, "bad\x07": 1})
    assert not plain_record({**many, "k" * (MAX_ID_CHARS + 1): 1})
