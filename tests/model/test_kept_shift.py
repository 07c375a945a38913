"""A register's open shift is kept until the day's ``shifts`` or ``shift_closes`` change
(``ledger_kept.watched``, issue 18): every change shows at once, whoever made it (this device, a
peer's update, an undo), and inside an open transaction nothing kept is used."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from pycrdt import Doc

from meshpos.errors import DomainError
from meshpos.model import Venue, ledger_kept
from meshpos.model._records import decoded
from meshpos.model._writes import all_or_nothing
from meshpos.model.ledger import Ledger
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue, sync


def _today(venue: Venue) -> Ledger:
    return venue.ledger(venue.business_date(NOW))


def test_a_shift_a_peer_closes_is_no_longer_open(open_venue: Venue) -> None:
    shift = open_venue.open_shift()
    assert shift is not None
    assert open_venue.open_shift() == shift
    peer = make_venue("R2", catalog_from=open_venue.replica)
    sync(open_venue.replica, peer.replica)
    _today(peer).write_shift_close(shift.id, CASHIER, NOW + 1, 0, 0)  # (a record from a peer)
    sync(open_venue.replica, peer.replica)
    assert open_venue.open_shift() is None


def test_a_shift_a_peer_opens_for_this_register_is_open(venue: Venue) -> None:
    assert _today(venue).open_shifts_of("R1") == []  # read (kept: none)
    assert venue.open_shift() is None
    peer = make_venue("R2", catalog_from=venue.replica)
    _today(peer).write_shift("s-from-peer", "R1", CASHIER, NOW, 500)
    sync(venue.replica, peer.replica)
    found = venue.open_shift()
    assert found is not None
    assert found.id == "s-from-peer"


def _open_and_fail(venue: Venue) -> None:
    with all_or_nothing("open and fail"):
        _today(venue).write_shift("s-undone", "R1", CASHIER, NOW, 0)
        assert [s.id for s in _today(venue).open_shifts_of("R1")] == ["s-undone"]  # kept
        raise DomainError("refused after the write")


def _close_and_fail(venue: Venue, shift_id: str) -> None:
    with all_or_nothing("close and fail"):
        _today(venue).write_shift_close(shift_id, CASHIER, NOW + 1, 0, 0)
        assert venue.open_shift() is None  # kept: none open
        raise DomainError("refused after the write")


def test_a_shift_taken_back_by_undo_is_gone(venue: Venue) -> None:
    assert venue.open_shift() is None
    with pytest.raises(DomainError):
        _open_and_fail(venue)
    assert venue.open_shift() is None


def test_a_close_taken_back_by_undo_leaves_the_shift_open(open_venue: Venue) -> None:
    shift = open_venue.open_shift()
    assert shift is not None
    with pytest.raises(DomainError):
        _close_and_fail(open_venue, shift.id)
    assert open_venue.open_shift() == shift


def test_inside_an_open_transaction_a_close_shows_at_once(open_venue: Venue) -> None:
    shift = open_venue.open_shift()
    assert shift is not None  # kept before the transaction
    ledger = _today(open_venue)
    with ledger.doc.transaction():
        ledger.write_shift_close(shift.id, CASHIER, NOW + 1, 0, 0)
        assert open_venue.open_shift() is None  # not yet told (it commits later): not kept
    assert open_venue.open_shift() is None


def test_the_open_shift_is_parsed_once_between_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six registers' shifts on the day (pycrdt lists their keys in another order on each read, which
    made a new text, and a new parse, on almost every tap): parsed once, then once per change."""
    venues = [make_venue("R1")]
    venues += [make_venue(f"R{i}", catalog_from=venues[0].replica) for i in range(2, 7)]
    for k, v in enumerate(venues):
        v.open_shift_now(CASHIER, 0, NOW + k)
    sync(*(v.replica for v in venues))
    seller = venues[0]
    reads: list[object] = []  # a shift record decoded to see whose it is: one per shift a read

    def counted(value: object) -> Any:
        reads.append(value)
        return decoded(value)

    monkeypatch.setattr(ledger_kept, "decoded", counted)
    for k in range(20):
        order = seller.open_order(CASHIER, NOW + k)
        seller.add_line(CASHIER, order.id, "espresso", 1, NOW + k)
        seller.pay(CASHIER, order.id, "card", NOW + k)
    assert len(reads) == 6  # one read of the day's six shifts, for the 60 taps
    seller.close_shift(CASHIER, 0, NOW + 30)  # a change: read again, none open
    assert seller.open_shift() is None
    assert seller.open_shift() is None
    assert len(reads) == 6 + 5  # (a closed shift is not decoded: five)


def test_a_day_whose_open_shift_was_read_is_still_freed() -> None:
    """The observers that drop the kept shift hold no document: a forgotten day is freed."""
    doc: Doc[Any] = Doc()
    ledger = Ledger(doc, "2025-11-25")
    ledger.write_shift("s1", "R1", CASHIER, NOW, 0)
    assert [s.id for s in ledger.open_shifts_of("R1")] == ["s1"]
    gone = weakref.ref(doc)
    del doc, ledger
    gc.collect()
    assert gone() is None
