"""A day's live counts stay exact through any interleaving of what a register's day takes (issue 18,
tally): local sales, payments, refunds, cash moves and shifts (``test_convergence.act``), writes taken
back (a receipt and its order's entry, a whole order), another register's updates received one by one in
its author's order, anti-entropy diffs, and whole days arriving at a new tally. After every step each
register's tally, read as the status reads it, equals both a fresh tally of the document and a count
written here from the document's JSON alone (independent of the tally's code), and every receipt it
counts has a state that holds it.

Deliveries are causal (an author's update goes to a register that holds what it was written on, or a
diff): what pycrdt does not report past a hole is ``test_tally_holes``'s and the recount's matter.
"""

from __future__ import annotations

import contextlib
import json
import random
from types import SimpleNamespace
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from meshpos.errors import DomainError
from meshpos.model import Replica, Venue, ids
from meshpos.model.documents import CATALOG
from meshpos.model.replica import decode_state_vector
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import _FLAT_ROOTS, LedgerTally, Tally, covers

from .conftest import NOW, Acked
from .test_convergence import PRODUCTS, act

STEPS = (
    "sell",
    "sell",
    "act",
    "act",
    "deliver",
    "deliver",
    "deliver",
    "diff",
    "take_back",
    "drop_order",
    "fresh",
)


def _fields(text: object) -> dict[str, Any]:
    try:
        fields = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def _by(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) and value else "?"


def _expected(doc: Doc[Any]) -> Tally:
    """What the day holds per register and kind, from its JSON (the spec the tally counts by)."""
    out: Tally = {}

    def count(register: str, kind: str, n: int = 1) -> None:
        if n:
            kinds = out.setdefault(register, {})
            kinds[kind] = kinds.get(kind, 0) + n

    data = {
        root: doc.get(root, type=Map).to_py() or {}
        for root in (*_FLAT_ROOTS, "shift_closes", "cash_moves", "orders")
    }
    shifts = {key: _fields(value) for key, value in data["shifts"].items()}
    for root, (kind, field) in _FLAT_ROOTS.items():
        for value in data[root].values():
            fields = _fields(value)
            count(_by(fields, field), kind)
            if root == "receipts" and fields.get("stock") is True:
                count(_by(fields, field), "stock_moves", len(fields.get("lines") or []))
    for key in data["shift_closes"]:
        count(_by(shifts.get(key, {}), "register"), "shift_events")
    for value in data["cash_moves"].values():
        count(_by(shifts.get(_fields(value).get("shift_id"), {}), "register"), "cash_moves")
    payments: dict[str, str] = {}
    for order in data["orders"].values():
        for key, value in order.items():
            part, _, rest = key.partition("/")
            if part == "payments":
                payments.setdefault(rest, _by(_fields(value), "register"))
            elif part == "receipts":
                fields = _fields(value)
                payments.setdefault(str(fields.get("id")), _by(fields, "register"))
    for register in payments.values():
        count(register, "payments")
    return out


class _Day:
    """Registers selling into one day, their tallies, and each author's updates not yet delivered."""

    def __init__(self, registers: int) -> None:
        self.venues: list[Venue] = []
        for i in range(registers):  # client ids fixed: a concurrent write's winner is too
            replica = Replica(client_id=i + 1)
            if self.venues:
                replica.apply(CATALOG, self.venues[0].replica.doc(CATALOG).get_update())
            self.venues.append(Venue(replica, device=f"R{i + 1}", role="register"))
            if i == 0:
                sample_catalog(self.venues[0].catalog, pin_hash="x")
            self.venues[i].open_shift_now(CASHIER, 0, NOW)
        first = self.venues[0]
        self.name = f"ledger/{first.business_date(NOW)}"
        self.docs = [venue.replica.doc(self.name) for venue in self.venues]
        self.tallies = [LedgerTally(doc) for doc in self.docs]
        # per author: (the state it wrote on, the update) of each write, in order; per receiver, how
        # many of each author's it took
        self.log: list[list[tuple[bytes, bytes]]] = [[] for _ in self.venues]
        self.taken = [[0] * registers for _ in self.venues]
        for i, doc in enumerate(self.docs):  # each opened its shift on nothing
            self.log[i].append((Doc().get_state(), doc.get_update()))
        self.step = 0

    def write(self, i: int, kind: str, rng: random.Random) -> None:
        doc, before = self.docs[i], self.docs[i].get_state()
        with contextlib.suppress(DomainError):  # (a refused action writes nothing)
            if kind == "sell":  # a whole sale, paid at once or in part
                venue, now = self.venues[i], NOW + self.step * 1000
                order = venue.open_order(CASHIER, now)
                venue.add_line(CASHIER, order.id, rng.choice(PRODUCTS), rng.randint(1, 3), now)
                due = venue.ledger(venue.business_date(now)).order(order.id).totals.due
                venue.pay(CASHIER, order.id, "card", now, amount=rng.choice([due, due // 2 or 1]))
            elif kind == "act":
                act(self.venues[i], rng, self.step, Acked())
            else:
                _take_back(doc, rng, whole=kind == "drop_order")
        self.log[i].append((before, doc.get_update(before)))

    def deliver(self, i: int, j: int) -> None:
        """``j`` takes ``i``'s next update if it holds what that update was written on."""
        k = self.taken[j][i]
        if i != j and k < len(self.log[i]):
            needed, update = self.log[i][k]
            if covers(decode_state_vector(self.docs[j].get_state()), decode_state_vector(needed)):
                self.docs[j].apply_update(update)
                self.taken[j][i] += 1

    def check(self) -> None:
        for doc, tally in zip(self.docs, self.tallies, strict=True):
            counts = tally.counts()
            assert counts == _expected(doc), self.step
            assert counts == LedgerTally(doc).counts(), self.step
            receipts = doc.get("receipts", type=Map)
            assert tally.receipts == len(receipts)
            state = decode_state_vector(doc.get_state())
            for receipt_id in receipts:
                held = tally.receipt_state(receipt_id)
                assert held is not None, receipt_id
                assert covers(state, held), receipt_id


def _take_back(doc: Doc[Any], rng: random.Random, whole: bool) -> None:
    """A write taken back: a receipt and its order's entry deleted, or a whole order."""
    orders = doc.get("orders", type=Map)
    receipts = doc.get("receipts", type=Map)
    if not len(orders):
        return
    order_id = rng.choice(sorted(orders.keys()))
    with doc.transaction():
        if whole:
            del orders[order_id]
            return
        order = orders[order_id]
        paid = [key for key in order if key.startswith("receipts/")]
        if paid:
            del order[paid[0]]
            receipt_id = paid[0].removeprefix("receipts/")
            if receipt_id in receipts:
                del receipts[receipt_id]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    registers=st.integers(2, 3),
    steps=st.lists(
        st.tuples(st.sampled_from(STEPS), st.integers(0, 2), st.integers(0, 2), st.integers(0, 99)),
        min_size=5,
        max_size=60,
    ),
)
def test_after_every_step_the_live_tally_equals_a_count_from_scratch(
    registers: int, steps: list[tuple[str, int, int, int]]
) -> None:
    made = random.Random(len(steps))  # record ids drawn from it: a run repeats exactly
    with mock.patch.object(ids, "os", SimpleNamespace(urandom=made.randbytes)):
        _run(registers, steps)


def _run(registers: int, steps: list[tuple[str, int, int, int]]) -> None:
    day = _Day(registers)
    day.check()
    for kind, a, b, seed in steps:
        i, j = a % registers, b % registers
        rng = random.Random(seed)
        day.step += 1
        if kind in ("sell", "act", "take_back", "drop_order"):
            day.write(i, kind, rng)
        elif kind == "deliver":
            for _ in range(rng.randint(1, 4)):
                day.deliver(i, j)
        elif kind == "diff" and i != j:  # anti-entropy: all j lacks of i, from where j stands
            day.docs[j].apply_update(day.docs[i].get_update(day.docs[j].get_state()))
        elif kind == "fresh":  # a whole day arriving at a register that just started
            late = Replica(client_id=99)
            tally = LedgerTally(late.doc(day.name))
            if seed % 2:
                tally.counts()  # counted before the day arrives, or only after
            late.apply(day.name, day.docs[i].get_update())
            assert tally.counts() == _expected(late.doc(day.name)) == day.tallies[i].counts()
        day.check()


def test_a_tally_made_before_a_day_arrives_counts_it_at_its_first_read() -> None:
    """A status makes a day's tally when it first asks (a node's start, a day opened again); a day
    that arrives after that and before the read is counted from the document as it then is, whatever
    pycrdt reported of it: here payments written into an order created past a hole in its author's
    clocks, which fire no event (``tests/sync/test_sync_hole_counts.py``). Main counted them as the
    events came and counted none of them until a recount."""
    author: Doc[Any] = Doc(client_id=1)
    author.get("orders", type=Map)["first"] = "x"  # clock 0: lost on the way
    hole = author.get_state()
    author.get("orders", type=Map)["o1"] = Map({"info": "table 4"})
    node: Doc[Any] = Doc(client_id=2)
    node.apply_update(author.get_update(hole))
    tally = LedgerTally(node)
    payment = json.dumps({"register": "R1", "amount": 100, "method": "card"})
    node.get("orders", type=Map)["o1"]["payments/p1"] = payment  # no event: past the hole
    assert tally.counts() == {"R1": {"payments": 1}} == _expected(node)


def test_a_venue_sells_and_every_register_counts_exactly() -> None:
    """The property's own premise: its steps sell on every register (not every write refused),
    deliver, and take a sale back, which counts down."""
    with mock.patch.object(ids, "os", SimpleNamespace(urandom=random.Random(1).randbytes)):
        day = _Day(2)
        rng = random.Random(3)
        for day.step in range(1, 80):
            day.write(day.step % 2, "sell" if day.step % 3 else "act", rng)
            day.deliver(day.step % 2, (day.step + 1) % 2)
            day.check()
        paid = {reg for reg, kinds in day.tallies[1].counts().items() if kinds.get("receipts")}
        assert paid == {"R1", "R2"}
        receipts = day.tallies[0].receipts
        while day.tallies[0].receipts == receipts:
            day.step += 1
            day.write(0, "take_back", rng)
        day.docs[1].apply_update(day.docs[0].get_update(day.docs[1].get_state()))
        day.check()
        assert day.tallies[0].receipts == day.tallies[1].receipts == receipts - 1
