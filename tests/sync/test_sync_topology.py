"""The bounded topology (issue 18): the graph function, then meshes of synchronizers on the in-memory
network: bounded links, updates spread by forwarding, summarised presence, relay failover, N−1 peers."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from pycrdt import Map

from meshpos.errors import RemoteProtocolError
from meshpos.model.replica import decode_state_vector
from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync._bodies import MAX_FAR, decode_heartbeat, heartbeat_body
from meshpos.sync._codec import HEARTBEAT, decode
from meshpos.sync._far_out import FAR_PER_BEAT
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import FarRecord, Heartbeat, PeerSummary, SyncUpdate
from meshpos.sync._topology import (
    DEGREE,
    FULL_MESH,
    FULL_MESH_FEATURE,
    TOPOLOGY_FEATURE,
    diameter,
    graph,
    neighbours,
    offsets,
)
from meshpos.sync.memory import MemoryNetwork

from .helpers import VENUE, pump, sync_pair

DOC = "ledger/2026-12-05"
CONFIG = SyncConfig(heartbeat_interval=1.0, anti_entropy_interval=5.0)


def names(n: int) -> list[str]:
    return [f"R{i:03d}" for i in range(1, n + 1)]


# --- the graph --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [*range(1, 40), 50, 99, 200, 257])
def test_the_graph_is_symmetric_connected_and_bounded(n: int) -> None:
    links = graph(names(n))
    assert all(a in links[b] for a in links for b in links[a])
    assert max((len(p) for p in links.values()), default=0) <= max(DEGREE, FULL_MESH - 1)
    assert diameter(links) is not None
    if n <= FULL_MESH:  # a small venue keeps the full mesh
        assert all(len(p) == n - 1 for p in links.values())
    else:
        assert max(len(p) for p in links.values()) <= DEGREE


def test_a_venue_of_six_is_one_hop_across_and_seven_is_bounded() -> None:
    """**Changed** (issue 18, tail): six devices link every pair (the bounded graph of six put each
    device's opposite two hops away); seven are on the bounded graph; ``full_mesh=0`` is the rule
    before (the degree alone)."""
    assert FULL_MESH == 6
    assert diameter(graph(names(6))) == 1
    assert diameter(graph(names(6), full_mesh=0)) == 2
    seven = graph(names(7))
    assert max(len(p) for p in seven.values()) == DEGREE
    assert diameter(seven) == 2


def test_every_node_computes_the_same_graph_whatever_order_it_knows_the_members_in() -> None:
    members = names(60)
    shuffled = random.Random(3).sample(members, len(members))
    assert all(neighbours(shuffled, m) == graph(members)[m] for m in members)


def test_a_leaver_changes_only_the_links_around_it() -> None:
    members = names(200)
    before = graph(members)
    for leaver in ("R001", "R100", "R200"):
        after = graph([m for m in members if m != leaver])
        assert diameter(after) is not None
        edges = {frozenset((a, b)) for a, p in before.items() for b in p if leaver not in (a, b)}
        kept = {frozenset((a, b)) for a, p in after.items() for b in p}
        # the chords spanning the leaver's place move: about two per chord length, not all of them
        assert len(edges - kept) <= 2 * (max(offsets(200)) + 1)
        assert len(edges - kept) < len(edges) // 4


@pytest.mark.parametrize(("registers", "screens"), [(1, 8), (6, 2), (20, 5), (50, 12)])
def test_kitchen_screens_hang_off_registers_so_no_ledger_path_needs_one(
    registers: int, screens: int
) -> None:
    kds = [f"K{i:02d}" for i in range(screens)]
    links = graph(names(registers) + kds, leaves=kds)
    assert all(a in links[b] for a in links for b in links[a])
    for screen in kds:  # a kds passes on no ledger: it links only to registers
        assert links[screen]
        assert not links[screen] & set(kds)
    ring = {n: p - set(kds) for n, p in links.items() if n not in kds}
    assert diameter(ring) is not None


def test_a_six_device_venue_links_every_pair_and_an_older_node_only_where_its_graph_does() -> None:
    """**Changed** (issue 18, tail): six devices are a full mesh, so a sale reaches every other in
    one hop. A ``topology1`` node of the release before (no ``mesh6``) links on the bounded graph and
    closes a link only the full mesh wants: the others do not dial it there (``wants_link``), so the
    links stay put, and what either side writes still reaches everyone (through a neighbour)."""
    venue = Venue(6)
    venue.settle()
    assert all(len(peers) == 5 for peers in venue.net.links().values())
    client, clock = venue.write("R001", "one-hop")
    venue.net.advance(0.2, step=0.05)
    assert {s for s, _ in venue.carried} == {"R001"}  # nothing forwarded: the author sent it all
    assert len(venue.holders(client, clock)) == 6

    mixed = Venue(6, older=1)
    mixed.settle()
    older = names(6)[0]
    bounded = neighbours(names(6), older, full_mesh=0)
    opposite = (set(names(6)) - bounded - {older}).pop()
    links = mixed.net.links()
    assert links[older] == bounded
    assert links[opposite] == set(names(6)) - {older, opposite}
    sync = mixed.net.nodes[opposite]
    assert sync.wants_link(older)  # not linked yet: its features are unknown
    assert sync.wants_link(older, FEATURES)
    assert not sync.wants_link(older, FEATURES - {FULL_MESH_FEATURE})
    mixed.net.advance(10.0, step=0.05)
    assert mixed.net.links() == links  # no dial the older node would close again
    for author in (older, opposite):
        client, clock = mixed.write(author, f"sale-{author}")
        mixed.until(lambda c=client, k=clock: len(mixed.holders(c, k)) == 6, limit=2.0)
        # and the author counts every device (durability "on k of n"): the opposite's attestation
        # goes through a neighbour when the tree's hop (the author itself) has no link
        seller = mixed.net.nodes[author]
        mixed.until(
            lambda c=client, k=clock, a=seller: (
                all(held.get(c, 0) >= k for held in a.held_by(DOC).values())
                and len(a.held_by(DOC)) == 5
            ),
            limit=5.0,
        )


def test_a_small_venue_keeps_the_full_mesh_kitchen_screens_included() -> None:
    members = ["R1", "R2", "R3", "K1", "K2"]
    links = graph(members, leaves=["K1", "K2"])
    assert all(links[n] == set(members) - {n} for n in members)


# --- meshes on the in-memory network ----------------------------------------------------------------


class Venue:
    def __init__(
        self, n: int, *, legacy: int = 0, older: int = 0, screens: int = 0, seed: int = 5
    ) -> None:
        """``legacy`` nodes announce nothing (before ``topology1``); the ``older`` ones after them
        link on the bounded graph alone (the release before ``mesh6``: ``full_mesh=0``)."""
        self.rng = random.Random(seed)
        self.heartbeats: list[tuple[str, str, bytes]] = []
        self.carried: list[tuple[str, str]] = []  # (sender, receiver) of every update message
        self.net = MemoryNetwork(self.rng, tap=self._tap, listener=lambda node, event: None)
        kds = [f"K{i:02d}" for i in range(screens)]

        def older_one(i: int) -> bool:
            return legacy <= i < legacy + older

        for i, name in enumerate(names(n) + kds):
            sync = Synchronizer(
                venue=VENUE,
                node_id=name,
                role="kds" if name in kds else "register",
                client_id=self.rng.randrange(1, 2**53),
                config=replace(CONFIG, full_mesh=0) if older_one(i) else CONFIG,
            )
            sync.set_uplink(i % 3 == 0 and name not in kds)
            sync.open_doc(DOC)
            features = FEATURES - {FULL_MESH_FEATURE} if older_one(i) else FEATURES
            self.net.add(sync, features=frozenset() if i < legacy else features)

    def _tap(self, sender: str, receiver: str, data: bytes) -> None:
        if data[:1] == bytes([HEARTBEAT]):
            self.heartbeats.append((sender, receiver, data))
            return
        message = decode(data, len(data) + 1)
        if isinstance(message, SyncUpdate):  # live updates (anti-entropy's step 2s are not counted)
            self.carried.append((sender, receiver))

    def settle(self, seconds: float = 12.0) -> None:
        self.net.advance(seconds, step=0.05)

    def write(self, name: str, key: str) -> tuple[int, int]:
        sync = self.net.nodes[name]
        doc = sync.docs[DOC]
        with doc.transaction():
            doc.get("sales", type=Map)[key] = "x" * 300
        self.net.pump(name)
        return sync.client_id, decode_state_vector(doc.get_state())[sync.client_id]

    def holders(self, client: int, clock: int) -> set[str]:
        return {
            name
            for name, s in self.net.nodes.items()
            if decode_state_vector(s.docs[DOC].get_state()).get(client, 0) >= clock
        }

    def until(self, condition: object, limit: float) -> float:
        """Simulated seconds until ``condition()`` holds (fails past ``limit``)."""
        start = self.net.now
        while not condition():  # type: ignore[operator]
            assert self.net.now - start <= limit, f"not within {limit} simulated seconds"
            self.net.advance(0.01, step=0.01)
        return self.net.now - start

    def agreed_relay(self) -> str | None:
        seen = {s.relay for s in self.net.nodes.values()}
        relay = seen.pop() if len(seen) == 1 else None
        node = self.net.nodes.get(relay) if relay is not None else None
        return relay if node is not None and node.is_relay else None


def test_links_are_bounded_and_an_update_reaches_everyone_by_forwarding() -> None:
    venue = Venue(40)
    venue.settle(30.0)  # every node has every far record: it knows each author's node
    links = venue.net.links()
    assert max(len(p) for p in links.values()) <= DEGREE
    assert diameter({n: frozenset(p) for n, p in links.items()}) is not None
    for author in ("R001", "R017", "R040"):
        venue.carried.clear()
        client, clock = venue.write(author, f"sale-{author}")
        venue.until(lambda c=client, k=clock: len(venue.holders(c, k)) == 40, limit=2.0)
        venue.net.advance(0.5, step=0.05)
        senders = {s for s, _ in venue.carried}
        assert len(senders) > DEGREE + 1  # forwarded, not sent by the author to everyone
        # once the views agree, it crosses each edge of the tree from its author once: every other
        # node gets exactly one copy (a flood would send one per link)
        per_receiver: dict[str, int] = {}
        for _, receiver in venue.carried:
            per_receiver[receiver] = per_receiver.get(receiver, 0) + 1
        assert per_receiver == dict.fromkeys(set(venue.net.nodes) - {author}, 1)


def test_a_sale_reaches_the_kitchen_screens_at_the_edge() -> None:
    venue = Venue(16, screens=6)
    venue.settle()
    for screen in (n for n in venue.net.nodes if n.startswith("K")):
        assert all(not peer.startswith("K") for peer in venue.net.links()[screen])
    client, clock = venue.write("R005", "a-sale")
    venue.until(lambda: len(venue.holders(client, clock)) == 22, limit=2.0)


def test_presence_is_summarised_yet_every_node_sees_every_node() -> None:
    venue = Venue(30)
    venue.settle(20.0)
    for name, sync in venue.net.nodes.items():
        assert set(sync.presence) == set(venue.net.nodes) - {name}
    relay = venue.agreed_relay()
    assert relay is not None
    for _, _, data in venue.heartbeats[-200:]:
        beat = decode(data, len(data) + 1)
        assert isinstance(beat, Heartbeat)
        assert len(beat.far) <= FAR_PER_BEAT
        assert len(beat.peers) <= DEGREE


def test_relay_failover_within_a_second_when_its_links_close_and_three_when_silent() -> None:
    venue = Venue(30)
    venue.settle(15.0)
    for closed, limit in ((True, 1.0), (False, 3.0)):
        old = venue.agreed_relay()
        assert old is not None
        venue.net.crash(old, notify_peers=closed)
        venue.until(lambda old=old: venue.agreed_relay() not in (None, old), limit=limit)
        venue.net.advance(5.0, step=0.05)


def test_a_link_closed_as_not_a_neighbour_is_no_departure() -> None:
    venue = Venue(12)
    venue.settle(20.0)  # views settled: every extra link of the start is closed
    links = venue.net.links()
    assert all(len(p) <= DEGREE for p in links.values())
    for name, sync in venue.net.nodes.items():
        assert set(sync.presence) == set(venue.net.nodes) - {name}
        assert sync.links_wanted() == frozenset(links[name])


def test_two_sides_of_a_partition_link_again_as_soon_as_it_heals() -> None:
    """Each side of a split holds the other gone (its links closed, its beats stopped), and a gone
    notice keeps a node out of the members far longer than a heartbeat: the sides must still dial
    across the moment the network heals (they used to link only once the notices were forgotten;
    till then what each side sold stayed on it)."""
    venue = Venue(8, seed=3)
    venue.settle()
    one, other = names(8)[:4], names(8)[4:]
    venue.net.partition(one, other)
    venue.until(  # every link across has closed (idle) and each side holds the other gone
        lambda: all(peers <= set(one) for n, peers in venue.net.links().items() if n in one),
        limit=2 * CONFIG.session.idle_timeout,
    )
    assert all(venue.net.nodes[n].members == set(one) for n in one)
    left, right = venue.write(one[0], "sold-on-one-side"), venue.write(other[-1], "and-the-other")
    venue.net.advance(CONFIG.heartbeat_interval, step=0.05)
    assert venue.holders(*left) == set(one)
    assert venue.holders(*right) == set(other)
    venue.net.heal()
    venue.until(  # a dial and a heartbeat across, then the forwarding: no gone notice forgotten
        lambda: len(venue.holders(*left)) == len(venue.holders(*right)) == 8,
        limit=2 * CONFIG.heartbeat_interval,
    )


def test_n_minus_one_peers_keep_the_full_mesh_and_get_no_new_fields() -> None:
    venue = Venue(12, legacy=3)
    venue.settle()
    links = venue.net.links()
    legacy = set(names(3))
    for old in legacy:
        assert links[old] == set(venue.net.nodes) - {old}
    assert max(len(p - set(legacy)) for n, p in links.items() if n not in legacy) <= DEGREE
    to_old = [json.loads(data[1:]) for _, receiver, data in venue.heartbeats if receiver in legacy]
    assert to_old
    assert not any({"far", "farc", "gone", "held", "heldc"} & body.keys() for body in to_old)
    to_new = [json.loads(data[1:]) for s, r, data in venue.heartbeats if legacy.isdisjoint((s, r))]
    assert all("farc" in body for body in to_new)  # (arrays: COMPACT_FAR_FEATURE)
    client, clock = venue.write("R001", "from-an-old-node")
    venue.until(lambda: len(venue.holders(client, clock)) == 12, limit=2.0)
    client, clock = venue.write("R012", "from-a-new-node")
    venue.until(lambda: len(venue.holders(client, clock)) == 12, limit=2.0)


def test_far_records_round_trip_and_are_bounded() -> None:
    record = FarRecord("R2", "register", 100, True, False, 12_345, 3, "no console")
    beat = Heartbeat("R1", "register", 100, False, False, 1, far=(record,), gone={"R9": 7})
    assert decode_heartbeat(heartbeat_body(beat)) == beat
    assert b"far" not in heartbeat_body(beat, frozenset())  # an N−1 peer gets none of it
    many = tuple(FarRecord(f"R{i}", "register", 1, False, False, i) for i in range(MAX_FAR + 1))
    for features, field in ((FEATURES, "farc"), (frozenset({TOPOLOGY_FEATURE}), "far")):
        body = heartbeat_body(Heartbeat("R1", "register", 1, False, False, 1, far=many), features)
        with pytest.raises(RemoteProtocolError, match=f"'{field}' must be an object of at most"):
            decode_heartbeat(body)
    previous = frozenset({TOPOLOGY_FEATURE})  # 0485a2d's objects
    bad = heartbeat_body(beat, previous).replace(b'"seq":12345', b'"seq":-1')
    with pytest.raises(RemoteProtocolError, match="field 'far' for 'R2'"):
        decode_heartbeat(bad)


def test_far_records_go_as_arrays_to_peers_that_take_them_and_as_objects_to_0485a2d() -> None:
    records = (
        FarRecord("K1", "kds", 5, False, True, 9, 0, "", 12_345_678_901),
        FarRecord("R2", "register", 100, True, False, 1_764_900_000_068, 3, "no console", 77),
    )
    beat = Heartbeat("R1", "register", 100, False, False, 1, far=records)
    compact = heartbeat_body(beat)
    assert b'"farc"' in compact
    assert b'"far"' not in compact
    assert decode_heartbeat(compact) == beat
    previous = heartbeat_body(beat, frozenset({TOPOLOGY_FEATURE}))  # what 0485a2d takes
    assert b'"far"' in previous
    assert b'"farc"' not in previous
    assert decode_heartbeat(previous) == beat
    assert len(compact) < 0.7 * len(previous)
    row = b'"R2":["register",100,1,0,1764900000068,3,77,"no console"]'
    assert row in compact
    for bad, why in (
        (b'"R2":["register",100,1,0]', "must be an array of"),
        (b'"R2":["register",100,true,0,1764900000068,3,77]', "uplink must be 0 or 1"),
        (b'"R2":["till",100,1,0,1764900000068,3,77]', "field 'role' must be one of"),
        (b'"R2":["register",100,1,0,1764900000068,-3,77]', "field 'pending' must be"),
    ):
        with pytest.raises(RemoteProtocolError, match=why):
            decode_heartbeat(compact.replace(row, bad))


def test_the_relay_tells_the_console_of_nodes_beyond_its_links() -> None:
    def node(name: str, role: str = "register") -> Synchronizer:
        return Synchronizer(
            venue=VENUE,
            node_id=name,
            role=role,
            client_id=sum(map(ord, name)) * 1000 + 7,
            config=CONFIG,
        )

    r1, r2, r3, console = node("R1"), node("R2"), node("R3"), node("console", "console")
    chain = [(r1, r2, *sync_pair(r1, r2, features=FEATURES))]  # R1 - R2 - R3: R1 never meets R3
    chain.append((r2, r3, *sync_pair(r2, r3, features=FEATURES)))
    up = sync_pair(console, r1, features=FEATURES)
    r3.open_doc(DOC).get("sales", type=Map)["s1"] = "x"
    for now in (1.0, 2.0, 3.0, 4.0):
        for sync in (r1, r2, r3, console):
            sync.tick(now)
        for a, b, ka, kb in chain:
            pump(a, ka, b, kb)
        pump(console, up[0], r1, up[1])
    assert r3.pending(DOC) > 0
    assert "R3" not in {s.peer.node for s in r1.sessions.values() if s.peer}
    assert console.presence["R1"].mesh["R3"] == PeerSummary("register", r3.pending(DOC))
    assert "R3" in r1.presence
    assert set(console.presence) == {"R1"}  # the console hears no far records
    assert "console" not in r1.members


def test_a_fault_in_the_tree_floods_instead_of_stopping_the_update(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    venue = Venue(12)
    venue.settle(20.0)

    def broken(*args: object) -> frozenset[str]:
        raise RuntimeError("a bug in the tree")

    monkeypatch.setattr(Synchronizer, "_children_for", broken)
    client, clock = venue.write("R003", "despite-a-bug")
    venue.until(
        lambda: len(venue.holders(client, clock)) == 12, limit=1.0
    )  # not anti-entropy's 5 s
    assert "forwarding along the tree failed; flooding instead" in caplog.text
