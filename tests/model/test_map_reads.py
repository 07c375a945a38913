"""``_map_reads``: one key of a pycrdt map read through yrs' own calls (issue 18, seller) gives what
pycrdt's ``m[key]`` and ``key in m`` give, wherever it is read: outside any transaction, inside an
operation's open transaction (its own writes not committed yet), inside an observer's callback, and
for a plain dict or a shared value. (What it saves, ~24 Python calls a lookup, is measured, not
asserted: ``python -m meshpos.bench.sale_cost``.)"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text

from meshpos.model._map_reads import ABSENT, get, holds


def _doc() -> tuple[Doc[Any], Map[Any]]:
    doc: Doc[Any] = Doc()
    orders = doc.get("orders", type=Map)
    orders["o1"] = Map({"info": "{}"})
    orders["text"] = "{}"
    orders["n"] = 3
    orders["none"] = None
    orders["shared"] = Text("ab")
    return doc, orders


def _same(orders: Map[Any], key: str) -> None:
    found = get(orders, key)
    assert holds(orders, key) == (key in orders)
    if key not in orders:
        assert found is ABSENT
        assert get(orders, key, None) is None
        return
    expected = orders[key]
    assert type(found) is type(expected)
    if isinstance(expected, Map | Text):
        assert str(found) == str(expected)
    else:
        assert found == expected


KEYS = ("o1", "text", "n", "none", "shared", "missing")


def test_outside_a_transaction_a_read_is_pycrdts() -> None:
    _, orders = _doc()
    for key in KEYS:
        _same(orders, key)
    get(orders, "o1")["lines/l1"] = "{}"  # (the document's own map, not a copy)
    assert orders["o1"]["lines/l1"] == "{}"


def test_inside_an_open_transaction_a_read_sees_its_writes_not_committed_yet() -> None:
    """An operation writes several records in one transaction (a payment and its receipt): a read
    between them goes through that transaction (yrs refuses a second one while it is open)."""
    doc, orders = _doc()
    with doc.transaction():
        orders["later"] = "{}"
        del orders["text"]
        for key in (*KEYS, "later"):
            _same(orders, key)
        assert get(orders, "later") == "{}"
        assert get(orders, "text") is ABSENT
    assert get(orders, "later") == "{}"


def test_inside_an_observers_callback_a_read_is_pycrdts() -> None:
    _, orders = _doc()
    seen: list[object] = []

    def told(_event: Any) -> None:
        seen.append(get(orders, "later"))
        seen.append(holds(orders, "o1"))
        _same(orders, "o1")

    orders.observe(told)
    orders["later"] = "{}"
    assert seen == ["{}", True]


def test_a_plain_dict_is_read_as_before() -> None:
    plain = {"a": 1, "b": None}
    assert get(plain, "a") == 1
    assert get(plain, "b") is None
    assert get(plain, "c") is ABSENT
    assert holds(plain, "a")
    assert not holds(plain, "c")


def test_a_read_commits_nothing_and_tells_no_one() -> None:
    doc, orders = _doc()
    told: list[object] = []
    sub = doc.observe(told.append)
    for key in KEYS:
        get(orders, key)
        holds(orders, key)
    assert told == []
    doc.unobserve(sub)
