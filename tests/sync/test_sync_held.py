"""What the bounded topology must keep (issue 18, reach): a seller counts every device that holds its
sale, never one that does not (sync/_held.py), with a bounded number of attestations per heartbeat and
none for N−1 peers; the console's state reaches registers beyond the relay's links; news and a
newcomer's view of the venue spread in message delays, not heartbeat rotations (_spread, _passing)."""

from __future__ import annotations

import json

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.model.tally import covers
from meshpos.sync import Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._features import FEATURES
from meshpos.sync._held import HELD_FEATURE, HELD_PER_BEAT, MAX_HELD
from meshpos.sync._messages import Heartbeat
from meshpos.sync._topology import DEGREE

from .helpers import VENUE
from .test_sync_topology import CONFIG, DOC, Venue, names


def counted(venue: Venue, seller: str, client: int, clock: int) -> set[str]:
    """The devices ``seller`` counts as holding its write (itself included), as durability does."""
    held = venue.net.nodes[seller].held_by(DOC)
    return {seller} | {node for node, state in held.items() if covers(state, {client: clock})}


def test_a_seller_counts_every_device_of_a_large_venue_and_never_one_without_the_sale() -> None:
    venue = Venue(40)
    venue.settle(30.0)  # every node knows each author's node (far records)
    seller = "R007"
    assert len(venue.net.links()[seller]) <= DEGREE  # most devices are beyond its links
    away = {"R020", "R021", "R022"}  # together, cut off from the rest before the sale
    venue.net.partition(away, set(venue.net.nodes) - away)
    client, clock = venue.write(seller, "a-sale")

    def check() -> bool:
        now_counted = counted(venue, seller, client, clock)
        holders = venue.holders(client, clock)
        assert now_counted <= holders, f"counted without the sale: {now_counted - holders}"
        return now_counted == set(venue.net.nodes) - away

    venue.until(check, limit=15.0)  # every holder, each beyond the seller's few links included
    venue.net.advance(10.0, step=0.05)
    assert counted(venue, seller, client, clock) == set(venue.net.nodes) - away
    venue.net.heal()  # the partitioned three catch up and say so
    venue.until(lambda: counted(venue, seller, client, clock) == set(venue.net.nodes), 20.0)


def test_heartbeats_carry_a_bounded_number_of_attestations_and_n_minus_one_peers_none() -> None:
    venue = Venue(30, legacy=2)
    venue.settle(20.0)
    writes = [venue.write(name, f"sale-{name}") for name in names(30)]  # every register sells
    venue.net.advance(15.0, step=0.05)
    legacy = set(names(2))
    attestations = 0
    for _, receiver, data in venue.heartbeats:
        body = json.loads(data[1:])
        held = body.get("held", {})
        entries = sum(len(sv) for docs in held.values() for sv in docs.values())
        entries += sum(
            len(group) - 2 for groups in body.get("heldc", {}).values() for group in groups
        )
        assert entries <= HELD_PER_BEAT
        attestations += entries
        if receiver in legacy:
            assert not {"held", "heldc"} & body.keys()
    assert attestations > 0
    for name, (client, clock) in zip(names(30), writes, strict=True):
        if name in legacy:
            continue  # its id reaches the others through hellos only: its own links count for it
        assert counted(venue, name, client, clock) == set(venue.net.nodes), name


HELD1 = frozenset({HELD_FEATURE})  # a peer that takes ``held`` but not ``heldc``


@pytest.mark.parametrize("features", [HELD1, FEATURES], ids=["held", "heldc"])
def test_held_round_trips_is_gated_and_bounded(features: frozenset[str]) -> None:
    beat = Heartbeat("R1", "register", 100, False, False, 1, held={"R5": {DOC: {123: 40, 7: 2}}})
    assert decode_heartbeat(heartbeat_body(beat, features)) == beat
    assert b"held" not in heartbeat_body(beat, frozenset())  # an N−1 peer gets none of it
    assert b'"held"' in heartbeat_body(beat, HELD1)
    assert b'"heldc"' in heartbeat_body(beat, FEATURES)
    many = {f"R{i}": {DOC: {1: 1}} for i in range(MAX_HELD + 1)}
    with pytest.raises(RemoteProtocolError, match=f"more than {MAX_HELD} entries"):
        decode_heartbeat(
            heartbeat_body(Heartbeat("R1", "register", 1, False, False, 1, held=many), features)
        )
    catalog = heartbeat_body(beat, features).replace(DOC.encode(), b"catalog")
    with pytest.raises(RemoteProtocolError, match="names no ledger 'catalog'"):
        decode_heartbeat(catalog)
    zero = heartbeat_body(beat, HELD1).replace(b'"7":2', b'"7":0')
    with pytest.raises(RemoteProtocolError, match="field 'held' for 'R5'"):
        decode_heartbeat(zero)


def _heldc(value: object, *, held: object = None) -> bytes:
    body = json.loads(heartbeat_body(Heartbeat("R1", "register", 1, False, False, 1)))
    body["heldc"] = value
    if held is not None:
        body["held"] = held
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("value", "held", "named"),
    [
        ([], None, "field 'heldc' must be an object"),
        ({DOC: []}, None, "not a list of attestations"),
        ({DOC: [[7, 2]]}, None, "not \\[client, clock, node"),
        ({DOC: [[7, 0, "R5"]]}, None, "client id and clock must be integers"),
        ({DOC: [[True, 2, "R5"]]}, None, "client id and clock must be integers"),
        ({DOC: [[7, 2.0, "R5"]]}, None, "client id and clock must be integers"),
        ({DOC: [[2**53, 2, "R5"]]}, None, "client id and clock must be integers"),
        ({DOC: [[7, 2, "R 5"]]}, None, "invalid node id"),
        ({DOC: [[7, 2, 5]]}, None, "invalid node id"),
        ({DOC: [[7, 2, "R5"], [7, 3, "R5"]]}, None, "R5 twice for 7"),
        ({DOC: [["R5", 7, 2, 9]]}, None, "a client without a clock"),
        ({DOC: [["R5", 7, 2, 7, 3]]}, None, "R5 twice for 7"),
        ({DOC: [["R5", 7, 0]]}, None, "client id and clock must be integers"),
        ({DOC: [["R5", *[7, 1] * (MAX_HELD + 1)]]}, None, "more than"),
        ({"catalog": [[7, 2, "R5"]]}, None, "names no ledger 'catalog'"),
        ({DOC: [[7, 2, *(f"R{i}" for i in range(MAX_HELD + 1))]]}, None, "more than"),
        ({DOC: [[7, 2, "R5"]]}, {"R6": {DOC: {"7": 2}}}, "'held' and 'heldc' both"),
    ],
)
def test_malformed_compact_attestations_are_refused_naming_the_field(
    value: object, held: object, named: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=named):
        decode_heartbeat(_heldc(value, held=held))


def test_compact_attestations_group_by_client_and_clock_and_decode_to_the_same() -> None:
    held: dict[str, dict[str, dict[int, int]]] = {
        f"R{i}": {DOC: {123: 40, 7: 2 + i % 2}} for i in range(10)
    }
    held["R0"][DOC].update({9: 4, 8: 1})  # R0's alone: one row for the node
    beat = Heartbeat("R1", "register", 1, False, False, 1, held=held)
    body = json.loads(heartbeat_body(beat, FEATURES))
    assert body["heldc"] == {
        DOC: [
            [7, 2, *(f"R{i}" for i in range(0, 10, 2))],
            [7, 3, *(f"R{i}" for i in range(1, 10, 2))],
            [123, 40, *(f"R{i}" for i in range(10))],
            ["R0", 8, 1, 9, 4],
        ]
    }
    assert decode_heartbeat(heartbeat_body(beat, FEATURES)) == beat
    compact = json.dumps(body["heldc"], separators=(",", ":"))
    plain = json.dumps(json.loads(heartbeat_body(beat, HELD1))["held"], separators=(",", ":"))
    assert len(compact) * 2.5 < len(plain)  # (the client ids of real devices are 16 digits)


def test_the_console_state_reaches_registers_beyond_the_relay_links() -> None:
    venue = Venue(12)
    venue.settle(15.0)
    relay = venue.agreed_relay()
    assert relay is not None
    links = venue.net.links()
    far = next(n for n in sorted(venue.net.nodes) if n != relay and relay not in links[n])
    client, clock = venue.write(far, "a-sale-beyond-the-relay")
    venue.until(lambda: len(venue.holders(client, clock)) == 12, limit=2.0)
    assert venue.net.nodes[far].pending(DOC) > 0  # the console has not got it yet
    # the relay uploads it and learns the console's state (relay/service.py tells it)
    venue.net.nodes[relay].set_console_state(DOC, {client: clock})
    venue.until(lambda: venue.net.nodes[far].pending(DOC) == 0, limit=5.0)
    assert venue.net.nodes[far].console_state(DOC) == {client: clock}


def test_news_reaches_every_node_and_a_newcomer_learns_the_venue_within_a_second() -> None:
    venue = Venue(60)
    venue.settle(20.0)
    newcomer = Synchronizer(
        venue=VENUE, node_id="R999", role="register", client_id=424242, config=CONFIG
    )
    newcomer.open_doc(DOC)
    venue.net.add(newcomer)
    everyone = set(venue.net.nodes)
    # every node knows it (a far record, news: passed on at once) and it knows every node (the
    # records its new links send it, not the rotation's ~4 a beat)
    venue.until(
        lambda: all(set(s.presence) | {n} == everyone for n, s in venue.net.nodes.items()), 1.0
    )
    venue.net.nodes["R030"].set_problem("the console refused R030: wrong venue token")
    venue.until(
        lambda: all(
            s.presence["R030"].problem for s in venue.net.nodes.values() if s.node_id != "R030"
        ),
        1.0,
    )


def test_kitchen_screens_at_the_edge_are_counted_too() -> None:
    venue = Venue(10, screens=2)  # each screen hangs on two registers, beyond most sellers' links
    venue.settle(20.0)
    client, clock = venue.write("R003", "a-sale")
    venue.until(lambda: len(venue.holders(client, clock)) == 12, limit=3.0)
    venue.until(lambda: counted(venue, "R003", client, clock) == set(venue.net.nodes), 10.0)
