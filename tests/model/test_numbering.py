"""Receipt numbering in the model: marks in the stoplist document, unknown numbers, tagged series."""

from __future__ import annotations

import pytest
from pycrdt import Map

from meshpos.errors import ReceiptNumbersUnknown
from meshpos.model import Receipt, Replica, Venue
from meshpos.model.limits import MAX_RECEIPT_SEQ
from meshpos.model.numbering import (
    MARKS_UNSENT_AT_MOST,
    NUMBERS_DOCUMENT,
    NUMBERS_MAP,
    new_series_tag,
)
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue

DAY_MS = 86_400_000


def sell(venue: Venue, at: int = NOW) -> Receipt:
    order = venue.open_order(CASHIER, at)
    venue.add_line(CASHIER, order.id, "espresso", 1, at)
    receipt = venue.pay(CASHIER, order.id, "card", at).receipt
    assert receipt is not None
    return receipt


def marks(replica: Replica) -> dict[str, int]:
    found = replica.doc(NUMBERS_DOCUMENT).get(NUMBERS_MAP, type=Map)
    return {series: int(mark) for series, mark in found.items()}


def fresh(device: str, catalog_from: Replica) -> Venue:
    """``device`` on a new database, holding the catalog: its numbers are unknown."""
    replica = Replica()
    replica.apply("catalog", catalog_from.doc("catalog").get_update())
    venue = Venue(replica, device=device, receipt_numbers_known=False)
    replica.take_updates()
    return venue


def share_numbers_only(src: Replica, dst: Replica) -> None:
    """What a peer that holds none of the old ledger days gives: the always open stoplist document."""
    doc = src.doc(NUMBERS_DOCUMENT)
    dst.apply(NUMBERS_DOCUMENT, doc.get_update(dst.doc(NUMBERS_DOCUMENT).get_state()))


def test_each_receipt_raises_its_registers_mark_in_the_stoplist_document() -> None:
    r2 = make_venue("R2")
    r2.open_shift_now(CASHIER, 0, NOW)
    numbers = [sell(r2).number for _ in range(3)]
    assert numbers == ["R2-000001", "R2-000002", "R2-000003"]
    assert marks(r2.replica) == {"R2": 3}


def test_a_register_with_unknown_numbers_writes_no_money_record_and_says_how_to_fix_it() -> None:
    before = make_venue("R2")
    again = fresh("R2", before.replica)
    with pytest.raises(ReceiptNumbersUnknown) as refused:
        again.open_shift_now(CASHIER, 0, NOW)
    assert refused.value.code == "receipt_numbers_unknown"
    assert "--new-receipt-series" in refused.value.message
    assert again.replica.take_updates() == []


def test_learned_numbers_continue_after_the_mark_without_the_old_days() -> None:
    before = make_venue("R2")
    before.open_shift_now(CASHIER, 0, NOW)
    for _ in range(3):
        sell(before)
    again = fresh("R2", before.replica)
    share_numbers_only(before.replica, again.replica)  # the day of those sales is not loaded
    assert not [n for n in again.replica.names() if n.startswith("ledger/")]
    again.numbering.learned(again.ledgers())
    again.open_shift_now(CASHIER, 0, NOW + DAY_MS)
    # above the mark by as many marks as may not have left (model/numbering.py): a gap, no repeat
    assert sell(again, NOW + DAY_MS).number == f"R2-{3 + MARKS_UNSENT_AT_MOST + 1:06d}"


def test_learned_numbers_continue_above_receipts_a_peer_holds_above_its_mark() -> None:
    """Marks leave up to a second after their receipts: a peer may hold receipts above the mark it
    holds. The learner continues above both (and the skip) once it holds their day."""
    before = make_venue("R2")
    before.open_shift_now(CASHIER, 0, NOW)
    for _ in range(3):
        sell(before)
    peer = fresh("R3", before.replica)
    share_numbers_only(before.replica, peer.replica)  # the peer got the marks up to 3 ...
    for _ in range(4):
        sell(before)  # ... then four receipts whose marks did not leave
    for name in before.replica.names():
        if name.startswith("ledger/"):
            peer.replica.apply(name, before.replica.doc(name).get_update())
    assert marks(peer.replica) == {"R2": 3}
    again = fresh("R2", before.replica)
    for name in peer.replica.names():
        again.replica.apply(name, peer.replica.doc(name).get_update())
    again.numbering.learned(again.ledgers())
    assert again.receipt_seq == 7 + MARKS_UNSENT_AT_MOST


def test_a_register_no_peer_knows_to_have_sold_starts_at_one() -> None:
    """A series' first mark leaves with its receipt, so no mark means no receipt: no skip."""
    before = make_venue("R1")
    again = fresh("R2", before.replica)
    again.numbering.learned(again.ledgers())
    again.open_shift_now(CASHIER, 0, NOW)
    assert sell(again).number == "R2-000001"


def test_a_restored_register_continues_after_a_higher_mark_it_receives() -> None:
    current = make_venue("R2")
    current.open_shift_now(CASHIER, 0, NOW)
    old = Venue(Replica(), device="R2", receipt_seq=0)  # a backup from before those sales
    old.replica.apply("catalog", current.replica.doc("catalog").get_update())
    for _ in range(5):
        sell(current)
    share_numbers_only(current.replica, old.replica)
    old.open_shift_now(CASHIER, 0, NOW + DAY_MS)
    assert sell(old, NOW + DAY_MS).number == "R2-000006"


def test_a_register_that_numbered_before_marks_existed_publishes_its_mark() -> None:
    r2 = make_venue("R2")
    r2.open_shift_now(CASHIER, 0, NOW)
    sell(r2)
    sell(r2)
    without_marks = Replica()
    for name in r2.replica.names():
        if name != NUMBERS_DOCUMENT:
            without_marks.apply(name, r2.replica.doc(name).get_update())
    upgraded = Venue(without_marks, device="R2", receipt_seq=2)
    assert marks(without_marks) == {}
    assert upgraded.numbering.publish()
    assert marks(without_marks) == {"R2": 2}
    assert not upgraded.numbering.publish()  # once is enough
    unknown = fresh("R2", r2.replica)
    assert not unknown.numbering.publish()  # a register that does not know writes no guess


@pytest.mark.parametrize(
    "junk", ["99", -4, 2.5, float("nan"), True, MAX_RECEIPT_SEQ + 1, [7]], ids=repr
)
def test_a_junk_mark_from_a_peer_is_ignored(junk: object) -> None:
    r2 = make_venue("R2")
    r2.open_shift_now(CASHIER, 0, NOW)
    sell(r2)
    other = Replica()
    share_numbers_only(r2.replica, other)
    other.doc(NUMBERS_DOCUMENT).get(NUMBERS_MAP, type=Map)["R2"] = junk
    share_numbers_only(other, r2.replica)
    assert sell(r2).number == "R2-000002"


def test_a_new_series_has_its_own_numbers_and_mark() -> None:
    before = make_venue("R2")
    before.open_shift_now(CASHIER, 0, NOW)
    old = [sell(before) for _ in range(2)]
    tag = new_series_tag()
    replica = Replica()
    for name in before.replica.names():  # even holding the old receipts and marks
        replica.apply(name, before.replica.doc(name).get_update())
    again = Venue(replica, device="R2", receipt_series=tag)
    sold = [sell(again) for _ in range(2)]
    assert [r.number for r in sold] == [f"R2-{tag}-000001", f"R2-{tag}-000002"]
    assert not {r.number for r in sold} & {r.number for r in old}
    assert marks(again.replica) == {"R2": 2, f"R2-{tag}": 2}
    # a restart in the series continues it from the receipts it holds, whatever the default series did
    restarted = Venue(again.replica, device="R2", receipt_seq=0, receipt_series=tag)
    assert restarted.receipt_seq == 2
