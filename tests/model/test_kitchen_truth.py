"""The kitchen tells the truth: voids reach every screen through the kitchen document alone, and each
ticket says which screens hold it (docs/architecture.md (Documents))."""

from __future__ import annotations

import pytest

from meshpos.errors import InvalidTransition
from meshpos.model import KITCHEN_ACK_MS, Replica, Venue
from meshpos.model.documents import is_kitchen
from meshpos.model.sample import CASHIER, COOK, MANAGER

from .conftest import NOW, make_venue


def kitchen_only(src: Replica, dst: Replica) -> None:
    """What a kitchen screen gets: the kitchen days, never a ledger."""
    for name in filter(is_kitchen, src.names()):
        dst.apply(name, src.doc(name).get_update(dst.doc(name).get_state()))


def sent_order(venue: Venue, **where: str) -> tuple[str, str]:
    order = venue.open_order(CASHIER, NOW, **where)
    venue.add_line(CASHIER, order.id, "burger", 2, NOW)
    venue.add_line(CASHIER, order.id, "latte", 1, NOW, modifiers=["large"])
    ticket = venue.send_to_kitchen(CASHIER, order.id, NOW)
    assert ticket is not None
    return order.id, ticket.id


def test_a_voided_order_is_void_on_a_screen_that_holds_no_ledger(open_venue: Venue) -> None:
    kds = make_venue("K1", role="kds", catalog_from=open_venue.replica)
    order_id, ticket_id = sent_order(open_venue, table="12")
    kitchen_only(open_venue.replica, kds.replica)
    date = open_venue.business_date(NOW)
    assert not kds.kitchen(date).ticket(ticket_id).void
    open_venue.void_order(MANAGER, order_id, NOW + 1, "guest left")
    kitchen_only(open_venue.replica, kds.replica)
    assert not any(n.startswith("ledger") for n in kds.replica.names())
    ticket = kds.kitchen(date).ticket(ticket_id)
    assert ticket.void
    assert ticket.state == "new"
    assert kds.bump(COOK, ticket_id, NOW + 2).state == "served"  # cleared off the board
    with pytest.raises(InvalidTransition, match="void ticket can only be cleared"):
        kds.recall(COOK, ticket_id, NOW + 3)


def test_a_voided_sent_line_is_void_and_the_rest_still_cooks(open_venue: Venue) -> None:
    order_id, ticket_id = sent_order(open_venue, tab="Smith")
    date = open_venue.business_date(NOW)
    burger = open_venue.kitchen(date).ticket(ticket_id).items[0]
    open_venue.remove_line(MANAGER, order_id, burger.line_id, NOW + 1, "wrong table")
    ticket = open_venue.kitchen(date).ticket(ticket_id)
    assert [(i.name, i.void) for i in ticket.items] == [("Burger", True), ("Latte", False)]
    assert not ticket.void
    assert open_venue.bump(COOK, ticket_id, NOW + 2).state == "cooking"


def test_a_ticket_names_its_table_tab_and_waiter(open_venue: Venue) -> None:
    date = open_venue.business_date(NOW)
    _, at_table = sent_order(open_venue, table="12")
    _, on_tab = sent_order(open_venue, tab="Smith")
    order_id, bare = sent_order(open_venue)
    kitchen = open_venue.kitchen(date)
    labels = [kitchen.ticket(t).label for t in (at_table, on_tab, bare)]
    assert labels == ["Table 12", "Tab Smith", f"Order #{order_id[:6]}"]
    assert kitchen.ticket(at_table).user == CASHIER
    assert kitchen.ticket(at_table).register == open_venue.device


def test_held_by_the_screens_that_acknowledged_and_lost_only_when_none_did(
    open_venue: Venue,
) -> None:
    k1 = make_venue("K1", role="kds", catalog_from=open_venue.replica)
    k2 = make_venue("K2", role="kds", catalog_from=open_venue.replica)
    _, ticket_id = sent_order(open_venue, table="3")
    date = open_venue.business_date(NOW)
    ticket = open_venue.kitchen(date).ticket(ticket_id)
    assert ticket.held_by == ()
    assert ticket.unheld()
    assert not ticket.lost(NOW + KITCHEN_ACK_MS - 1)
    assert ticket.lost(NOW + KITCHEN_ACK_MS)
    for kds in (k1, k2):
        kitchen_only(open_venue.replica, kds.replica)
        assert kds.acknowledge_tickets(date, NOW + 1) == 1
        assert kds.acknowledge_tickets(date, NOW + 2) == 0  # once per screen
        kitchen_only(kds.replica, open_venue.replica)
    ticket = open_venue.kitchen(date).ticket(ticket_id)
    assert ticket.held_by == ("K1", "K2")
    assert not ticket.lost(NOW + 10 * KITCHEN_ACK_MS)


def test_a_void_ticket_is_not_lost(open_venue: Venue) -> None:
    order_id, ticket_id = sent_order(open_venue)
    open_venue.void_order(MANAGER, order_id, NOW + 1)
    ticket = open_venue.kitchen(open_venue.business_date(NOW)).ticket(ticket_id)
    assert ticket.void
    assert not ticket.lost(NOW + 10 * KITCHEN_ACK_MS)
