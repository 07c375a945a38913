"""Decoding a heartbeat's summaries cheaply (issue 18, beats): the usual far record row is checked in one
expression (``_far_bodies._far_row``), anything else by the field-by-field checks that name what is
wrong. Both must take and refuse exactly the same rows, and a beat encoded for several links is the
same bytes as one encoded alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.sync._bodies import _heartbeat_body, decode_heartbeat, heartbeat_body
from meshpos.sync._far_bodies import _far_row, _far_row_checked, decode_far_compact, far_compact
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import FarRecord, Heartbeat

VALUES = st.one_of(
    st.integers(min_value=-2, max_value=2),
    st.integers(min_value=999_999, max_value=1_000_001),
    st.integers(min_value=2**53 - 2, max_value=2**64),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["register", "kds", "console", "cashier", "", "a\x00b", 1.0, 0.0]),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
ROWS = st.one_of(
    st.lists(VALUES, min_size=6, max_size=9),
    st.tuples(
        st.sampled_from(["register", "kds", "console", "nope"]),
        VALUES,
        VALUES,
        VALUES,
        VALUES,
        VALUES,
        VALUES,
    ).map(list),
    st.builds(
        lambda r: far_compact(r),
        st.builds(
            FarRecord,
            node=st.just("R2"),
            role=st.sampled_from(["register", "kds", "console"]),
            priority=st.integers(0, 1_000_000),
            uplink=st.booleans(),
            relay=st.booleans(),
            seq=st.integers(0, 2**53),
            pending=st.integers(0, 2**53),
            problem=st.sampled_from(["", "the console refused R3"]),
            client=st.integers(0, 2**53),
        ),
    ),
)
NODES = st.sampled_from(["R2", "K-1", "", "-R", "R" * 64, "R" * 65, "R 2"])


def _checked(node: str, row: Any) -> FarRecord | str:
    try:
        return _far_row_checked(node, row, "heartbeat: field 'farc'")
    except RemoteProtocolError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(NODES, ROWS)
def test_the_quick_check_of_a_far_row_takes_only_what_the_full_checks_take(
    node: str, row: Any
) -> None:
    quick = _far_row(node, row)
    full = _checked(node, row)
    if quick is not None:
        assert quick == full
    try:
        decoded: FarRecord | str = decode_far_compact({node: row}, "heartbeat")[0]
    except RemoteProtocolError as exc:
        decoded = str(exc)
    assert decoded == full


def test_the_usual_rows_take_the_quick_check() -> None:
    for record in (
        FarRecord("R2", "register", 100, True, False, 17, 0, "", 123),
        FarRecord("K1", "kds", 0, False, True, MAX_VAR_UINT, 5, "", 0),
        FarRecord("C", "console", 1_000_000, False, False, 0, 0, "", MAX_VAR_UINT),
    ):
        assert _far_row(record.node, far_compact(record)) == record
    with_problem = FarRecord("R2", "register", 100, True, False, 17, 0, "no route", 123)
    assert _far_row("R2", far_compact(with_problem)) is None  # (the full checks: its text)
    assert decode_far_compact({"R2": far_compact(with_problem)}, "heartbeat") == (with_problem,)


@pytest.mark.parametrize("features", [FEATURES, frozenset()])
def test_a_beat_encoded_again_for_another_link_is_the_same_bytes(
    features: frozenset[str],
) -> None:
    beat = Heartbeat(
        "R1",
        "register",
        100,
        True,
        False,
        7,
        pending={"ledger/2026-12-05": 3},
        peers=("R2", "R3"),
        far=(FarRecord("R4", "register", 100, True, False, 17, 0, "", 123),),
        gone={"R9": 4},
    )
    first = heartbeat_body(beat, features)
    assert heartbeat_body(beat, features) == first == _heartbeat_body(beat, features)
    other = heartbeat_body(beat, frozenset({"features1"}))  # another peer's features: its own body
    assert other == _heartbeat_body(beat, frozenset({"features1"}))
    changed = replace(beat, seq=8)  # another beat: encoded anew
    assert decode_heartbeat(heartbeat_body(changed, features)).seq == 8
