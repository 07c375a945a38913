"""Found from the outside (red, thirteenth session): a kitchen screen offline for an hour, then back.

A ticket's state was the target of its latest event by stamp, whatever state the event moved it from. A
screen that lost its link kept showing the ticket as it last knew it; a cook who tapped "Start cooking"
there an hour later wrote the newest event, and once the screen was back every screen showed the ticket
the other cooks had long served as "cooking" again: a dish cooked twice. The same held within a second on
a slow link (a bump of a ticket another screen had just moved on took it back). A move now counts only
when it starts from the state the events before it left (replayed in stamp order, the same on every
device): a move made on a stale view changes nothing; screens that bump the same ticket at once still
agree on one state.
"""

from __future__ import annotations

from meshpos.model import Venue
from meshpos.model.sample import CASHIER, COOK

from .conftest import NOW, make_venue
from .test_kitchen_truth import kitchen_only, sent_order

HOUR_MS = 3_600_000


def screens(register: Venue) -> tuple[Venue, Venue, str, str]:
    """Two kitchen screens holding one new ticket of ``register``; its id and business day."""
    k1 = make_venue("K1", role="kds", catalog_from=register.replica)
    k2 = make_venue("K2", role="kds", catalog_from=register.replica)
    _, ticket_id = sent_order(register, table="12")
    for kds in (k1, k2):
        kitchen_only(register.replica, kds.replica)
    return k1, k2, ticket_id, register.business_date(NOW)


def meet(*venues: Venue) -> None:
    for src in venues:
        for dst in venues:
            if src is not dst:
                kitchen_only(src.replica, dst.replica)


def test_a_screen_back_after_an_hour_does_not_bring_a_served_ticket_back(
    open_venue: Venue,
) -> None:
    k1, k2, ticket_id, date = screens(open_venue)
    for at in (1, 2, 3):  # K1 cooks it, it is ready, it is served; K2 is offline all along
        k1.bump(COOK, ticket_id, NOW + at * 60_000)
    assert k1.kitchen(date).ticket(ticket_id).state == "served"
    assert k2.bump(COOK, ticket_id, NOW + HOUR_MS).state == "cooking"  # what K2 showed: new
    meet(open_venue, k1, k2)
    assert [v.kitchen(date).ticket(ticket_id).state for v in (open_venue, k1, k2)] == ["served"] * 3


def test_a_bump_on_a_slow_link_does_not_take_a_ticket_back(open_venue: Venue) -> None:
    k1, k2, ticket_id, date = screens(open_venue)
    k1.bump(COOK, ticket_id, NOW + 1_000)  # cooking
    k1.bump(COOK, ticket_id, NOW + 2_000)  # ready
    k2.bump(COOK, ticket_id, NOW + 2_100)  # K2 has not heard: new -> cooking
    meet(k1, k2)
    assert {v.kitchen(date).ticket(ticket_id).state for v in (k1, k2)} == {"ready"}
    # and the ticket moves on from there on either screen
    assert k2.bump(COOK, ticket_id, NOW + 3_000).state == "served"


def test_two_screens_bumping_at_once_agree_and_a_recall_still_counts(open_venue: Venue) -> None:
    k1, k2, ticket_id, date = screens(open_venue)
    k1.bump(COOK, ticket_id, NOW + 1_000)
    k2.bump(COOK, ticket_id, NOW + 1_000)  # the same move at the same moment
    meet(k1, k2)
    assert {v.kitchen(date).ticket(ticket_id).state for v in (k1, k2)} == {"cooking"}
    k1.bump(COOK, ticket_id, NOW + 2_000)
    k1.bump(COOK, ticket_id, NOW + 3_000)
    meet(k1, k2)
    assert k2.recall(CASHIER, ticket_id, NOW + 4_000).state == "ready"  # served -> ready
    meet(k1, k2)
    assert {v.kitchen(date).ticket(ticket_id).state for v in (k1, k2)} == {"ready"}
