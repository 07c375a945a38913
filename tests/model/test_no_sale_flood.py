"""Found from the outside: "No sale" had no bound. A stuck key or a script opened the drawer as fast as
requests came, each a record every device and the console keep for good. A register now records at most
MAX_NO_SALES_PER_MINUTE in a minute; the next is refused in words and writes nothing."""

from __future__ import annotations

import pytest

from meshpos.errors import DomainError
from meshpos.model import Venue
from meshpos.model.limits import MAX_NO_SALES_PER_MINUTE
from meshpos.model.records_drawer import NO_SALES
from meshpos.model.sample import CASHIER
from meshpos.model.venue_drawer import MINUTE_MS

from .conftest import NOW, make_venue, sync
from .test_shifts_refunds import Check


def test_a_no_sale_flood_is_bounded_per_register_and_minute(
    open_venue: Venue, unchanged: Check
) -> None:
    for i in range(MAX_NO_SALES_PER_MINUTE):
        open_venue.no_sale(CASHIER, "", NOW + i)
    open_venue.replica.take_updates()
    with pytest.raises(DomainError, match=r"opened without a sale \d+ times in the last minute"):
        open_venue.no_sale(CASHIER, "", NOW + MAX_NO_SALES_PER_MINUTE)
    unchanged(open_venue)
    day = open_venue.ledger(open_venue.business_date(NOW))
    assert len(day.records(NO_SALES)) == MAX_NO_SALES_PER_MINUTE
    open_venue.no_sale(CASHIER, "a minute later", NOW + MINUTE_MS)  # the first one is a minute old

    other = make_venue(
        "R2", catalog_from=open_venue.replica
    )  # another register's drawer is its own
    other.open_shift_now(CASHIER, 0, NOW)
    sync(open_venue.replica, other.replica)
    assert other.no_sale(CASHIER, "", NOW + MINUTE_MS).register == "R2"
