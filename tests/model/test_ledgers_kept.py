"""``Venue.ledgers()`` (the loaded days, newest first) is kept while the replica holds the same documents
(issue 18, cpu: a sale asked a dozen times): it must follow every day loaded, closed, unloaded, reopened
or forgotten at once, and hand each caller a list of its own."""

from __future__ import annotations

import pytest

from meshpos.model import Venue
from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER

from .conftest import NOW, make_venue

DAY_MS = 86_400_000


def dates(venue: Venue) -> list[str]:
    return [ledger.date for ledger in venue.ledgers()]


def fresh(venue: Venue) -> list[tuple[str, int]]:
    """What ``ledgers()`` would answer if nothing were kept: each day and its document."""
    names = sorted((n for n in venue.replica.names() if n.startswith("ledger/")), reverse=True)
    return [(n, id(venue.replica.doc(n))) for n in names]


def answer(venue: Venue) -> list[tuple[str, int]]:
    return [(ledger_name(ledger.date), id(ledger.doc)) for ledger in venue.ledgers()]


def test_the_loaded_days_follow_every_change_of_the_replica() -> None:
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 0, NOW)
    today = venue.business_date(NOW)
    assert dates(venue) == [today]
    tomorrow = venue.business_date(NOW + DAY_MS)
    venue.replica.doc(ledger_name(tomorrow))  # a day loaded (from the store, a peer, a sale)
    assert dates(venue) == [tomorrow, today]
    assert answer(venue) == fresh(venue)
    venue.replica.close(ledger_name(tomorrow))  # a day closed (unloaded)
    assert dates(venue) == [today]
    venue.replica.reopen(ledger_name(tomorrow))
    venue.replica.doc(ledger_name(tomorrow))  # loaded again: a new document
    assert answer(venue) == fresh(venue)
    before = venue.ledgers()[1].doc
    venue.replica.unload(ledger_name(today))  # a cleared cache: a new document for the day
    venue.replica.doc(ledger_name(today))
    assert answer(venue) == fresh(venue)
    assert venue.ledgers()[1].doc is not before
    venue.forget_day(today)  # the venue drops what it kept of the day: a new Ledger
    kept = venue.ledgers()[1]
    assert kept is venue.ledger(today)


def test_each_caller_gets_a_list_of_its_own() -> None:
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 0, NOW)
    mine = venue.ledgers()
    mine.clear()
    assert len(venue.ledgers()) == 1


def test_unchanged_documents_are_not_listed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: a sale's taps ask again and again while no document comes or goes."""
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 0, NOW)
    order = venue.open_order(CASHIER, NOW, table="1")
    listed: list[int] = []
    names = venue.replica.names

    def counted() -> list[str]:
        listed.append(1)
        return names()

    monkeypatch.setattr(venue.replica, "names", counted)
    venue.add_line(CASHIER, order.id, "burger", 1, NOW)
    assert venue.pay(CASHIER, order.id, "card", NOW).receipt is not None
    assert listed == []
