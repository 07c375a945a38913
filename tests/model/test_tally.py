"""Counting a ledger day in the venue's words: live counts equal a fresh count, on the writer and on a
replica that receives the day in any grouping, and failed writes taken back count down."""

from __future__ import annotations

import random
from typing import Any

from pycrdt import Doc, Map, get_update, merge_updates

from meshpos.errors import MeshposError
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER, MANAGER, sample_catalog
from meshpos.model.tally import LedgerTally, describe, missing, missing_by_register

from .conftest import shifts_open

NOW = 1_764_064_800_000


def a_day() -> tuple[Venue, str]:
    venue = Venue(Replica(), device="R2")
    sample_catalog(venue.catalog)
    venue.open_shift_now(CASHIER, 10_000, NOW)
    return venue, f"ledger/{venue.business_date(NOW)}"


def test_live_counts_equal_a_fresh_count_on_the_writer_and_on_a_replica() -> None:
    venue, name = a_day()
    doc = venue.ledger(venue.business_date(NOW)).doc
    live = LedgerTally(doc)
    other = Replica()
    remote = LedgerTally(other.doc(name))
    order = venue.open_order(CASHIER, NOW, table="5")
    venue.add_line(CASHIER, order.id, "latte", 2, NOW, modifiers=["large"])
    other.apply(name, doc.get_update())  # the order arrives before its payment
    paid = venue.pay(CASHIER, order.id, "card", NOW)
    assert paid.receipt is not None
    venue.cash_move(CASHIER, "in", 500, "float", NOW)
    venue.refund(MANAGER, paid.receipt.id, NOW)
    venue.close_shift(CASHIER, 10_500, NOW)
    other.apply(name, doc.get_update())
    counts = live.counts()
    assert counts == LedgerTally(doc).counts() == remote.counts()
    assert counts["R2"] == {
        "shift_events": 2,
        "receipts": 1,
        "payments": 1,
        "refunds": 1,
        "cash_moves": 1,
        "stock_moves": 2,
    }
    # a day that arrives whole, payments inside their orders, counts the same
    assert LedgerTally(Replica().doc(name)).counts() == {}
    fresh = Replica()
    whole = LedgerTally(fresh.doc(name))
    fresh.apply(name, doc.get_update())
    assert whole.counts() == counts


def test_what_the_reports_lack_is_said_per_register_and_in_words() -> None:
    local = {"R1": {"receipts": 3, "payments": 4}, "R2": {"receipts": 1}}
    reported = {"R1": {"receipts": 1, "payments": 4}, "R2": {"receipts": 2}}
    assert missing(local, reported, "R1") == {"receipts": 2}
    assert missing(local, reported, "R2") == {}
    assert missing(local, {}) == {"receipts": 4, "payments": 4}
    assert missing_by_register(local, reported) == {"R1": {"receipts": 2}}
    assert missing_by_register(local, {}) == local
    assert describe({"receipts": 1}) == "1 receipt"
    assert describe({"payments": 2, "receipts": 1, "cash_moves": 1}) == (
        "1 receipt, 2 payments and 1 cash movement"
    )
    assert describe({}) == ""


def test_a_payment_that_arrives_before_its_order_is_counted_once() -> None:
    """A catch-up split by author can deliver another register's payment before the order it belongs
    to: pycrdt holds it, then integrates it with the order, and it counts once."""
    r1, name = a_day()
    order = r1.open_order(CASHIER, NOW, table="5")
    r1.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["large"])
    doc1 = r1.ledger(r1.business_date(NOW)).doc
    r2 = Venue(Replica(), device="R3")
    sample_catalog(r2.catalog)
    r2.replica.apply(name, doc1.get_update())
    r2.open_shift_now(CASHIER, 0, NOW)
    doc2 = r2.replica.doc(name)
    before = doc2.get_state()
    r2.pay(CASHIER, order.id, "card", NOW)
    late = Replica()
    tally = LedgerTally(late.doc(name))
    late.apply(name, doc2.get_update(before))  # R3's payment and receipt first: held by pycrdt
    late.apply(name, doc1.get_update())  # then the order it belongs to
    assert tally.counts() == LedgerTally(late.doc(name)).counts()
    assert tally.counts()["R3"]["payments"] == 1


def test_a_recount_finds_what_pycrdt_did_not_report_inside_nested_types() -> None:
    """Three registers exchanging partial, reordered updates (as a partitioned, lossy mesh does): pycrdt
    stops reporting changes inside some orders (a payment fires no Map event), so the live counts fall
    short; :meth:`LedgerTally.recount` restores exactly what a fresh count finds."""
    rng = random.Random(1)
    venues, name, docs, tallies = _three_registers()
    sent = [doc.get_state() for doc in docs]
    log: list[tuple[int, bytes]] = []
    for step in range(60):
        i = rng.randrange(3)
        venue = venues[i]
        try:
            if rng.random() < 0.5:
                order = venue.open_order(CASHIER, NOW + step)
                venue.add_line(CASHIER, order.id, "espresso", 1, NOW + step)
            else:
                day = venue.ledger(venue.business_date(NOW))
                open_orders = [o for o in day.orders() if o.status == "open" and o.lines]
                if open_orders:
                    order = rng.choice(open_orders)
                    due = max(1, order.totals.due // 2)
                    venue.pay(CASHIER, order.id, "card", NOW + step, amount=due)
        except MeshposError:
            pass
        log.append((i, docs[i].get_update(sent[i])))
        sent[i] = docs[i].get_state()
        for j in range(3):
            for author, update in rng.sample(log, k=min(len(log), rng.randrange(0, 6))):
                if author != j:
                    venues[j].replica.apply(name, update)
                    tallies[j].counts()  # read after every change, as a node's status does
    for j in range(3):
        for author, update in log:
            if author != j:
                venues[j].replica.apply(name, update)
    drifted = [tally.recount() for tally in tallies]
    assert any(drifted), "the live counts matched: pycrdt reported everything this time"
    for doc, tally in zip(docs, tallies, strict=True):
        assert tally.counts() == LedgerTally(doc).counts()


def test_a_sale_taken_back_counts_down_its_receipt_payment_and_stock_moves() -> None:
    """A write taken back deletes what it inserted: the receipt, the stock movements it stood for and
    the payment stored under its key are counted down, as a fresh count finds them."""
    venue, _ = a_day()
    doc = venue.ledger(venue.business_date(NOW)).doc
    live = LedgerTally(doc)
    order = venue.open_order(CASHIER, NOW)
    venue.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["large"])
    venue.add_line(CASHIER, order.id, "latte", 2, NOW, modifiers=["large"])
    paid = venue.pay(CASHIER, order.id, "card", NOW)
    assert paid.receipt is not None
    assert live.counts()["R2"] == {
        "shift_events": 1,
        "receipts": 1,
        "payments": 1,
        "stock_moves": 2,
    }
    with doc.transaction():
        del doc.get("receipts", type=Map)[paid.receipt.id]
        del doc.get("orders", type=Map)[order.id][f"receipts/{paid.receipt.id}"]
    assert live.counts() == LedgerTally(doc).counts() == {"R2": {"shift_events": 1}}


def test_updates_of_several_authors_held_whole_in_order_leave_the_live_counts_true() -> None:
    """What ``Synchronizer.reordered`` rests on (issue 18, ticker): a day that took updates of several
    authors at once (a step 2, a catch-up) needs no recount as long as each one was held whole once
    applied (nothing of it beyond the day's state vector: not pending, not past a hole); only an update
    that was not can leave the live counts short. Three registers exchange in-order catch-ups (a diff
    from where the receiver stands) and random merged, out-of-order ones, as a lossy mesh does."""
    whole_days = drifted = 0
    for seed in range(6):
        rng = random.Random(seed)
        venues, name, docs, tallies = _three_registers()
        noted = [False] * 3  # took an update not held whole: a recount is due
        log: list[bytes] = []
        for step in range(50):
            i = rng.randrange(3)
            before = docs[i].get_state()
            try:
                if rng.random() < 0.5:
                    order = venues[i].open_order(CASHIER, NOW + step)
                    venues[i].add_line(CASHIER, order.id, "espresso", 1, NOW + step)
                else:
                    day = venues[i].ledger(venues[i].business_date(NOW))
                    orders = [o for o in day.orders() if o.status == "open" and o.lines]
                    if orders:
                        venues[i].pay(CASHIER, rng.choice(orders).id, "card", NOW + step)
            except MeshposError:
                pass
            log.append(docs[i].get_update(before))
            j, k = rng.sample(range(3), 2)
            if rng.random() < 0.5:  # a step 2: what j lacks of k, from where j stands
                update = docs[k].get_update(docs[j].get_state())
            else:  # a random merge of what was written: often ahead of an author's order
                update = merge_updates(*rng.sample(log, k=min(len(log), rng.randrange(1, 4))))
            venues[j].replica.apply(name, update)
            if get_update(update, docs[j].get_state())[0] != 0:
                noted[j] = True
            for doc, tally, due in zip(docs, tallies, noted, strict=True):
                counts = tally.counts()  # read after every change, as a node's status does
                if not due:
                    assert counts == LedgerTally(doc).counts(), (seed, step)
        whole_days += noted.count(False)
        drifted += sum(tally.recount() for tally in tallies)
    assert whole_days > 0  # days that took only updates held whole (step 2s among them)
    assert drifted > 0  # and days whose live counts an update not held whole left short


def _three_registers() -> tuple[list[Venue], str, list[Doc[Any]], list[LedgerTally]]:
    """Three registers of one venue, each with a shift open, and their tallies of today's ledger."""
    venues = shifts_open("R1", "R2", "R3")
    name = f"ledger/{venues[0].business_date(NOW)}"
    docs = [venue.replica.doc(name) for venue in venues]
    tallies = [LedgerTally(doc) for doc in docs]
    for tally in tallies:
        tally.counts()  # counted now: a tally counts what it was not shown at its first read
    return venues, name, docs, tallies
