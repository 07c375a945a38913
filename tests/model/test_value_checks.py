"""The last guard before pycrdt (``limits.value_problem``) takes most values of a record without a call
each (issue 18): it must refuse what it refused, with the same words, wherever the value sits."""

from __future__ import annotations

import pytest

from meshpos.model.limits import MAX_ID_CHARS, MAX_NOTE_CHARS, SAFE_INTEGER, value_problem

BAD = [
    ("\x07bell", "has a control character (U+0007) at position 0"),
    ("a\ud800", "has a lone surrogate (U+D800) at position 1: not valid Unicode text"),
    ("x" * (MAX_NOTE_CHARS + 1), f"is {MAX_NOTE_CHARS + 1} characters long; at most"),
    (SAFE_INTEGER + 1, f"integer {SAFE_INTEGER + 1} is out of range"),
    (-SAFE_INTEGER - 1, f"integer {-SAFE_INTEGER - 1} is out of range"),
    (float("nan"), "number nan is out of range"),
    (object(), "object is not a storable value"),
]
GOOD = ["", "Café\xa0Mesh", "x" * MAX_NOTE_CHARS, SAFE_INTEGER, -SAFE_INTEGER, 0, True, None, 1.5]


@pytest.mark.parametrize(("bad", "why"), BAD)
def test_a_bad_value_is_refused_in_a_record_and_in_a_list(bad: object, why: str) -> None:
    assert (value_problem({"ok": "fine", "f": bad}) or "").startswith(f"f: {why}")
    assert (value_problem(["fine", 1, bad]) or "").startswith(f"[2] {why}")
    assert (value_problem({"lines": [{"name": bad}]}) or "").startswith(f"lines: [0] name: {why}")


def test_good_values_pass_wherever_they_sit() -> None:
    assert value_problem({"v": GOOD, **{f"k{i}": v for i, v in enumerate(GOOD)}}) is None


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("k" * (MAX_ID_CHARS + 1), f"is {MAX_ID_CHARS + 1} characters long"),
        ("a\nb", "has a control character (U+000A) at position 1"),
        (1, "expected text, got int"),
    ],
)
def test_a_bad_key_is_refused(key: object, why: str) -> None:
    assert (value_problem({key: "v"}) or "").startswith(f"key {key!r} {why}")
