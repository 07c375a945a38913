"""The day's counts read records with orjson (model/_tally_reads.py ``glance``): every field they count reads
as the model's own parse reads it, for honest records and hostile ones, so a faster reader never moves
a record to another register's count."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from meshpos.model._records import decoded
from meshpos.model._tally_reads import glance
from meshpos.model.ledger_layout import PAYMENT_ID_FIELD, sale_move_count
from meshpos.model.tally import LedgerTally

# the fields the counts read of a record (the register, a payment's id, the stock moves it stands for)
COUNTED = ("register", "shift_id", PAYMENT_ID_FIELD)


def counted(fields: Any) -> object:
    """What the counts take from a record: its names (a register, a shift, a payment id: read only as
    a non-empty text, anything else counts as none) and its stock moves."""
    if fields is None:
        return None
    names = {k: fields.get(k) for k in COUNTED}
    return (
        {k: v if isinstance(v, str) and v else None for k, v in names.items()},
        sale_move_count(fields),
    )


HOSTILE = [
    '{"register":"R1","x":"\\ud800"}',  # a lone surrogate escape: corrupt for the model
    '{"register":"R1","x":"\ud800"}',  # a lone surrogate itself
    '{"register":"R1","x":NaN}',
    '{"register":"R1","x":1e400}',
    '{"register":"R1","seq":123456789012345678901234567890}',  # past 64 bits
    '{"register":-9223372036854775809}',  # a name that is a number past 64 bits (found by hypothesis)
    '{"register":"R1","register":"R2"}',  # the last of duplicate keys wins in both
    '\ufeff{"register":"R1"}',
    ' {"register":"R1"} ',
    '{"register":"R1"',
    '["register","R1"]',
    '"R1"',
    "",
    '{"register":"R1","stock":true,"lines":[1,2,3]}',
    '{"register":"R1","stock":1,"lines":[1,2,3]}',
    '{"register":"R1","x":' + "[" * 200 + "]" * 200 + "}",
    '{"register":"R1","x":' + "[" * 5000 + "]" * 5000 + "}",
    *('{"register":"R1","x":' + "[" * n + "]" * n + "}" for n in (499, 500, 990, 1000, 1023)),
    '{"register":"R1","x":"\\u0000"}',
    '{"register":"R\\ud83d\\ude00"}',  # a surrogate pair is one character in both
]


def test_hostile_texts_read_as_the_model_reads_them() -> None:
    for text in HOSTILE:
        assert counted(glance(text)) == counted(decoded(text)), text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*COUNTED, "stock", "lines", "seq", "x"]), json_values, max_size=6
    ),
    st.booleans(),
)
def test_any_record_reads_alike(fields: dict[str, Any], ascii_only: bool) -> None:
    text = json.dumps(fields, ensure_ascii=ascii_only)
    assert counted(glance(text)) == counted(decoded(text))


def test_a_record_orjson_refuses_is_counted_where_the_model_counts_it() -> None:
    doc: Doc[Any] = Doc()
    tally = LedgerTally(doc)
    with doc.transaction():
        shifts = doc.get("shifts", type=Map)
        shifts["s1"] = '{"register":"R1","x":NaN}'  # json reads it; orjson does not
        shifts["s2"] = '{"register":"R1","x":"\\ud800"}'  # corrupt for both: an unknown register
    assert tally.counts() == {"R1": {"shift_events": 1}, "?": {"shift_events": 1}}
    tally.close()


def test_an_order_arriving_whole_counts_its_payments_in_every_form_it_may_hold_them() -> None:
    """Read by key through yrs when its payments are texts; whole, as before, when an older node's
    ``payments`` map or a nested map stands among them."""
    doc: Doc[Any] = Doc()
    tally = LedgerTally(doc)
    payment = '{"register":"R1","amount":100,"id":"p%d"}'
    with doc.transaction():
        orders = doc.get("orders", type=Map)
        orders["o1"] = Map({"info": "{}", "payments/p1": payment % 1, "lines/l1": "{}"})
        orders["o2"] = Map({"info": "{}", "receipts/r2": payment % 2})
        orders["o3"] = Map({"payments": Map({"p3": '{"register":"R2"}'})})  # an older node's
        orders["o4"] = Map({"payments/p4": Map({"register": "R2"}), "payments/p5": payment % 5})
    assert tally.counts() == {"R1": {"payments": 3}, "R2": {"payments": 2}}
    assert tally.recount() is False  # a fresh count of the same day agrees
    tally.close()


def test_a_day_counted_at_start_reads_texts_and_older_nodes_maps_alike() -> None:
    """Counted when attached (read by key through yrs) as when it arrives (events)."""
    source: Doc[Any] = Doc()
    with source.transaction():
        source.get("shifts", type=Map)["s1"] = '{"register":"R1"}'
        source.get("shifts", type=Map)["s2"] = Map({"register": "R3"})  # an older node's record
        source.get("cash_moves", type=Map)["c1"] = '{"shift_id":"s2"}'
        source.get("orders", type=Map)["o1"] = Map({"receipts/r1": '{"register":"R1","id":"p1"}'})
    live: Doc[Any] = Doc()
    arriving = LedgerTally(live)
    live.apply_update(source.get_update())
    attached = LedgerTally(source)
    expected = {
        "R1": {"shift_events": 1, "payments": 1},
        "R3": {"shift_events": 1, "cash_moves": 1},
    }
    assert attached.counts() == arriving.counts() == expected
    attached.close()
    arriving.close()
