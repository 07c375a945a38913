"""Replicas that act independently and merge in any order end identical, with every money record once."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpos.errors import DomainError
from meshpos.model import Replica, Venue, decode_state_vector
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, Acked, make_venue

PRODUCTS = ["espresso", "burger", "fries", "croissant", "lemonade", "export-beans"]


def snapshot(venue: Venue) -> dict[str, object]:
    """Everything derived a register or the console would show."""
    replica = venue.replica
    out: dict[str, object] = {
        n: decode_state_vector(replica.doc(n).get_state()) for n in replica.names()
    }
    for ledger in venue.ledgers():
        out[ledger.name] = (
            ledger.orders(),
            ledger.receipts(),
            ledger.refunds(),
            ledger.shifts(),
            ledger.cash_moves(),
            ledger.inventory(),
            ledger.conflicts(),
        )
    return out


def act(venue: Venue, rng: random.Random, step: int, acked: Acked) -> None:
    now = NOW + step * 1000
    user = rng.choice([CASHIER, MANAGER])
    ledgers = venue.ledgers()
    orders = [o for ledger in ledgers for o in ledger.orders() if o.status == "open"]
    receipts = [r for ledger in ledgers for r in ledger.receipts()]
    kind = rng.choice(["shift", "order", "line", "line", "pay", "pay", "refund", "cash", "close"])
    if kind == "shift" or venue.open_shift() is None:
        acked.shifts.add(venue.open_shift_now(user, rng.randrange(0, 20_000), now).id)
    elif kind == "order" or not orders:
        venue.add_line(
            user, venue.open_order(user, now).id, rng.choice(PRODUCTS), rng.randint(1, 4), now
        )
    elif kind == "line":
        venue.add_line(user, rng.choice(orders).id, rng.choice(PRODUCTS), rng.randint(1, 3), now)
    elif kind == "pay":
        order = rng.choice(orders)
        due = order.totals.due
        amount = due if rng.random() < 0.6 else rng.randint(1, max(due, 1))
        result = venue.pay(
            user,
            order.id,
            rng.choice(["cash", "card"]),
            now,
            amount=amount,
            tip=rng.choice([0, 100]),
        )
        acked.payments.add(result.payment.id)
        if result.receipt:
            acked.receipts.add(result.receipt.id)
    elif kind == "refund" and receipts:
        receipt = rng.choice(receipts)
        line = rng.choice(receipt.lines)
        acked.refunds.add(venue.refund(MANAGER, receipt.id, now, lines={line.line_id: 1}).id)
    elif kind == "cash":
        acked.cash_moves.add(venue.cash_move(user, "in", rng.randint(1, 5000), "float", now).id)
    elif kind == "close":
        venue.close_shift(user, rng.randrange(0, 50_000), now)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    registers=st.integers(2, 4),
    steps=st.integers(10, 60),
    seed=st.integers(0, 2**32),
)
def test_random_histories_converge(registers: int, steps: int, seed: int) -> None:
    rng = random.Random(seed)
    first = make_venue("R1")
    venues = [first] + [
        make_venue(f"R{i + 1}", catalog_from=first.replica) for i in range(1, registers)
    ]
    log: list[tuple[int, str, bytes]] = []  # every local update ever made, by replica
    delivered: list[set[int]] = [set() for _ in venues]
    acked = Acked()

    def deliver(dst: int, indexes: list[int]) -> None:
        for i in indexes:
            src, name, update = log[i]
            if src != dst and i not in delivered[dst]:
                venues[dst].replica.apply(name, update)
                delivered[dst].add(i)
        venues[dst].replica.take_updates()

    for step in range(steps):
        who = rng.randrange(len(venues))
        venue = venues[who]
        try:
            act(venue, rng, step, acked)
        except DomainError:
            assert venue.replica.take_updates() == [], "a refused action must write nothing"
        for captured in venue.replica.take_updates():
            assert captured.local
            log.append((who, captured.document, captured.update))
        if (
            rng.random() < 0.3
        ):  # a partial, shuffled sync: some updates reach some replicas, out of order
            dst = rng.randrange(len(venues))
            chosen = rng.sample(range(len(log)), k=rng.randint(0, len(log)))
            deliver(dst, chosen)

    for dst in range(len(venues)):  # heal: everything reaches everyone, in a random order
        order = list(range(len(log)))
        rng.shuffle(order)
        deliver(dst, order)
    # pycrdt keeps several out-of-order updates pending even after their predecessors arrive; the sync
    # protocol's state-vector exchange (anti-entropy) repairs that, so the heal ends with one round of it
    for sender in venues:
        for receiver in venues:
            for name in sender.replica.names():
                receiver.replica.apply(
                    name,
                    sender.replica.doc(name).get_update(receiver.replica.doc(name).get_state()),
                )

    snapshots = [snapshot(v) for v in venues]
    assert all(s == snapshots[0] for s in snapshots[1:]), "replicas diverged"
    merged = venues[0]
    ledgers = merged.ledgers()
    payments = [p.id for ledger in ledgers for p in ledger.payments()]
    receipts = [r for ledger in ledgers for r in ledger.receipts()]
    refunds = [r.id for ledger in ledgers for r in ledger.refunds()]
    shifts = [s.id for ledger in ledgers for s in ledger.shifts()]
    moves = [m.id for ledger in ledgers for m in ledger.cash_moves()]
    assert sorted(payments) == sorted(acked.payments), "payments lost or duplicated"
    assert sorted(r.id for r in receipts) == sorted(acked.receipts)
    assert len({r.number for r in receipts}) == len(receipts), "receipt numbers collided"
    assert sorted(refunds) == sorted(acked.refunds)
    assert sorted(shifts) == sorted(acked.shifts)
    assert sorted(moves) == sorted(acked.cash_moves)
    for ledger in ledgers:  # derived totals agree with the records they come from
        for kept in ledger.orders():
            assert kept.totals.paid == sum(p.amount for p in kept.payments)


def test_updates_applied_before_their_predecessors_are_held_not_lost() -> None:
    a = make_venue("R1")
    b = Replica()
    b.apply("catalog", a.replica.doc("catalog").get_update())
    a.open_shift_now(CASHIER, 0, NOW)
    order = a.open_order(CASHIER, NOW)
    a.add_line(CASHIER, order.id, "burger", 1, NOW)
    updates = [u for u in a.replica.take_updates() if u.document.startswith("ledger/")]
    for captured in reversed(updates):
        b.apply(captured.document, captured.update)
    assert Venue(b, device="R9").order(order.id).totals.total == 1250
