"""Synchronizer: forwarding, anti-entropy, write rules and client-id alarms, driven by hand."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map, merge_updates

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.model import Replica, decode_state_vector, encode_state_vector
from meshpos.sync import (
    ClientIdAlarm,
    DocReceived,
    DocumentChanged,
    Hello,
    LocalWriteRefused,
    PeerClosed,
    Session,
    State,
    SyncConfig,
    Synchronizer,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    UpdateRejected,
    decode,
    encode,
)
from meshpos.sync._updates import (
    clear_of_structs_from,
    has_structs_from,
    header_authors,
    split_by_author,
)

from .helpers import VENUE, pump, sync_pair

LEDGER = "ledger/2026-11-01"
KITCHEN = "kitchen/2026-11-01"


def node(name: str, role: str = "register", client_id: int = 0, **config: Any) -> Synchronizer:
    cid = client_id or 1000 + sum(map(ord, name))
    return Synchronizer(
        venue=VENUE, node_id=name, role=role, client_id=cid, config=SyncConfig(**config)
    )


def records(sync: Synchronizer, doc: str, root: str = "payments") -> dict[str, Any]:
    held = sync.docs.get(doc)
    return {} if held is None else dict(held.get(root, type=Map).to_py() or {})


def write(sync: Synchronizer, doc: str, key: str, root: str = "payments") -> bytes:
    updates: list[bytes] = []
    d = sync.open_doc(doc)
    sub = d.observe(lambda e: updates.append(e.update))
    d.get(root, type=Map)[key] = Map({"amount": 500})
    d.unobserve(sub)
    return updates[0]


def raw_peer(sync: Synchronizer, peer_hello: Hello, now: float = 0.0) -> tuple[Session, str]:
    """A hand-driven peer session (to forge what a misbehaving peer would send)."""
    key = f"{peer_hello.node}#raw"
    sync.tick(now)
    sync.connect(key)
    peer = Session(Hello(VENUE, peer_hello.node, peer_hello.role, "x", peer_hello.client_id))
    peer.open()
    flush(sync, key, peer)
    return peer, key


def flush(sync: Synchronizer, key: str, peer: Session) -> None:
    while True:
        moved = False
        for data in sync.data_to_send(key):
            moved = True
            if data:
                peer.receive_data(data)
        for data in peer.data_to_send():
            moved = True
            if data and key in sync.sessions:
                sync.receive_data(key, data)
        if not moved:
            return


def test_initial_sync_and_live_update() -> None:
    a, b = node("r1"), node("r2")
    write(a, LEDGER, "p-before")
    ka, kb = sync_pair(a, b)
    assert a.sessions[ka].state is State.LIVE
    assert records(b, LEDGER) == {"p-before": {"amount": 500.0}}
    write(b, LEDGER, "p-after")
    a.events_received()
    pump(a, ka, b, kb)
    assert set(records(a, LEDGER)) == {"p-before", "p-after"}
    changes = [e for e in a.events_received() if isinstance(e, DocumentChanged)]
    assert changes
    assert all(e.peer == ka for e in changes)


def test_updates_go_to_every_other_peer_but_their_origin() -> None:
    a, b, c = node("r1"), node("r2"), node("r3")
    ka, kb = sync_pair(a, b)
    kb2, kc = sync_pair(b, c)
    a.open_doc(LEDGER)
    pump(a, ka, b, kb)
    pump(b, kb2, c, kc)
    write(a, LEDGER, "p1")
    for data in a.data_to_send(ka):
        b.receive_data(kb, data)
    back_to_a = [decode(d) for d in b.data_to_send(kb)]
    on_to_c = [decode(d) for d in b.data_to_send(kb2)]
    assert not any(isinstance(m, SyncUpdate) for m in back_to_a)
    # b opened the day with that update, so it also asks c for the day (step 1) before forwarding
    assert [type(m) for m in on_to_c if not isinstance(m, SyncStep1)] == [SyncUpdate]
    for data in [encode(m) for m in on_to_c]:
        c.receive_data(kc, data)
    assert set(records(c, LEDGER)) == {"p1"}


def test_anti_entropy_repairs_an_update_stuck_behind_a_missing_predecessor() -> None:
    a, b = node("r1", anti_entropy_interval=5.0), node("r2", anti_entropy_interval=5.0)
    ka, kb = sync_pair(a, b)
    write(a, LEDGER, "p1")
    lost = a.data_to_send(ka)  # the network loses it
    assert lost
    write(a, LEDGER, "p1")  # overwrites: depends on the lost struct
    for data in a.data_to_send(ka):
        b.receive_data(kb, data)
    assert records(b, LEDGER) == {}  # held back by pycrdt, invisible
    pump(a, ka, b, kb)
    for now in (1.0, 2.0, 3.0, 4.0, 5.0):
        a.tick(now)
        b.tick(now)
        pump(a, ka, b, kb)
    assert records(b, LEDGER) == {"p1": {"amount": 500.0}}
    assert b.docs[LEDGER].get_state() == a.docs[LEDGER].get_state()


def test_kds_may_not_write_the_ledger_and_the_document_stays_unchanged() -> None:
    reg = node("r1")
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    kds_doc: Doc[Any] = Doc(client_id=4242)
    kds_doc.get("payments", type=Map)["forged"] = Map({"amount": 1})
    peer, key = raw_peer(reg, Hello(VENUE, "k1", "kds", "x", 4242))
    reg.events_received()
    peer.send(SyncUpdate(LEDGER, kds_doc.get_update()))
    flush(reg, key, peer)
    rejected = [e for e in reg.events_received() if isinstance(e, UpdateRejected)]
    assert rejected == [UpdateRejected(key, "k1", LEDGER, f"a kds may not write {LEDGER}")]
    assert reg.docs[LEDGER].get_update() == before
    # the kitchen is the kds's to write
    kitchen: Doc[Any] = Doc(client_id=4242)
    kitchen.get("tickets", type=Map)["t1"] = Map({"state": "bumped"})
    peer.send(SyncUpdate(KITCHEN, kitchen.get_update()))
    flush(reg, key, peer)
    assert records(reg, KITCHEN, "tickets") == {"t1": {"state": "bumped"}}


def test_kds_local_ledger_write_is_refused_and_not_sent() -> None:
    reg, kds = node("r1"), node("k1", "kds")
    _kr, kk = sync_pair(reg, kds)
    write(kds, LEDGER, "forged")
    assert LocalWriteRefused(LEDGER, "kds") in kds.events_received()
    assert not any(isinstance(decode(d), SyncUpdate) for d in kds.data_to_send(kk))
    assert records(reg, LEDGER) == {}


def test_catalog_flows_from_the_console_through_registers_but_a_register_cannot_author_it() -> None:
    console, relay, other = node("console", "console"), node("r1"), node("r2")
    kc, kr = sync_pair(console, relay)
    kr2, ko = sync_pair(relay, other)
    write(console, "catalog", "espresso", root="products")
    pump(console, kc, relay, kr)
    pump(relay, kr2, other, ko)
    assert set(records(other, "catalog", "products")) == {"espresso"}  # forwarded by a register
    # a register editing the catalog itself: not sent, and refused by peers that know its client id
    write(relay, "catalog", "bogus", root="products")
    assert LocalWriteRefused("catalog", "register") in relay.events_received()
    other.events_received()
    for now in (1.0, 7.0):  # anti-entropy: the relay's step 2 now carries its own struct
        relay.tick(now)
        other.tick(now)
        pump(relay, kr2, other, ko)
    assert set(records(other, "catalog", "products")) == {"espresso"}
    assert any(
        isinstance(e, UpdateRejected) and "authored by a role" in e.reason
        for e in other.events_received()
    )


def test_an_update_under_our_own_client_id_raises_an_alarm() -> None:
    reg = node("r1", client_id=777)
    write(reg, LEDGER, "mine")
    twin: Doc[Any] = Doc(client_id=777)  # another replica that (wrongly) shares our client id
    for i in range(3):  # a twin that wrote more than we did: structs beyond our clock
        twin.get("payments", type=Map)[f"twin{i}"] = Map({"amount": 9})
    before = reg.docs[LEDGER].get_update()
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    peer.send(SyncUpdate(LEDGER, twin.get_update()))
    flush(reg, key, peer)
    events = reg.events_received()
    assert ClientIdAlarm(key, "r2", LEDGER, 777, "in an update") in events
    assert reg.docs[LEDGER].get_update() == before
    # our own update coming back to us is no alarm
    peer.send(SyncUpdate(LEDGER, reg.docs[LEDGER].get_update()))
    flush(reg, key, peer)
    assert not any(isinstance(e, ClientIdAlarm) for e in reg.events_received())


def test_a_peer_announcing_our_client_id_raises_an_alarm_and_is_closed() -> None:
    reg = node("r1", client_id=777)
    _, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 777))
    events = reg.events_received()
    assert ClientIdAlarm(key, "r2", None, 777, "announced in hello") in events
    closed = [e for e in events if isinstance(e, PeerClosed)]
    assert closed
    assert closed[0].error is not None
    assert key not in reg.sessions


def test_step1_for_a_document_we_lack_asks_back_and_opens_it_only_with_content() -> None:
    reg = node("r1")
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 5))
    peer.send(SyncStep1(KITCHEN, b"\x00"))
    flush(reg, key, peer)
    assert KITCHEN not in reg.docs  # a name alone opens nothing
    received = [e.message for e in peer.events_received() if isinstance(e, DocReceived)]
    asked = [m for m in received if isinstance(m, SyncStep1) and m.doc == KITCHEN]
    assert asked, "we ask the peer for what it has"
    peer.send(SyncStep2(KITCHEN, write(node("r3"), KITCHEN, "t1")))
    flush(reg, key, peer)
    assert KITCHEN in reg.docs


def test_documents_can_be_shared_with_the_domain_model() -> None:
    replica_a, replica_b = Replica(), Replica()
    a = Synchronizer(
        venue=VENUE,
        node_id="A",
        role="register",
        client_id=replica_a.client_id,
        doc_factory=replica_a.doc,
    )
    b = Synchronizer(
        venue=VENUE,
        node_id="B",
        role="register",
        client_id=replica_b.client_id,
        doc_factory=replica_b.doc,
    )
    assert a.open_doc(LEDGER) is replica_a.doc(LEDGER)
    b.load(LEDGER, write(node("C"), LEDGER, "p0"))
    assert b.events_received() == []  # loading is neither sent nor reported
    sync_pair(a, b)
    write(a, LEDGER, "p1")
    pump(a, "B#x", b, "A#x")
    assert set(replica_b.doc(LEDGER).get("payments", type=Map).to_py() or {}) == {"p0", "p1"}
    assert set(replica_a.doc(LEDGER).get("payments", type=Map).to_py() or {}) == {"p0", "p1"}
    assert any(isinstance(e, DocumentChanged) and e.peer for e in b.events_received())
    assert [u.local for u in replica_b.take_updates()][-1] is True  # captured (via apply_update)

    stranger = Synchronizer(
        venue=VENUE, node_id="D", role="register", client_id=7, doc_factory=Replica(8).doc
    )
    with pytest.raises(LocalProtocolError, match="client id 8"):
        stranger.open_doc(LEDGER)


def test_json_values_do_not_trip_the_authorship_checks() -> None:
    """pycrdt re-encodes the keys of a JSON-like value in varying order; the checks must not care."""
    doc: Doc[Any] = Doc(client_id=42)
    doc.get("receipts", type=Map)["r1"] = {f"field{i}": i for i in range(12)}
    update = doc.get_update()
    ours = decode_state_vector(doc.get_state())[42]
    for _ in range(50):
        assert not has_structs_from(update, {42: ours})
        assert has_structs_from(update, {42: ours - 1})
        assert not has_structs_from(update, {43: 0})
        assert clear_of_structs_from(update, {42: ours}, [43])
        assert not clear_of_structs_from(update, {42: ours - 1}, [43])


@pytest.mark.parametrize("seed", range(40))
def test_the_one_decode_check_never_clears_what_the_exact_check_finds(seed: int) -> None:
    """``clear_of_structs_from`` may say "maybe" (a client it was not told of) but never clears wrongly,
    and with every client of the update named it agrees exactly with ``has_structs_from``, gaps included."""
    rng = random.Random(seed)
    clients = [11, 12, 13, 14]
    docs: list[Doc[Any]] = [Doc(client_id=c) for c in clients]
    for step in range(rng.randint(1, 30)):
        writer = rng.choice(docs)
        root = writer.get(rng.choice(["payments", "receipts"]), type=Map)
        root[f"k{rng.randint(0, 6)}"] = {"step": step, "note": "x" * rng.randint(0, 20)}
        if rng.random() < 0.3:  # another replica catches up with this one
            other = rng.choice(docs)
            other.apply_update(writer.get_update(other.get_state()))
    whole: Doc[Any] = Doc(client_id=99)
    for doc in docs:
        whole.apply_update(doc.get_update())
    clocks = decode_state_vector(whole.get_state())
    since = {c: rng.randint(0, n) for c, n in clocks.items() if rng.random() < 0.6}
    update = whole.get_update(encode_state_vector(since))  # a diff: may start mid-way, with gaps
    checked = rng.sample(sorted(clocks), rng.randint(1, len(clocks)))
    lower = {c: rng.randint(0, clocks[c] + 1) for c in checked}
    rest = [c for c in clocks if c not in lower]
    named = rng.sample(rest, rng.randint(0, len(rest)))
    exact = has_structs_from(update, lower)
    clear = clear_of_structs_from(update, lower, named)
    if clear:
        assert not exact
    if len(named) == len(rest):
        assert clear is not exact


def test_the_header_names_the_author_of_a_one_author_update_and_no_more() -> None:
    doc: Doc[Any] = Doc(client_id=300)
    doc.get("payments", type=Map)["p1"] = {"amount": 5}
    assert header_authors(doc.get_update()) == frozenset({300})
    other: Doc[Any] = Doc(client_id=301)
    other.apply_update(doc.get_update())
    other.get("payments", type=Map)["p2"] = {"amount": 6}
    assert header_authors(other.get_update()) is None  # two authors: it takes a decode
    assert header_authors(other.get_update(doc.get_state())) == frozenset({301})
    assert header_authors(b"\x00\x00") == frozenset()
    for garbage in (b"", b"\x01", b"\x01\x02", b"\xff\xff"):
        with pytest.raises(RemoteProtocolError, match="update header"):
            header_authors(garbage)


@pytest.mark.parametrize("seed", range(20))
def test_a_diff_split_by_author_is_the_whole_diff(seed: int) -> None:
    rng = random.Random(seed)
    docs: list[Doc[Any]] = [Doc(client_id=c) for c in (21, 22, 23)]
    for step in range(60):
        writer = rng.choice(docs)
        payments = writer.get("payments", type=Map)
        key = f"k{rng.randint(0, 9)}"
        if key in payments and rng.random() < 0.3:
            del payments[key]
        else:
            payments[key] = {"step": step}
        if rng.random() < 0.3:
            other = rng.choice(docs)
            other.apply_update(writer.get_update(other.get_state()))
    source = docs[0]
    for doc in docs[1:]:
        source.apply_update(doc.get_update())
    behind: Doc[Any] = Doc(client_id=99)
    behind.apply_update(rng.choice(docs[1:]).get_update())  # knows part of it
    theirs = decode_state_vector(behind.get_state())
    clocks = decode_state_vector(source.get_state())
    ahead = [c for c, n in clocks.items() if n > theirs.get(c, 0)]
    pieces = split_by_author(source, theirs, ahead, clocks)
    assert all(header_authors(p) is not None and len(header_authors(p) or ()) == 1 for p in pieces)
    whole: Doc[Any] = Doc(client_id=98)
    whole.apply_update(behind.get_update())
    whole.apply_update(source.get_update(behind.get_state()))
    rng.shuffle(pieces)  # any order: a piece whose predecessor is later waits for it inside pycrdt
    for piece in pieces:
        behind.apply_update(piece)
    assert behind.get_state() == whole.get_state() == source.get_state()
    expected = source.get("payments", type=Map).to_py()
    assert behind.get("payments", type=Map).to_py() == whole.get("payments", type=Map).to_py()
    assert behind.get("payments", type=Map).to_py() == expected


def test_an_update_a_register_forwards_for_a_kds_is_refused_by_its_header() -> None:
    reg = node("r1")
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    _kds, _ = raw_peer(reg, Hello(VENUE, "k1", "kds", "x", 4242))  # now 4242 is known as a kds
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    forged: Doc[Any] = Doc(client_id=4242)
    forged.get("payments", type=Map)["forged"] = Map({"amount": 1})
    assert header_authors(forged.get_update()) == frozenset({4242})
    peer.send(SyncUpdate(LEDGER, forged.get_update()))
    flush(reg, key, peer)
    rejected = [e for e in reg.events_received() if isinstance(e, UpdateRejected)]
    assert [e.reason for e in rejected] == [
        "carries changes authored by a role that may not write it"
    ]
    assert reg.docs[LEDGER].get_update() == before


def test_an_update_whose_header_reads_but_body_does_not_changes_nothing() -> None:
    reg = node("r1")
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    real: Doc[Any] = Doc(client_id=888)
    for i in range(20):
        real.get("payments", type=Map)[f"p{i}"] = {"amount": i}
    update = real.get_update()
    assert header_authors(update[: len(update) // 2]) == frozenset({888})
    peer.send(SyncUpdate(LEDGER, update[: len(update) // 2]))
    flush(reg, key, peer)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    assert "sync update: not a valid Yjs update" in closed.reason
    assert reg.docs[LEDGER].get_update() == before


@pytest.mark.parametrize("kind", [SyncUpdate, SyncStep2])
@pytest.mark.parametrize("doc", [LEDGER, KITCHEN])
def test_an_update_pycrdt_cannot_decode_closes_the_session_and_changes_nothing(
    kind: type[SyncUpdate] | type[SyncStep2], doc: str
) -> None:
    reg = node("r1")
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    peer.send(kind(doc, b"\xff\xff"))
    flush(reg, key, peer)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    what = "sync update" if kind is SyncUpdate else "sync step 2 update"
    assert f"{what}: not a valid Yjs update" in closed.reason
    assert closed.error is not None
    assert key not in reg.sessions
    assert reg.docs[LEDGER].get_update() == before
    assert KITCHEN not in reg.docs  # nothing opened for it either


def test_a_document_opened_through_the_factory_hook_is_observed_once() -> None:
    """A shared Replica's on_open hook re-enters open_doc; the change must still be reported once."""

    replica = Replica(client_id=7)
    sync = Synchronizer(
        venue="v", node_id="A", role="register", client_id=7, doc_factory=replica.doc
    )

    def hook(name: str) -> None:
        sync.open_doc(name)

    replica.on_open = hook
    sync.open_doc("ledger/2025-11-25")
    replica.doc("ledger/2025-11-25").get("x", type=Map)["k"] = 1
    changed = [e for e in sync.events_received() if isinstance(e, DocumentChanged)]
    assert len(changed) == 1


@pytest.mark.parametrize("full_mesh", [True, False])
def test_a_received_update_is_forwarded_only_to_peers_its_source_does_not_reach(
    full_mesh: bool,
) -> None:
    """In a full mesh every node hears the writer directly: forwarding would only multiply traffic
    (25 copies per update at 6 nodes). In a line a - b - c, b must pass a's update on to c."""
    a, b, c = node("r1"), node("r2"), node("r3")
    pairs = [(a, b), (b, c)] + ([(a, c)] if full_mesh else [])
    links = [(x, y, *sync_pair(x, y)) for x, y in pairs]
    for now in (0.0, 1.0, 2.0):  # heartbeats tell everyone who is linked with whom
        for n in (a, b, c):
            n.tick(now)
        for x, y, kx, ky in links:
            pump(x, kx, y, ky)
    kb_a = next(ky for x, y, _, ky in links if x is a and y is b)
    kb_c = next(kx for x, y, kx, _ in links if x is b and y is c)
    write(a, LEDGER, "p1")
    for data in a.data_to_send(next(kx for x, y, kx, _ in links if x is a and y is b)):
        b.receive_data(kb_a, data)
    forwarded = [m for m in (decode(d) for d in b.data_to_send(kb_c)) if isinstance(m, SyncUpdate)]
    assert len(forwarded) == (0 if full_mesh else 1)


def test_updates_out_of_their_authors_order_are_left_out_and_catch_ups_noted() -> None:
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c)
        for n, c in (("A", 11), ("B", 22))
    )
    ka, kb = sync_pair(a, b)
    day = "ledger/2026-03-01"
    a.open_doc(day)
    pump(a, ka, b, kb)
    source: Doc[Any] = Doc(client_id=22)
    updates = []
    for key in ("r1", "r2"):
        before = source.get_state()
        source.get("receipts", type=Map)[key] = key
        updates.append(source.get_update(before))

    def deliver(update: bytes) -> None:
        b.sessions[kb].send(SyncUpdate(day, update))
        pump(a, ka, b, kb)

    deliver(updates[1])  # ahead of its author's order: left out (tests/sync/test_sync_order.py)
    assert a.reordered(day) is None
    assert set(a.docs[day].get("receipts", type=Map).keys()) == set()
    deliver(updates[0])
    deliver(updates[1])  # in order now (what the peer's step 2 would carry)
    assert set(a.docs[day].get("receipts", type=Map).keys()) == {"r1", "r2"}
    assert a.reordered(day) is None
    before = source.get_state()
    source.get("receipts", type=Map)["r3"] = "r3"
    deliver(source.get_update(before))  # in order: nothing to note
    assert a.reordered(day) is None
    other: Doc[Any] = Doc(client_id=33)
    other.get("receipts", type=Map)["r4"] = "r4"
    other.apply_update(source.get_update())
    deliver(other.get_update())  # several authors, but only one brings anything: in its order
    assert a.reordered(day) is None
    assert set(a.docs[day].get("receipts", type=Map).keys()) == {"r1", "r2", "r3", "r4"}
    other.get("receipts", type=Map)["r5"] = "r5"
    before = source.get_state()
    source.get("receipts", type=Map)["r6"] = "r6"
    other.apply_update(source.get_update(before))
    deliver(other.get_update())  # several authors bring something, held whole in their order
    assert a.reordered(day) is None
    source.get("receipts", type=Map)["r7"] = "r7"
    skipped = source.get_state()
    source.get("receipts", type=Map)["r8"] = "r8"
    third: Doc[Any] = Doc(client_id=44)
    third.get("receipts", type=Map)["r9"] = "r9"
    # several authors, one of them past a hole (r8 without r7): maybe, nothing to wait for
    deliver(merge_updates(source.get_update(skipped), third.get_update()))
    assert a.reordered(day) is False
