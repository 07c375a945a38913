"""A kept order parse survives changes to the rest of the day and is never stale (``_order_kept``,
issue 18 part ``order``): random interleavings of this register's taps, a peer's taps, receipts, cash
moves and taken-back writes, delivered late, partly and out of order, with every read checked against a
fresh parse of the order's map after every step."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text, merge_updates

from meshpos.errors import DomainError
from meshpos.model import Order, Venue
from meshpos.model._writes import all_or_nothing
from meshpos.model.ledger import Ledger
from meshpos.model.records import parse_order
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import NOW, make_venue

PRODUCTS = ("espresso", "fries", "burger", "lemonade")


def test_a_line_added_past_a_gap_is_told_to_no_observer_of_the_order_only_to_the_documents() -> (
    None
):
    """Why an order's own change cannot be told by yrs' events (pycrdt 0.14): a writer's records that
    arrive before an earlier one of theirs are integrated past the gap in its clocks, and a write into a
    map created past such a gap is told neither to the map's observer nor to the deep observer of
    ``orders``; the document's observer is told (with nothing deleted). If this ever fails, yrs changed:
    an observer of ``orders`` may then do."""
    writer: Doc[Any] = Doc()
    orders = writer.get("orders", type=Map)
    updates: list[bytes] = []
    sub = writer.observe(lambda event: updates.append(bytes(event.update)))
    writer.get("shifts", type=Map)["s1"] = "{}"  # (the update held back: the gap)
    orders["o1"] = Map({"info": "{}"})
    orders["o1"]["lines/l1"] = "{}"
    writer.unobserve(sub)

    reader: Doc[Any] = Doc()
    root = reader.get("orders", type=Map)
    reader.apply_update(updates[1])  # the order, past the gap
    told_root: list[object] = []
    told_map: list[object] = []
    told_doc: list[bytes] = []

    def doc_told(event: Any) -> None:  # (pycrdt's raw event: its delete set)
        told_doc.append(bytes(event.delete_set))

    subs = (
        root.integrated.observe_deep(told_root.append),
        root["o1"].integrated.observe(told_map.append),
        reader._doc.observe(doc_told),
    )
    reader.apply_update(updates[2])  # a line into it
    assert json.loads(str(root["o1"])) == {"info": "{}", "lines/l1": "{}"}
    assert (told_root, told_map, told_doc) == ([], [], [b"\x00"])
    del subs


def _fresh(ledger: Ledger, order_id: str) -> Order:
    """The order parsed afresh from its map's text, as if nothing had been kept."""
    om = json.loads(str(ledger._order_map(order_id)))
    return parse_order(order_id, om, f"{ledger.name} orders/{order_id}", [])


def _tap(seller: Venue, order_id: str, rng: random.Random, now: int) -> None:
    """One random tap on an order (some refused: a paid or voided order, nothing due)."""
    with contextlib.suppress(DomainError):
        order = seller.order(order_id)
        tap = rng.randrange(9)
        if tap <= 2:
            discount = "staff" if tap == 2 else None
            product = rng.choice(PRODUCTS)
            quantity = 1 + rng.randrange(3)
            seller.add_line(MANAGER, order_id, product, quantity, now, discount_id=discount)
        elif tap == 3 and order.lines:
            seller.remove_line(MANAGER, order_id, rng.choice(order.lines).id, now)
        elif tap == 4:
            seller.apply_order_discount(MANAGER, order_id, "happy", now)
        elif tap == 5:
            seller.send_to_kitchen(MANAGER, order_id, now)
        elif tap == 6 and order.totals.due > 1:
            amount = order.totals.due if rng.random() < 0.3 else order.totals.due // 2
            seller.pay(MANAGER, order_id, "card", now, amount=amount)
        elif tap == 7 and rng.random() < 0.3:
            seller.void_order(MANAGER, order_id, now)
        elif tap == 8 and order.lines:  # a new quantity: a line taking another's place
            line = rng.choice(order.lines)
            seller.set_quantity(MANAGER, order_id, line.id, 1 + rng.randrange(3), now)


def _taken_back(seller: Venue, order_id: str, now: int) -> None:
    """A tap whose write is taken back (an undo: a deletion in the order's map)."""
    with contextlib.suppress(DomainError), all_or_nothing("a tap refused after its write"):
        seller.add_line(MANAGER, order_id, "fries", 1, now)
        raise DomainError("refused after the write")


def _interleave(seed: int, steps: int) -> None:
    rng = random.Random(seed)
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    peer = make_venue("R2", catalog_from=venue.replica)
    peer.replica.apply(*_state_for(venue, peer))
    peer.open_shift_now(CASHIER, 0, NOW)
    held = [(u.document, u.update) for u in peer.replica.take_updates() if u.local]  # (the gap)
    hold = False  # whether the peer's next update is held back (a new gap)
    queued: list[tuple[str, bytes]] = []  # the peer's updates not delivered here yet
    ledger = venue.ledger(venue.business_date(NOW))
    mine = [venue.open_order(CASHIER, NOW, table=f"T{i}").id for i in range(3)]

    def check() -> None:
        for order_id in ledger.order_ids():
            assert ledger.order(order_id) == _fresh(ledger, order_id)
            assert ledger.order(order_id) == _fresh(ledger, order_id)  # (read again: kept)

    for step in range(steps):
        now = NOW + 1 + step
        move = rng.randrange(10)
        if move <= 3:  # this register's tap on one of the day's orders
            _tap(venue, rng.choice(ledger.order_ids()), rng, now)
        elif move == 4:
            _taken_back(venue, rng.choice(mine), now)
        elif move <= 7:  # the peer acts on what it has (its own orders, or this register's)
            peer.replica.apply(*_state_for(venue, peer))
            theirs = peer.ledger(peer.business_date(NOW)).order_ids()
            what = rng.randrange(5)
            with contextlib.suppress(DomainError):
                if what == 0 or not theirs:
                    peer.add_line(CASHIER, peer.open_order(CASHIER, now).id, "espresso", 1, now)
                elif what == 1:
                    peer.cash_move(CASHIER, "in", 100, "float", now)
                elif what == 2:
                    _taken_back(peer, rng.choice(theirs), now)
                else:
                    _tap(peer, rng.choice(theirs), rng, now)
            made = [(u.document, u.update) for u in peer.replica.take_updates() if u.local]
            if hold and made:
                held.append(made.pop(0))
                hold = False
            queued += made
        elif move == 8 and rng.random() < 0.3:  # anti-entropy: all the peer has, as one update
            venue.replica.apply(*_state_for(peer, venue))  # (deletions with later lines too)
            held, queued, hold = [], [], True
        else:  # some of the peer's updates arrive, in any order (anything late arrives past a gap)
            chosen = sorted(rng.sample(range(len(queued)), k=rng.randint(0, len(queued))))
            for i in chosen[::-1]:
                venue.replica.apply(*queued.pop(i))
        venue.replica.take_updates()
        check()
    for name, update in queued + held:
        venue.replica.apply(name, update)
    check()


def _state_for(source: Venue, to: Venue) -> tuple[str, bytes]:
    """What ``to`` lacks of ``source``'s day."""
    name = source.ledger(source.business_date(NOW)).name
    return name, source.replica.doc(name).get_update(to.replica.doc(name).get_state())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_every_read_of_an_order_is_its_fresh_parse_whatever_arrives_when(seed: int) -> None:
    _interleave(seed, 60)


def _two_registers() -> tuple[Venue, Venue, Ledger, Ledger]:
    venue = make_venue("R1")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    peer = make_venue("R2", catalog_from=venue.replica)
    peer.replica.apply(*_state_for(venue, peer))
    return (
        venue,
        peer,
        venue.ledger(venue.business_date(NOW)),
        peer.ledger(venue.business_date(NOW)),
    )


def test_a_write_inside_an_older_nodes_part_map_shows_at_the_next_read() -> None:
    """An older node's order keeps a map per part: a line written into it adds no key to the order's
    map, so its kept parse is used only until the next transaction (not by its count of keys)."""
    venue, peer, ledger, theirs = _two_registers()
    order = venue.open_order(CASHIER, NOW, table="T1")
    venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    peer.replica.apply(*_state_for(venue, peer))
    line = ledger.order_records(order.id, "lines")
    theirs._order_map(order.id)["lines"] = Map({"l-old": json.dumps(next(iter(line.values())))})
    venue.replica.apply(*_state_for(peer, venue))
    assert len(ledger.order(order.id).lines) == 2
    assert len(ledger.order(order.id).lines) == 2  # (kept)
    theirs._order_map(order.id)["lines"]["l-old2"] = json.dumps(next(iter(line.values())))
    venue.replica.apply(*_state_for(peer, venue))
    assert len(ledger.order(order.id).lines) == 3
    assert ledger.order(order.id) == _fresh(ledger, order.id)


def test_a_shared_text_a_peer_edits_in_place_shows_at_the_next_read() -> None:
    """A peer may put a shared text under an order's key (it reads as a string: a record's JSON) and
    edit it in place, which adds no key: such an order is not kept by its count of keys."""
    venue, peer, ledger, theirs = _two_registers()
    order = venue.open_order(CASHIER, NOW, table="T1")
    venue.add_line(CASHIER, order.id, "espresso", 1, NOW)
    peer.replica.apply(*_state_for(venue, peer))
    record = next(v for k, v in theirs.order_records(order.id, "lines").items())
    text = json.dumps(record, separators=(",", ":"))
    theirs._order_map(order.id)["lines/l-text"] = Text(text)
    venue.replica.apply(*_state_for(peer, venue))
    assert [line.quantity for line in ledger.order(order.id).lines] == [1, 1]
    shared = theirs._order_map(order.id)["lines/l-text"]
    shared.insert(text.index('"quantity":1') + len('"quantity":1'), "2")  # (no key added)
    venue.replica.apply(*_state_for(peer, venue))
    assert sorted(line.quantity for line in ledger.order(order.id).lines) == [1, 12]
    assert ledger.order(order.id) == _fresh(ledger, order.id)


def test_a_line_taken_back_and_another_added_in_one_update_show_at_the_next_read() -> None:
    """A peer's write taken back (a deletion) and its next line, arriving together, leave the order's
    map with as many keys as before: a deletion anywhere in the day drops what is kept."""
    venue, peer, ledger, _ = _two_registers()
    peer.open_shift_now(CASHIER, 0, NOW)
    order = venue.open_order(CASHIER, NOW, table="T1")
    peer.replica.apply(*_state_for(venue, peer))
    venue.replica.apply(*_state_for(peer, venue))
    peer.replica.take_updates()
    _taken_back(peer, order.id, NOW)
    written, taken_back = (u.update for u in peer.replica.take_updates() if u.local)
    peer.add_line(CASHIER, order.id, "burger", 2, NOW)
    (added,) = (u.update for u in peer.replica.take_updates() if u.local)
    venue.replica.apply(ledger.name, written)
    assert [line.product_id for line in ledger.order(order.id).lines] == ["fries"]  # (kept)
    venue.replica.apply(ledger.name, merge_updates(taken_back, added))
    assert [line.product_id for line in ledger.order(order.id).lines] == ["burger"]
    assert ledger.order(order.id) == _fresh(ledger, order.id)
