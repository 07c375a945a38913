"""Insert-only money facts are stored as one compact-JSON text each; days written by an older node (a map
of values per record) read the same, merge with new ones, and keep every conflict rule."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from meshpos.errors import CorruptRecord, InvalidInput
from meshpos.model import Ledger, Venue, ledger
from meshpos.model._records import CorruptRegistry, Fields, decoded
from meshpos.model._writes import put, put_record, same_value
from meshpos.model.ids import RECORD_ID_CHARS, new_record_id
from meshpos.model.ledger_layout import (
    ORDER_PARTS,
    PAYMENT_ID_FIELD,
    SALE_MOVES_FIELD,
    order_parts,
    sale_moves,
)
from meshpos.model.limits import value_problem
from meshpos.model.records import INVENTORY_MOVES, LEDGER_RECORDS, LEDGER_ROOTS
from meshpos.model.sample import CASHIER, MANAGER, sample_catalog
from meshpos.model.tally import LedgerTally

from .conftest import NOW, make_venue, sync

FACT_ROOTS = ("shifts", "shift_closes", "receipts", "refunds", "cash_moves", "inventory")


def a_full_day() -> tuple[Venue, Ledger]:
    """Every kind of record: shifts opened and closed, sales, a refund, cash and stock moves, a void."""
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    receipts = []
    for i, method in enumerate(("card", "cash")):
        order = venue.open_order(CASHIER, NOW + i, table=str(i))
        venue.add_line(CASHIER, order.id, "burger", 2, NOW + i)
        venue.add_line(CASHIER, order.id, "fries", 1, NOW + i)
        paid = venue.pay(CASHIER, order.id, method, NOW + i, tip=50)
        assert paid.receipt is not None
        receipts.append(paid.receipt)
    voided = venue.open_order(CASHIER, NOW + 5)
    venue.add_line(CASHIER, voided.id, "fries", 1, NOW + 5)
    venue.void_order(MANAGER, voided.id, NOW + 5, "mistake")
    venue.refund(MANAGER, receipts[0].id, NOW + 6, lines={receipts[0].lines[0].line_id: 1})
    venue.cash_move(CASHIER, "in", 500, "float", NOW + 7)
    venue.inventory_move(MANAGER, "burger", "writeoff", 1, NOW + 8, "dropped")
    venue.close_shift(CASHIER, 10_000, NOW + 9)
    return venue, venue.ledger(venue.business_date(NOW))


def as_older_node_wrote_it(
    doc: Doc[Any], *, facts_as_text: bool = False, one_map: bool = False
) -> Doc[Any]:
    """The same day as an older node holds it: an order as a map per part (``lines``, ``payments``, ...)
    whose lines are maps of values, and every other record a map of values (numbers come back as
    floats, as pycrdt hands them). ``facts_as_text``: the node after it, whose insert-only facts
    (and an order's payments) were already JSON text. ``one_map``: the node just before this one (an
    order one map, every record JSON text). Every one of them wrote a sale's stock movements as records
    and a paid order's payment apart from its receipt's number."""
    old: Doc[Any] = Doc()
    seqs = {k: json.loads(v)["seq"] for k, v in doc.get("receipts", type=Map).items()}
    for root in LEDGER_ROOTS:
        target = old.get(root, type=Map)
        for key, value in _sale_moves_written_apart(doc, root).items():
            if root == "orders":
                value = _payments_apart(value, seqs)
            if root == "orders" and one_map:
                target[key] = Map(value)
            elif root == "orders":
                parts = {
                    part: Map(
                        {
                            k: v if facts_as_text and part == "payments" else _map(v)
                            for k, v in records.items()
                        }
                    )
                    for part, records in order_parts(value, key).items()
                }
                target[key] = Map({"info": _map(value["info"]), **parts})
            else:
                target[key] = value if facts_as_text else _map(value)
    return old


def _sale_moves_written_apart(doc: Doc[Any], root: str) -> dict[str, Any]:
    """A root as an older node wrote it: its receipts do not stand for their stock movements, which
    are ``inventory`` records of their own (under the ids the newer node derives for them)."""
    values: dict[str, Any] = json.loads(str(doc.get(root, type=Map)))
    receipts = json.loads(str(doc.get("receipts", type=Map)))
    if root == "receipts":
        return {k: _without(v, SALE_MOVES_FIELD) for k, v in values.items()}
    if root == "inventory":
        for receipt_id, text in receipts.items():
            for move in sale_moves(receipt_id, Fields(text, receipt_id)):
                values[move.id] = json.dumps(
                    {
                        "product_id": move.product_id,
                        "kind": move.kind,
                        "quantity": move.quantity,
                        "ref": move.ref,
                        "user": move.user,
                        "device": move.device,
                        "at": move.at_ms,
                    }
                )
    return values


def _payments_apart(order: dict[str, Any], seqs: dict[str, int]) -> dict[str, Any]:
    """An order's map with its receipts' payments under ``payments/<id>`` and each receipt's key
    holding its sequence number."""
    out = {}
    for key, value in order.items():
        part, _, receipt_id = key.partition("/")
        if part == "receipts":
            payment = json.loads(value)
            out[f"payments/{payment.pop(PAYMENT_ID_FIELD)}"] = json.dumps(payment)
            value = seqs[receipt_id]
        out[key] = value
    return out


def _without(text: str, field: str) -> str:
    record = json.loads(text)
    assert record.pop(field) is True
    return json.dumps(record)


def _map(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def read_all(day: Ledger) -> dict[str, Any]:
    return {
        **{spec.table: day.records(spec) for spec in LEDGER_RECORDS},
        "conflicts": day.conflicts(),
        "issued": sorted(day.issued_numbers()),
    }


def test_every_record_is_one_value_and_an_order_one_map() -> None:
    _, day = a_full_day()
    for root in FACT_ROOTS:
        values = list(day.doc.get(root, type=Map).values())
        assert values, root
        assert all(isinstance(v, str) for v in values), root
        assert all(isinstance(json.loads(v), dict) for v in values), root
    kinds = set()
    for order in day.doc.get("orders", type=Map).values():
        assert isinstance(order, Map)
        for key, value in order.items():
            part, _, record = key.partition("/")
            kinds.add(part)
            assert part == "info" or (part in ORDER_PARTS and record), key
            assert not isinstance(value, Map), key  # no nested type inside an order
            if part in ("info", "lines", "payments", "removed", "discounts", "voids"):
                assert isinstance(json.loads(value), dict), key
            if part == "receipts":  # the receipt's key holds the payment that issued it
                assert isinstance(json.loads(value)[PAYMENT_ID_FIELD], str), key
    assert {"info", "lines", "receipts", "voids"} <= kinds


@pytest.mark.parametrize(
    ("facts_as_text", "one_map"),
    [(False, False), (True, False), (True, True)],
    ids=["maps", "json facts", "one map per order"],
)
def test_a_day_written_by_an_older_node_reads_the_same(facts_as_text: bool, one_map: bool) -> None:
    _, day = a_full_day()
    old = as_older_node_wrote_it(day.doc, facts_as_text=facts_as_text, one_map=one_map)
    receipts = old.get("receipts", type=Map).values()
    assert all(isinstance(v, str if facts_as_text else dict) for v in receipts)
    date = day.date
    now = read_all(day)
    assert all(now[kind] for kind in ("receipts", "refunds", "cash_moves", "inventory_moves"))
    assert read_all(Ledger(old, date)) == now
    assert read_all(Ledger.snapshot(old, date)) == read_all(Ledger.snapshot(day.doc, date)) == now
    assert read_all(Ledger.from_export(Ledger.export(old), date)) == now
    assert LedgerTally(old).counts() == LedgerTally(day.doc).counts()
    receipt = now["receipts"][0]
    assert Ledger(old, date).receipt(receipt.id) == receipt
    assert Ledger(old, date).corrupt_refund_of(receipt.id) is None


def test_an_order_an_older_node_opened_is_sold_into_its_part_maps() -> None:
    """A newer node adds lines to an order an older node opened, pays it and the older node reads every
    record where it looks for it (the order's part maps); the live tally counts the payment."""
    r1 = make_venue("R1")
    r1.open_shift_now(CASHIER, 0, NOW)
    opened = r1.open_order(CASHIER, NOW, table="3")
    r1.add_line(CASHIER, opened.id, "burger", 1, NOW)
    name = f"ledger/{r1.business_date(NOW)}"
    older = as_older_node_wrote_it(r1.replica.doc(name))
    r2 = make_venue("R2", catalog_from=r1.replica)
    r2.replica.apply(name, older.get_update())
    r2.open_shift_now(CASHIER, 0, NOW)
    live = LedgerTally(r2.replica.doc(name))
    r2.add_line(CASHIER, opened.id, "fries", 2, NOW)
    paid = r2.pay(CASHIER, opened.id, "cash", NOW)
    order_map = r2.replica.doc(name).get("orders", type=Map)[opened.id]
    assert sorted(order_map.keys()) == sorted(["info", *ORDER_PARTS])  # nothing beside the parts
    assert paid.payment.id in order_map["payments"]
    assert len(order_map["lines"]) == 2
    assert len(order_map["receipts"]) == 1
    order = r2.order(opened.id)
    assert order.status == "paid"
    assert [line.quantity for line in order.lines] == [1, 2]
    assert r2.conflicts() == []
    assert live.counts() == LedgerTally(r2.replica.doc(name)).counts()
    assert live.counts()["R2"]["payments"] == 1


def test_an_older_node_and_a_newer_one_paying_one_order_is_still_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R2 writes as an older node did (a map per record) while partitioned from R1: nothing is dropped,
    both read the same order, and the double payment is found on both."""
    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    for v in (r1, r2):
        v.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW, table="7")
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    sync(r1.replica, r2.replica)
    name = f"ledger/{r1.business_date(NOW)}"
    live = LedgerTally(r1.replica.doc(name))  # counts what arrives through its observers
    p1 = r1.pay(CASHIER, order.id, "card", NOW)
    with monkeypatch.context() as older:
        older.setattr(ledger, "put_record", lambda t, k, record, where: put(t, k, record, where))
        p2 = r2.pay(CASHIER, order.id, "cash", NOW)
    day = r2.ledger(r2.business_date(NOW))
    assert isinstance(day.doc.get("receipts", type=Map)[p2.receipt.id], dict)  # type: ignore[union-attr]
    sync(r1.replica, r2.replica)
    for v in (r1, r2):
        merged = v.order(order.id)
        assert {p.id for p in merged.payments} == {p1.payment.id, p2.payment.id}
        assert sorted(c.kind for c in v.conflicts()) == ["double_receipt", "overpaid"]
        assert {r.id for r in v.ledger(v.business_date(NOW)).receipts()} == {
            p1.receipt.id,  # type: ignore[union-attr]
            p2.receipt.id,  # type: ignore[union-attr]
        }
    assert r1.conflicts() == r2.conflicts()
    assert r1.order(order.id) == r2.order(order.id)
    counts = live.counts()
    assert counts == LedgerTally(r1.replica.doc(name)).counts()
    assert counts == LedgerTally(r2.replica.doc(name)).counts()
    assert counts["R2"]["payments"] == counts["R1"]["payments"] == 1
    assert counts["R2"]["receipts"] == counts["R1"]["receipts"] == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not a record", "not JSON"),
        ("[1, 2]", "found JSON list"),
        ('{"number": "\\ud800"}', "lone surrogate"),
        ("[" * 100_000, "not JSON"),
        ('{"seq": 1e999}', "field"),
    ],
)
def test_a_record_text_that_does_not_parse_is_skipped_and_listed(text: str, why: str) -> None:
    venue, day = a_full_day()
    good = day.receipts()
    day.doc.get("receipts", type=Map)["bad"] = text
    listed = venue.ledger(day.date)
    assert listed.receipts() == good
    (entry,) = venue.corrupt_records()
    assert entry.key == "receipts/bad"
    assert why in entry.reason
    with pytest.raises(CorruptRecord, match=why):
        Ledger(day.doc, day.date).receipt("bad")
    assert LedgerTally(day.doc).counts()["?"] == {"receipts": 1}  # counted, its register unknown


def test_a_record_text_with_an_escaped_surrogate_pair_reads() -> None:
    """Only a lone surrogate is refused: a pair escaped in JSON is one character, like any other."""
    venue, day = a_full_day()
    receipts = day.doc.get("receipts", type=Map)
    receipt = day.receipts()[0]
    record = json.loads(receipts[receipt.id])
    record["lines"][0]["name"] = "PAIR"
    receipts[receipt.id] = json.dumps(record).replace("PAIR", "\\ud83c\\udf54")
    assert "\\ud83c" in receipts[receipt.id]
    assert venue.ledger(day.date).receipt(receipt.id).lines[0].name == "\U0001f354"
    assert venue.corrupt_records() == []


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _VALUES, max_size=6))
def test_every_record_the_bounds_accept_reads_back_as_written(record: dict[str, Any]) -> None:
    """What ``put_record`` accepts comes back equal, integers as integers; what it refuses writes
    nothing."""
    doc: Doc[Any] = Doc()
    root = doc.get("receipts", type=Map)
    if value_problem(record) is not None:
        with pytest.raises(InvalidInput):
            put_record(root, "r", record, "receipts/r")
        assert "r" not in root
        return
    put_record(root, "r", record, "receipts/r")
    stored = root["r"]
    assert isinstance(stored, str)
    assert decoded(stored) == record
    assert json.dumps(decoded(stored)) == json.dumps(record)  # same types: 1 stays 1, not 1.0


def test_a_sale_writes_no_stock_record_its_receipt_stands_for_them() -> None:
    """A sale's stock movements are its receipt's lines: no ``inventory`` record is written for them,
    every reader lists them (one per line, of the receipt's register, user and time) and the status
    counts them with the receipt; write-offs and refunds are still records of their own."""
    _, day = a_full_day()
    stored = json.loads(str(day.doc.get("inventory", type=Map)))
    assert sorted(json.loads(v)["kind"] for v in stored.values()) == ["refund", "writeoff"]
    sold = [m for m in day.inventory() if m.kind == "sale"]
    expected = [
        (f"{r.id}.{i}", line.product_id, line.quantity, r.id, r.user, r.register, r.issued_at_ms)
        for r in day.receipts()
        for i, line in enumerate(r.lines)
    ]
    assert sorted(
        (m.id, m.product_id, m.quantity, m.ref, m.user, m.device, m.at_ms) for m in sold
    ) == sorted(expected)
    assert day.records(INVENTORY_MOVES) == day.inventory()
    assert Ledger.snapshot(day.doc, day.date).inventory() == day.inventory()
    counts = LedgerTally(day.doc).counts()
    assert counts["R1"]["stock_moves"] == len(expected) + len(stored)


def test_a_receipt_whose_stock_flag_is_not_a_flag_is_noted_and_its_moves_left_out() -> None:
    _, day = a_full_day()
    receipts = day.doc.get("receipts", type=Map)
    key, text = next(iter(receipts.items()))
    record = json.loads(text)
    record[SALE_MOVES_FIELD] = "yes"
    receipts[key] = json.dumps(record)
    registry = CorruptRegistry()
    read = Ledger(day.doc, day.date, corrupt=registry)
    assert all(m.ref != key for m in read.inventory())
    assert [e.key for e in registry.entries()] == [f"receipts/{key}"]
    with pytest.raises(CorruptRecord, match="expected true/false"):
        Ledger(day.doc, day.date).inventory()


def test_new_record_ids_are_short_lowercase_words_and_distinct() -> None:
    """A record id is written a dozen times a sale (issue 18): 18 letters and digits, not a uuid's 36,
    starting with a letter (never an option on a command line, never a number), lowercase."""
    made = [new_record_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    for i in made:
        assert len(i) == RECORD_ID_CHARS
        assert i[0].isalpha()
        assert i.isalnum()
        assert i.isascii()
        assert i == i.lower()
    # every letter and digit turns up, in every place but the first (the ids use their whole room)
    assert {c for i in made for c in i[1:]} == set("0123456789abcdefghijklmnopqrstuvwxyz")


def test_a_sale_writes_no_field_that_holds_nothing_and_reads_it_as_empty() -> None:
    """No table, tab, modifiers or discount: the fields are left out (readers of this release and the
    one before take them missing as empty: tests/compat/test_records_previous.py), and read back empty.
    Given, they are written and read as before."""
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    plain = venue.open_order(CASHIER, NOW)
    venue.add_line(CASHIER, plain.id, "espresso", 1, NOW)
    placed = venue.open_order(CASHIER, NOW, table="T2", tab="Jo")
    ledger = venue.ledger(venue.business_date(NOW))
    orders = ledger.doc.get("orders", type=Map)
    info = json.loads(orders[plain.id]["info"])
    assert "table" not in info
    assert "tab" not in info
    assert json.loads(orders[placed.id]["info"])["table"] == "T2"
    ((line_key, line_text),) = [(k, v) for k, v in orders[plain.id].items() if k != "info"]
    assert line_key.startswith("lines/")
    line = json.loads(line_text)
    assert "modifiers" not in line
    assert "discount" not in line
    read = ledger.order(plain.id)
    assert (read.table, read.tab) == ("", "")
    assert read.lines[0].modifiers == ()
    assert read.lines[0].discount_id is None
    assert (ledger.order(placed.id).table, ledger.order(placed.id).tab) == ("T2", "Jo")


def test_a_menu_written_again_unchanged_sends_nothing_and_a_change_still_goes() -> None:
    """A key written with the value it holds would send an update to every device and leave a tombstone
    for good (issue 18): the whole sample menu loaded again writes nothing; one price changed writes
    that product alone, and a value of another kind (a flag for a number) is a change."""
    venue = make_venue("R1")  # the sample menu, loaded once
    sample_catalog(venue.catalog, pin_hash="x")
    assert venue.replica.take_updates() == []
    other = make_venue("R2", catalog_from=venue.replica)
    espresso = venue.catalog.product("espresso")
    venue.catalog.put_product(dataclasses.replace(espresso, price=espresso.price + 10))
    (changed,) = venue.replica.take_updates()
    assert venue.catalog.product("espresso").price == espresso.price + 10
    other.replica.apply(changed.document, changed.update)
    assert other.catalog.product("espresso").price == espresso.price + 10
    assert other.catalog.product("latte") == venue.catalog.product("latte")  # nothing else moved
    doc: Doc[Any] = Doc()
    values = doc.get("m", type=Map)
    put(values, "n", 1, "test")
    for same in (1, 1.0):
        put(values, "n", same, "test")
        assert not same_value(True, same)
    put(values, "n", True, "test")
    assert values["n"] is True
