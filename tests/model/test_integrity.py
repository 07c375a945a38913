"""Bad input never reaches a document, a failed write leaves nothing behind, a bad record never takes a day down.

Issue 13, defect 1: a lone surrogate in a table name made pycrdt panic (a BaseException) in the middle of a
write; the half order broke every read of the day. Defect 6: values without bounds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pycrdt import Map

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidAmount,
    InvalidInput,
    RecordUnusable,
    WriteFailed,
)
from meshpos.model import (
    Discount,
    Ledger,
    Modifier,
    ModifierGroup,
    Product,
    Replica,
    Settings,
    Tax,
    User,
    Venue,
    _writes,
    venue_orders,
)
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
)
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW

BAD_TEXTS: dict[str, Callable[[int], str]] = {
    "lone surrogate": lambda limit: "a\ud800b",
    "control character": lambda limit: "a\x07b",
    "over-long": lambda limit: "x" * (limit + 1),
}


@dataclass
class Day:
    """An open shift with an open order holding a line sent to the kitchen, and a paid receipt."""

    venue: Venue
    order_id: str
    line_id: str
    ticket_id: str
    receipt_id: str
    receipt_line_id: str


@pytest.fixture
def day(open_venue: Venue) -> Day:
    v = open_venue
    paid = v.open_order(CASHIER, NOW)
    paid = v.add_line(CASHIER, paid.id, "burger", 2, NOW)
    result = v.pay(CASHIER, paid.id, "cash", NOW)
    assert result.receipt is not None
    order = v.open_order(CASHIER, NOW, table="4")
    order = v.add_line(CASHIER, order.id, "espresso", 1, NOW)
    ticket = v.send_to_kitchen(CASHIER, order.id, NOW)
    assert ticket is not None
    v.replica.take_updates()
    return Day(
        v,
        order.id,
        order.lines[0].id,
        ticket.id,
        result.receipt.id,
        result.receipt.lines[0].line_id,
    )


def everything(venue: Venue) -> dict[str, str]:
    """What every document of the venue holds, as readers see it."""
    return {name: json.dumps(_roots(venue, name), sort_keys=True) for name in venue.replica.names()}


def _roots(venue: Venue, name: str) -> dict[str, Any]:
    doc = venue.replica.doc(name)
    return {key: json.loads(str(doc.get(key, type=Map))) for key in list(doc.keys())}


# --- every text a Venue operation takes is checked at entry, naming the field ----------------------

TextCase = tuple[str, int, Callable[[Day, str], object]]
TEXT_CASES: list[TextCase] = [
    ("table", MAX_NAME_CHARS, lambda d, t: d.venue.open_order(CASHIER, NOW, table=t)),
    ("tab", MAX_NAME_CHARS, lambda d, t: d.venue.open_order(CASHIER, NOW, tab=t)),
    ("user", MAX_ID_CHARS, lambda d, t: d.venue.open_order(t, NOW)),
    ("reason", MAX_NOTE_CHARS, lambda d, t: d.venue.cash_move(CASHIER, "in", 100, t, NOW)),
    (
        "reason",
        MAX_NOTE_CHARS,
        lambda d, t: d.venue.inventory_move(MANAGER, "burger", "writeoff", 1, NOW, t),
    ),
    ("reason", MAX_NOTE_CHARS, lambda d, t: d.venue.void_order(MANAGER, d.order_id, NOW, t)),
    (
        "reason",
        MAX_NOTE_CHARS,
        lambda d, t: d.venue.remove_line(MANAGER, d.order_id, d.line_id, NOW, t),
    ),
    ("reason", MAX_NOTE_CHARS, lambda d, t: d.venue.refund(MANAGER, d.receipt_id, NOW, reason=t)),
    ("product id", MAX_ID_CHARS, lambda d, t: d.venue.add_line(CASHIER, d.order_id, t, 1, NOW)),
    (
        "modifier id",
        MAX_ID_CHARS,
        lambda d, t: d.venue.add_line(CASHIER, d.order_id, "latte", 1, NOW, modifiers=[t]),
    ),
    (
        "discount id",
        MAX_ID_CHARS,
        lambda d, t: d.venue.add_line(CASHIER, d.order_id, "burger", 1, NOW, discount_id=t),
    ),
    (
        "discount id",
        MAX_ID_CHARS,
        lambda d, t: d.venue.apply_order_discount(MANAGER, d.order_id, t, NOW),
    ),
    ("order id", MAX_ID_CHARS, lambda d, t: d.venue.pay(CASHIER, t, "card", NOW)),
    (
        "refund line id",
        MAX_ID_CHARS,
        lambda d, t: d.venue.refund(MANAGER, d.receipt_id, NOW, lines={t: 1}),
    ),
    ("product id", MAX_ID_CHARS, lambda d, t: d.venue.set_stop(MANAGER, t, True, NOW)),
    ("ticket id", MAX_ID_CHARS, lambda d, t: d.venue.bump(CASHIER, t, NOW)),
    ("user", MAX_ID_CHARS, lambda d, t: d.venue.recall(t, d.ticket_id, NOW)),
]


@pytest.mark.parametrize("bad", sorted(BAD_TEXTS))
@pytest.mark.parametrize(
    ("field", "limit", "call"), TEXT_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(TEXT_CASES)]
)
def test_every_operation_refuses_bad_text_and_changes_nothing(
    day: Day,
    bad: str,
    field: str,
    limit: int,
    call: Callable[[Day, str], object],
    unchanged: Callable[[Venue], None],
) -> None:
    before = everything(day.venue)
    with pytest.raises(InvalidInput, match=field):
        call(day, BAD_TEXTS[bad](limit))
    unchanged(day.venue)
    assert everything(day.venue) == before


def test_text_at_the_limit_is_stored(day: Day) -> None:
    order = day.venue.open_order(CASHIER, NOW, table="t" * MAX_NAME_CHARS, tab="é" * MAX_NAME_CHARS)
    assert (order.table, order.tab) == ("t" * MAX_NAME_CHARS, "é" * MAX_NAME_CHARS)


def test_looking_up_an_id_pycrdt_cannot_encode_is_bad_input_not_a_crash(day: Day) -> None:
    v = day.venue
    date = v.business_date(NOW)
    lookups: list[Callable[[], object]] = [
        lambda: v.catalog.product("\ud800"),
        lambda: v.catalog.user("\ud800"),
        lambda: v.order("\ud800"),
        lambda: v.receipt("\ud800"),
        lambda: v.shift("\ud800"),
        lambda: v.ledger(date).has_order("\ud800"),
        lambda: v.kitchen(date).has("\ud800"),
        lambda: v.kitchen(date).ticket("\ud800"),
    ]
    for lookup in lookups:
        with pytest.raises(InvalidInput, match="lone surrogate"):
            lookup()


# --- money and quantities have venue-sane bounds everywhere ---------------------------------------

AmountCase = tuple[str, Callable[[Day, int], object]]
AMOUNT_CASES: list[AmountCase] = [
    ("counted cash", lambda d, n: d.venue.close_shift(CASHIER, n, NOW)),
    ("cash amount", lambda d, n: d.venue.cash_move(CASHIER, "in", n, "float", NOW)),
    ("tip", lambda d, n: d.venue.pay(CASHIER, d.order_id, "card", NOW, tip=n)),
    ("tendered", lambda d, n: d.venue.pay(CASHIER, d.order_id, "cash", NOW, tendered=n)),
    ("amount", lambda d, n: d.venue.pay(CASHIER, d.order_id, "card", NOW, amount=n)),
    ("quantity", lambda d, n: d.venue.add_line(CASHIER, d.order_id, "burger", n, NOW)),
    (
        "quantity",
        lambda d, n: d.venue.inventory_move(MANAGER, "burger", "supply", n, NOW),
    ),
    (
        "refund quantity",
        lambda d, n: d.venue.refund(MANAGER, d.receipt_id, NOW, lines={d.receipt_line_id: n}),
    ),
]


@pytest.mark.parametrize(
    ("field", "call"), AMOUNT_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(AMOUNT_CASES)]
)
def test_out_of_bound_money_and_quantities_are_refused_and_change_nothing(
    day: Day, field: str, call: Callable[[Day, int], object], unchanged: Callable[[Venue], None]
) -> None:
    before = everything(day.venue)
    too_big = MAX_QUANTITY + 1 if "quantity" in field else MAX_AMOUNT + 1
    for value in (too_big, 2**62, 10**30, -1):
        with pytest.raises(DomainError, match=field):
            call(day, value)
    unchanged(day.venue)
    assert everything(day.venue) == before


def test_opening_cash_out_of_bounds_is_refused(
    venue: Venue, unchanged: Callable[[Venue], None]
) -> None:
    for value in (MAX_AMOUNT + 1, 10**30):
        with pytest.raises(DomainError, match="opening cash"):
            venue.open_shift_now(CASHIER, value, NOW)
    unchanged(venue)


CatalogCase = tuple[str, object]
CATALOG_CASES: list[CatalogCase] = [
    ("price", Product("p", "P", MAX_AMOUNT + 1)),
    ("price", Product("p", "P", 2**62)),
    ("name", Product("p", "P\ud800", 100)),
    ("name", Product("p", "x" * (MAX_NAME_CHARS + 1), 100)),
    ("category", Product("p", "P", 100, "Bar\x00")),
    ("product id", Product("p\ud800", "P", 100)),
    ("price_delta", ModifierGroup("g", "G", (Modifier("m", "M", 10**30),))),
    ("modifier 'm' name", ModifierGroup("g", "G", (Modifier("m", "M\x1b", 1),))),
    ("value", Discount("d", "D", "fixed", "order", MAX_AMOUNT + 1)),
    ("name", Tax("t", "T\ud800", 1_000)),
    ("name", User("u", "U\ud800", "cashier")),
    ("currency", Settings(currency="EU\ud800")),
]


@pytest.mark.parametrize(
    ("field", "entry"), CATALOG_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CATALOG_CASES)]
)
def test_catalog_writes_refuse_bad_values_and_change_nothing(
    venue: Venue, field: str, entry: Any, unchanged: Callable[[Venue], None]
) -> None:
    before = everything(venue)
    with pytest.raises(DomainError, match=field):
        venue.catalog.load([entry])
    unchanged(venue)  # refused before any write
    with pytest.raises(DomainError, match=field):
        venue.catalog.load([Product("fine", "Fine", 100), entry])  # a good entry first: taken back
    assert everything(venue) == before


# --- a write that fails part-way is taken back whole ------------------------------------------------


def _panic_past_the_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a lone surrogate through every check, so pycrdt itself panics in the middle of a write."""
    monkeypatch.setattr(_writes, "check_value", lambda value, where: None)
    monkeypatch.setattr(venue_orders, "check_text", lambda value, *args: value)


def test_an_order_pycrdt_panics_on_is_taken_back_on_every_replica(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reproduced defect: a table of "\\ud800" left a half order that broke the day."""
    peer = copy_of(open_venue)
    before = everything(open_venue)
    _panic_past_the_validator(monkeypatch)
    with pytest.raises(WriteFailed, match="nothing was written") as raised:
        open_venue.open_order(CASHIER, NOW, table="\ud800")
    assert type(raised.value.__cause__).__name__ == "PanicException"
    assert isinstance(raised.value.__cause__, BaseException)
    assert not isinstance(raised.value.__cause__, Exception)
    assert everything(open_venue) == before
    ledger = open_venue.ledger(open_venue.business_date(NOW))
    assert ledger.orders() == []
    assert open_venue.corrupt_records() == []
    receive(peer, open_venue)
    assert Ledger(peer.doc(ledger.name), ledger.date).orders() == []
    theirs = {k: json.loads(t) for k, t in Ledger.export(peer.doc(ledger.name)).items()}
    assert theirs == {k: json.loads(t) for k, t in Ledger.export(ledger.doc).items()}
    assert json.loads(Ledger.export(peer.doc(ledger.name))["orders"]) == {}


def copy_of(venue: Venue) -> Replica:
    """A second replica holding what ``venue`` holds now (a peer in sync)."""
    peer = Replica()
    for name in venue.replica.names():
        peer.apply(name, venue.replica.doc(name).get_update())
    venue.replica.take_updates()
    return peer


def receive(peer: Replica, venue: Venue) -> None:
    """Apply to ``peer`` the updates ``venue`` produced since: what the node commits and sends."""
    updates = venue.replica.take_updates()
    assert updates  # a write taken back is an insert and its deletion, replicated alike
    for update in updates:
        peer.apply(update.document, update.update)


def test_a_payment_whose_receipt_panics_is_taken_back_whole(
    open_venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payment is assigned first, then the receipt panics: the payment must not stay."""
    order = open_venue.open_order(CASHIER, NOW)
    order = open_venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    peer = copy_of(open_venue)
    before = everything(open_venue)
    before_order = open_venue.order(order.id)
    monkeypatch.setattr(_writes, "check_value", lambda value, where: None)
    write = Ledger.write

    def poisoned(self: Ledger, root: str, key: str, record: dict[str, Any]) -> None:
        write(self, root, key, {**record, "number": "\ud800"} if root == "receipts" else record)

    monkeypatch.setattr(Ledger, "write", poisoned)
    with pytest.raises(WriteFailed, match=r"take the payment.*nothing was written"):
        open_venue.pay(CASHIER, order.id, "cash", NOW)
    assert everything(open_venue) == before
    assert open_venue.order(order.id) == before_order
    assert open_venue.order(order.id).status == "open"
    receive(peer, open_venue)
    date = open_venue.business_date(NOW)
    seen_by_peer = Ledger(peer.doc(f"ledger/{date}"), date)
    assert seen_by_peer.order(order.id).payments == ()
    assert seen_by_peer.receipts() == []
    assert seen_by_peer.inventory() == []
    monkeypatch.undo()
    paid = open_venue.pay(CASHIER, order.id, "cash", NOW)  # the sale can still be completed
    assert paid.receipt is not None
    assert open_venue.order(order.id).status == "paid"


def test_a_refused_write_part_way_takes_back_what_it_wrote(
    open_venue: Venue, unchanged: Callable[[Venue], None]
) -> None:
    """A MeshposError after the first assignment (here: the second record is refused by the validator)."""
    ledger = open_venue.ledger(open_venue.business_date(NOW))
    before = everything(open_venue)

    def two_moves() -> None:
        with _writes.all_or_nothing("two moves"):
            ledger.write("cash_moves", "first", {"amount": 1})
            ledger.write("cash_moves", "second", {"amount": 2**60})

    with pytest.raises(InvalidInput, match="cash_moves/second"):
        two_moves()
    assert everything(open_venue) == before
    assert "first" not in ledger.doc.get("cash_moves", type=Map)


# --- one bad record never takes down the reads of a day --------------------------------------------


def _write_as_a_peer(venue: Venue, name: str, root: str, key: str, value: object) -> None:
    """What a peer with a valid certificate can do: write anything straight into the CRDT."""
    venue.replica.doc(name).get(root, type=Map)[key] = value


def test_corrupt_records_are_skipped_listed_once_and_the_day_keeps_working(day: Day) -> None:
    v = day.venue
    date = v.business_date(NOW)
    ledger_name, kitchen_name = f"ledger/{date}", f"kitchen/{date}"
    shift = v.open_shift()
    assert shift is not None
    expected_before = v.expected_cash(shift)
    orders_before = [o.id for o in v.ledger(date).orders()]
    _write_as_a_peer(v, ledger_name, "orders", "junk-order", "not a map")
    _write_as_a_peer(v, ledger_name, "orders", "half-order", Map({"lines": Map()}))
    _write_as_a_peer(v, ledger_name, "receipts", "junk-receipt", {"number": 7})
    _write_as_a_peer(v, ledger_name, "refunds", "junk-refund", {"amount": "lots"})
    _write_as_a_peer(v, ledger_name, "cash_moves", "junk-move", {"kind": "in", "amount": 2**60})
    _write_as_a_peer(v, ledger_name, "inventory", "junk-stock", [1, 2])
    _write_as_a_peer(v, ledger_name, "shifts", "junk-shift", {"register": v.device})
    _write_as_a_peer(
        v, "catalog", "products", "gold", {"name": "Gold", "price": 2**62, "active": True}
    )
    _write_as_a_peer(v, "catalog", "users", "u-ghost", {"name": 5})
    _write_as_a_peer(v, kitchen_name, "tickets", "junk-ticket", {"items": "none"})
    _write_as_a_peer(v, "stoplist", "items", "burger/R9", {"stopped": "yes"})
    ledger = v.ledger(date)
    for _ in range(2):  # listed once, however often the day is read
        assert [o.id for o in ledger.orders()] == orders_before
        assert [r.id for r in ledger.receipts()] == [day.receipt_id]
        assert ledger.refunds() == []
        assert ledger.cash_moves() == []
        assert all(m.kind == "sale" for m in ledger.inventory())
        assert [s.id for s in ledger.shifts()] == [shift.id]
        assert v.open_shift() == shift
        assert v.expected_cash(shift) == expected_before
        assert v.conflicts() == []
        assert "gold" not in [p.id for p in v.catalog.products()]
        assert "u-ghost" not in [u.id for u in v.catalog.users()]
        assert [t.id for t in v.kitchen(date).tickets()] == [day.ticket_id]
        assert v.stoplist.stopped_items() == []
    found = {(e.doc, e.key) for e in v.corrupt_records()}
    assert found == {
        (ledger_name, "orders/junk-order"),
        (ledger_name, "orders/half-order"),
        (ledger_name, "receipts/junk-receipt"),
        (ledger_name, "refunds/junk-refund"),
        (ledger_name, "cash_moves/junk-move"),
        (ledger_name, "inventory/junk-stock"),
        (ledger_name, "shifts/junk-shift"),
        ("catalog", "products/gold"),
        ("catalog", "users/u-ghost"),
        (kitchen_name, "tickets/junk-ticket"),
        ("stoplist", "items/burger/R9"),
    }
    assert v.corrupt_count() == len(found)
    assert all(e.reason for e in v.corrupt_records())
    gold = next(e for e in v.corrupt_records() if e.key == "products/gold")
    assert "price" in gold.reason
    assert str(MAX_AMOUNT) in gold.reason
    # selling goes on; the corrupt product alone cannot be sold
    order = v.add_line(CASHIER, day.order_id, "burger", 1, NOW)
    assert len(order.lines) == 2
    with pytest.raises(RecordUnusable, match="gold"):
        v.add_line(CASHIER, day.order_id, "gold", 1, NOW)
    with pytest.raises(RecordUnusable, match="orders/half-order"):
        v.order("half-order")  # asked for by id: refused like a rule (the API answers 422)
    with pytest.raises(RecordUnusable, match="users/u-ghost"):
        v.open_order("u-ghost", NOW)
    assert v.corrupt_count() == len(found)


def test_a_corrupt_order_on_the_shift_does_not_block_closing_it(day: Day) -> None:
    """It can be neither paid nor voided: it does not count as open, it stays listed as corrupt."""
    v = day.venue
    date = v.business_date(NOW)
    v.void_order(MANAGER, day.order_id, NOW)
    orders = v.replica.doc(f"ledger/{date}").get("orders", type=Map)
    orders[day.order_id]["info"] = {"table": 5}  # the order itself (a bad line alone is left out)
    with pytest.raises(RecordUnusable, match=f"orders/{day.order_id} info"):
        v.pay(CASHIER, day.order_id, "card", NOW)
    closed = v.close_shift(CASHIER, 0, NOW)
    assert closed.close is not None
    assert [(e.doc, e.key) for e in v.corrupt_records()] == [
        (f"ledger/{date}", f"orders/{day.order_id}")
    ]


def test_a_bad_line_is_left_out_and_named_and_its_order_stays_usable(day: Day) -> None:
    """A line record no register could have written (a malicious device's) no longer makes its order
    unusable: the line is left out of the order and its totals, named on it and in the alarms, and the
    order can be added to and paid. A strict read (the console's) still refuses the order."""
    v = day.venue
    date = v.business_date(NOW)
    before = v.order(day.order_id)
    orders = v.replica.doc(f"ledger/{date}").get("orders", type=Map)
    orders[day.order_id]["lines/bad-line"] = {"product_id": "burger", "quantity": 10**9}
    order = v.order(day.order_id)
    assert [line.id for line in order.lines] == [line.id for line in before.lines]
    assert order.totals == before.totals
    assert [u.line_id for u in order.unreadable_lines] == ["bad-line"]
    assert "field 'name' is missing" in order.unreadable_lines[0].reason
    assert (f"ledger/{date}", f"orders/{day.order_id}/lines/bad-line") in {
        (e.doc, e.key) for e in v.corrupt_records()
    }
    assert day.order_id in [o.id for o in v.ledger(date).orders()]
    order = v.add_line(CASHIER, day.order_id, "espresso", 1, NOW)
    paid = v.pay(CASHIER, day.order_id, "card", NOW)
    assert paid.receipt is not None
    assert paid.receipt.total == order.totals.total
    with pytest.raises(CorruptRecord, match="lines/bad-line"):
        Ledger(v.replica.doc(f"ledger/{date}"), date).order(day.order_id)


def test_a_cash_payment_counts_in_the_drawer_even_if_its_order_is_corrupt(day: Day) -> None:
    v = day.venue
    shift = v.open_shift()
    assert shift is not None
    order = v.order(day.order_id)
    v.pay(CASHIER, order.id, "cash", NOW)
    expected = v.expected_cash(shift)
    orders = v.replica.doc(f"ledger/{v.business_date(NOW)}").get("orders", type=Map)
    orders[order.id]["info"] = {"table": 5}  # the order itself (a bad line alone is left out)
    assert order.id not in [o.id for o in v.ledger(v.business_date(NOW)).orders()]
    assert v.expected_cash(shift) == expected


def test_a_corrupt_receipt_keeps_its_number_from_being_issued_again(day: Day) -> None:
    v = day.venue
    date = v.business_date(NOW)
    _write_as_a_peer(
        v, f"ledger/{date}", "receipts", "lost", {"register": v.device, "seq": 41, "total": "x"}
    )
    again = Venue(v.replica, device=v.device)
    assert again.receipt_seq == 41
    order = again.open_order(CASHIER, NOW)
    again.add_line(CASHIER, order.id, "espresso", 1, NOW)
    receipt = again.pay(CASHIER, order.id, "card", NOW).receipt
    assert receipt is not None
    assert receipt.seq == 42


def test_a_corrupt_refund_stops_further_refunds_of_its_receipt(day: Day) -> None:
    v = day.venue
    _write_as_a_peer(
        v,
        f"ledger/{v.business_date(NOW)}",
        "refunds",
        "odd",
        {"receipt_id": day.receipt_id, "lines": "all of them"},
    )
    with pytest.raises(RecordUnusable, match="corrupt refund"):
        v.refund(MANAGER, day.receipt_id, NOW)


def test_without_a_registry_reads_stay_strict(day: Day) -> None:
    """The console's materialiser must not compute a day from a part of it: it reads strictly."""
    v = day.venue
    date = v.business_date(NOW)
    _write_as_a_peer(v, f"ledger/{date}", "receipts", "junk", {"number": 7})
    with pytest.raises(CorruptRecord, match="receipts/junk"):
        Ledger(v.replica.doc(f"ledger/{date}"), date).receipts()


def test_an_order_over_the_payment_bound_is_paid_in_parts_that_all_read_back(
    open_venue: Venue, unchanged: Callable[[Venue], None]
) -> None:
    """What the model writes must read back: a payment or tip over the bound would be a corrupt record."""
    v = open_venue
    v.catalog.put_product(Product("yacht", "Yacht", MAX_AMOUNT))
    order = v.open_order(MANAGER, NOW)
    order = v.add_line(MANAGER, order.id, "yacht", 2, NOW)
    v.replica.take_updates()
    with pytest.raises(InvalidAmount, match="split it"):
        v.pay(MANAGER, order.id, "card", NOW)
    with pytest.raises(InvalidAmount, match="split it"):
        v.pay(MANAGER, order.id, "card", NOW, amount=MAX_AMOUNT, tip=1)
    unchanged(v)
    v.pay(MANAGER, order.id, "card", NOW, amount=MAX_AMOUNT)
    paid = v.pay(MANAGER, order.id, "card", NOW)
    assert paid.receipt is not None
    assert paid.receipt.total == 2 * MAX_AMOUNT
    with pytest.raises(InvalidAmount, match="one refund"):
        v.refund(MANAGER, paid.receipt.id, NOW)
    refund = v.refund(MANAGER, paid.receipt.id, NOW, lines={paid.receipt.lines[0].line_id: 1})
    assert refund.amount == MAX_AMOUNT
    assert v.ledger(v.business_date(NOW)).payments()[-1].amount == MAX_AMOUNT
    assert v.corrupt_records() == []


def test_a_catalog_edit_taken_back_restores_the_record_it_replaced(venue: Venue) -> None:
    espresso = venue.catalog.product("espresso")
    before = everything(venue)
    with pytest.raises(InvalidInput, match="price"):
        venue.catalog.load([Product("espresso", "Espresso", 1), Product("p", "P", MAX_AMOUNT + 1)])
    assert venue.catalog.product("espresso") == espresso
    assert everything(venue) == before
