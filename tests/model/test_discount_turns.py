"""An order discount's key sorts after every key the order has (``model/discount_turns.py``), so every
release, pricing discounts in key order, prices them in the order given: with keys of this release,
of an older one (bare random record ids), and of two registers giving one at once (same turn)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshpos.errors import DomainError
from meshpos.model.discount_turns import TURN_DIGITS, key_in_turn
from meshpos.model.ids import new_record_id
from meshpos.model.limits import MAX_ID_CHARS

fresh = st.builds(new_record_id)
older = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=18, max_size=18)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), older, fresh), max_size=8))
def test_each_key_sorts_after_the_ones_before(gives: list[tuple[bool, str, str]]) -> None:
    keys: list[str] = []
    for by_older, older_key, new_id in gives:
        try:
            key = older_key if by_older else key_in_turn(keys, new_id)
        except DomainError:
            assert sum(len(k) for k in keys) > MAX_ID_CHARS // 2, keys  # only after many older keys
            return
        if not by_older:
            assert all(key > k for k in keys), (key, keys)
            assert len(key) <= MAX_ID_CHARS
        keys.append(key)


def test_turns_count_in_text_order_and_two_at_once_keep_both() -> None:
    keys = [key_in_turn([], "a" * 18)]
    for n in range(1, 40):
        keys.append(key_in_turn(keys, f"b{n:017d}"))
    assert keys == sorted(keys)
    assert len(set(keys)) == 40
    assert keys[-1][1 : 1 + TURN_DIGITS] == "0013"  # 39 in base 36
    one, two = key_in_turn(keys, "x" * 18), key_in_turn(keys, "c" * 18)  # two registers at once
    assert one != two
    assert min(one, two) > keys[-1]


def test_an_order_past_its_room_is_refused_naming_it() -> None:
    keys = ["z" * (MAX_ID_CHARS - 5)]  # an older key that leaves no room after it
    with pytest.raises(DomainError, match="registers of two releases"):
        key_in_turn(keys, new_record_id())
