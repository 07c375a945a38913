"""Updates that wait on their own (issue 18, marks; ``sync/_lingering.py``: lazily): a receipt number's
mark is committed with its receipt but leaves up to its deadline later, merged with the next marks,
even through the payments that follow (which change other documents); a write of ours to its own
document takes it first, in order; ``at_most`` of them waiting send them all. Counted by hand on real
synchronizers, no sleeps."""

from __future__ import annotations

from pycrdt import Map

from meshpos.model.replica import decode_state_vector
from meshpos.sync import Synchronizer, SyncUpdate
from tests.sync.helpers import commit, items_node, sync_pair
from tests.sync.test_sync_linger import applied, deliver

MARKS = "stoplist"
LEDGER = "ledger/2026-12-07"


def pair() -> tuple[Synchronizer, Synchronizer, str, str]:
    a, b = items_node("A", MARKS, client_base=3000), items_node("B", MARKS, client_base=3000)
    for sync in (a, b):
        sync.open_doc(LEDGER)
    ka, kb = sync_pair(a, b)
    commit(a)
    commit(b)
    return a, b, ka, kb


def put(sync: Synchronizer, doc: str, key: str, value: str) -> None:
    sync.docs[doc].get("items", type=Map)[key] = value


def sale(sync: Synchronizer, n: int, *, until: float = 10.0, at_most: int = 32) -> None:
    """One payment as the register writes it: the mark (may wait on its own), then the receipt."""
    with sync.writing(None):
        with sync.lazily(until, at_most):
            put(sync, MARKS, "R1", str(n))
        put(sync, LEDGER, f"receipt{n}", str(n))
    commit(sync)


def docs_of(sent: list[SyncUpdate]) -> list[str]:
    return [m.doc for m in sent]


def test_marks_wait_through_the_payments_that_follow_and_leave_merged_at_their_deadline() -> None:
    a, b, ka, kb = pair()
    a.tick(1.0)
    for n in range(1, 6):
        sale(a, n, until=1.0 + n / 10)  # each mark's own deadline; the earliest counts
    sent = deliver(a, ka, b, kb)
    assert docs_of(sent) == [LEDGER] * 5  # the receipts left at once, no mark
    assert a.lingering == 5
    assert a.next_deadline() <= 1.1
    a.tick(1.09)
    assert deliver(a, ka, b, kb) == []
    a.tick(1.1)
    sent = deliver(a, ka, b, kb)
    assert docs_of(sent) == [MARKS]  # five marks, one update
    assert applied(b) == 6
    assert b.docs[MARKS].get("items", type=Map)["R1"] == "5"
    assert a.lingering == 0
    assert a.linger_due is None


def test_a_write_to_the_marks_document_takes_them_first_in_order() -> None:
    a, b, ka, kb = pair()
    sale(a, 1)
    sale(a, 2)
    deliver(a, ka, b, kb)
    with a.writing(None):
        put(a, MARKS, "fries", "stopped")  # a stop-list entry: urgent, same document
    commit(a)
    sent = deliver(a, ka, b, kb)
    assert docs_of(sent) == [MARKS]  # marks and entry merged: our clock runs on without a gap
    b.tick(0.0)
    assert b.docs[MARKS].get("items", type=Map).to_py() == {"R1": "2", "fries": "stopped"}
    assert a.lingering == 0


def test_a_tap_on_the_marks_document_takes_them_and_leaves_at_the_taps_deadline() -> None:
    a, b, ka, kb = pair()
    a.tick(1.0)
    sale(a, 1, until=5.0)
    a.linger_until = 1.025
    put(a, MARKS, "note", "x")
    a.linger_until = None
    commit(a)
    deliver(a, ka, b, kb)
    a.tick(1.025)
    sent = deliver(a, ka, b, kb)
    assert docs_of(sent) == [MARKS]
    assert b.docs[MARKS].get("items", type=Map).to_py() == {"R1": "1", "note": "x"}
    assert a.lingering == 0
    assert a.linger_due is None


def test_a_taps_deadline_leaves_the_marks_waiting_and_theirs_the_taps() -> None:
    a, b, ka, kb = pair()
    a.tick(1.0)
    sale(a, 1, until=2.0)
    a.linger_until = 1.025
    put(a, LEDGER, "open", "o")  # the next sale's first tap
    a.linger_until = None
    commit(a)
    assert docs_of(deliver(a, ka, b, kb)) == [LEDGER]  # the receipt
    a.tick(1.025)
    assert docs_of(deliver(a, ka, b, kb)) == [LEDGER]  # the tap, not the mark
    assert a.lingering == 1
    assert a.linger_due == 2.0
    a.tick(2.0)
    assert docs_of(deliver(a, ka, b, kb)) == [MARKS]


def test_at_most_that_many_marks_wait_then_they_all_leave() -> None:
    a, b, ka, kb = pair()
    for n in range(1, 4):
        sale(a, n, at_most=3)
    sent = deliver(a, ka, b, kb)
    # the third mark sends the three (before its receipt): a receipt that leaves has every mark
    # more than at_most below it gone before it
    assert docs_of(sent) == [LEDGER, LEDGER, MARKS, LEDGER]
    assert a.lingering == 0
    assert a.linger_due is None  # nothing left to time


def test_dropping_a_document_or_closing_sends_the_marks_first() -> None:
    a, b, ka, kb = pair()
    sale(a, 1)
    deliver(a, ka, b, kb)
    a.release_lingering()  # (closing: before the goodbyes; drop_doc: before it goes)
    assert docs_of(deliver(a, ka, b, kb)) == [MARKS]


def test_a_held_mark_counts_as_on_this_device_alone() -> None:
    a, b, ka, kb = pair()
    sale(a, 1)
    deliver(a, ka, b, kb)
    deliver(b, kb, a, ka)  # b says what it holds
    mine = a.client_id
    clock = decode_state_vector(a.docs[MARKS].get_state())[mine]
    assert a.held_by(MARKS).get("B", {}).get(mine, 0) < clock  # on no other device
    a.release_lingering()
    deliver(a, ka, b, kb)
    assert decode_state_vector(b.docs[MARKS].get_state())[mine] == clock
