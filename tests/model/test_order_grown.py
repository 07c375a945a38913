"""A line this register writes grows the kept parse of its order (``_order_kept.grown``, issue 18
seller): the grown parse must be what ``parse_order`` of the map's values gives, whatever the map
already held (lines out of entry order, new quantities taking lines' places, removals, order
discounts, payments, an older node's part maps, a corrupt line). Hypothesis builds the maps; the
end-to-end check (random taps, peers and undos) is tests/model/test_order_kept_exact.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpos.errors import CorruptRecord
from meshpos.model._order_kept import Known, grown
from meshpos.model.records import parse_order

WHERE = "ledger/2025-11-25 orders/o1"
IDS = ("l1", "l2", "l3", "l4", "l5")
INFO = json.dumps({"table": "T1", "waiter": "u", "register": "R1", "shift_id": "s1", "at": 1})


def _text(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


@st.composite
def line_records(draw: st.DrawFn) -> str:
    """A line record's text: stamps and times that collide, a new quantity of another line, a line
    discount; now and then one that does not parse."""
    record: dict[str, Any] = {
        "product_id": draw(st.sampled_from(("espresso", "fries"))),
        "name": "item",
        "quantity": draw(st.integers(1, 3)),
        "unit_price": draw(st.sampled_from((0, 250, 990))),
        "tax_rate_bp": draw(st.sampled_from((0, 1000))),
        "tax_included": draw(st.booleans()),
        "user": "u",
        "device": "R1",
        "at": draw(st.integers(1, 3)),
        "stamp": draw(st.sampled_from(("a", "b", "c"))),
    }
    if draw(st.booleans()):
        record["replaces"] = draw(st.sampled_from(IDS))
    if draw(st.integers(0, 3)) == 0:
        record["discount"] = {"id": "d", "kind": "percent", "value": 10}
    if draw(st.integers(0, 9)) == 0:
        record["quantity"] = "many"  # (does not parse)
    return _text(record)


@st.composite
def order_maps(draw: st.DrawFn) -> dict[str, Any]:
    """An order's plain values (``info`` and ``<part>/<key>`` keys; now and then a part map)."""
    plain: dict[str, Any] = {"info": INFO}
    for line_id in draw(st.lists(st.sampled_from(IDS), unique=True)):
        plain[f"lines/{line_id}"] = draw(line_records())
    for line_id in draw(st.lists(st.sampled_from(IDS), unique=True, max_size=2)):
        plain[f"removed/{line_id}"] = _text({"user": "u", "at": 2, "reason": "mistake"})
    if draw(st.integers(0, 2)) == 0:
        kind, value = draw(st.sampled_from((("percent", 10), ("fixed", 300))))
        plain["discounts/d1"] = _text({"discount_id": "d1", "kind": kind, "value": value})
    if draw(st.integers(0, 2)) == 0:
        plain["payments/p1"] = _text(
            {
                **{"method": "cash", "amount": 100, "tip": 5, "tendered": 105, "change": 0},
                **{"shift_id": "s1", "register": "R1", "user": "u", "at": 2},
            }
        )
    if draw(st.integers(0, 5)) == 0:  # an older node's part map
        part = draw(st.sampled_from(("lines", "removed")))
        key = draw(st.sampled_from(IDS))
        record = draw(line_records()) if part == "lines" else _text({"user": "u", "at": 2})
        plain[part] = {key: record}
    return plain


def _parse(plain: dict[str, Any]) -> Any:
    """What a read with a registry gives: the order and whether it was whole (nothing left out)."""
    bad: list[tuple[str, CorruptRecord]] = []
    try:
        order = parse_order("o1", plain, WHERE, bad)
    except CorruptRecord:
        return None, False
    return order, not bad


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain=order_maps(), line_id=st.sampled_from((*IDS, "new")), value=line_records())
def test_a_grown_parse_is_the_fresh_parse_of_the_map(
    plain: dict[str, Any], line_id: str, value: str
) -> None:
    before, whole = _parse(plain)
    if before is None or not whole:  # (a parse that left something out is never kept)
        return
    at = f"lines/{line_id}"
    order = grown(Known(plain, before, True), at, value, WHERE)
    after, whole_after = _parse({**plain, at: value})
    if order is not None:
        assert whole_after
        assert order == after
    modern = not any(part in plain for part in ("lines", "removed"))
    if modern and at not in plain and f"removed/{line_id}" not in plain and whole_after:
        assert order is not None  # (the usual tap grows the parse: it is not left to the next read)


def test_a_line_out_of_entry_order_and_a_new_quantity_are_placed_as_a_parse_places_them() -> None:
    """The two ways a new line does not simply go last: a stamp before the last line's, and a new
    quantity taking the place of the line it replaces (the later by time, then id)."""
    first = {"product_id": "p", "name": "n", "quantity": 1, "unit_price": 100, "tax_rate_bp": 0}
    first |= {"tax_included": True, "user": "u", "device": "R1", "at": 2, "stamp": "b"}
    plain = {"info": INFO, "lines/l1": _text(first), "lines/l2": _text({**first, "stamp": "c"})}
    before = parse_order("o1", plain, WHERE)
    for at, value in (
        ("lines/l0", _text({**first, "stamp": "a"})),
        ("lines/l3", _text({**first, "quantity": 3, "at": 3, "replaces": "l1"})),
        ("lines/l4", _text({**first, "quantity": 3, "at": 1, "replaces": "l1"})),
    ):
        order = grown(Known(plain, before, True), at, value, WHERE)
        assert order is not None
        assert order == parse_order("o1", {**plain, at: value}, WHERE)
        last = [line.id for line in order.lines]
    assert last == ["l1", "l2"]  # (l4 is older than l1: it loses)


@pytest.mark.parametrize(
    "at",
    ["lines/l1", "removed/l9", "discounts/d9"],
    ids=["a key the map holds", "not a line", "not a line either"],
)
def test_what_a_line_cannot_grow_is_left_to_the_next_read(at: str) -> None:
    line = {"product_id": "p", "name": "n", "quantity": 1, "unit_price": 100, "tax_rate_bp": 0}
    line |= {"tax_included": True, "user": "u", "device": "R1", "at": 2, "stamp": "b"}
    plain = {"info": INFO, "lines/l1": _text(line)}
    before = parse_order("o1", plain, WHERE)
    assert grown(Known(plain, before, True), at, _text({**line, "quantity": 2}), WHERE) is None
