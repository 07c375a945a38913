"""Closed business days in the synchronizer, on the in-memory network: peers that hold the same day
agree it is closed, content a peer lacks or sends reopens it, the write rules still hold, parking is
bounded, and a closed day costs no step 1 and no heartbeat field (meshpos/sync/_closed.py). A peer can
make a node open only its share of closed days (the reopen budget): what is past it is deferred, counted
and comes again with anti-entropy, so a late update still arrives everywhere.

The nodes' "store" here is a dict: a day's update kept at close, handed back when ``ReopenWanted`` asks.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.errors import LocalProtocolError
from meshpos.model.replica import decode_state_vector
from meshpos.store import EMPTY_UPDATE
from meshpos.sync import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Allowance,
    ClosedDayDeferred,
    Heartbeat,
    ReopenBudget,
    ReopenWanted,
    SyncConfig,
    SyncEvent,
    Synchronizer,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    UpdateRejected,
    decode,
)
from meshpos.sync._closed import MAX_PARKED_BYTES
from meshpos.sync._messages import Digest
from meshpos.sync._updates import EMPTY_STATE_VECTOR
from meshpos.sync.memory import MemoryNetwork

from .helpers import VENUE, pump, sync_pair

DAY = "ledger/2026-03-01"
OTHER = "stoplist"  # an open document: proves anti-entropy ran
CONFIG = SyncConfig.paced(0.5, DEFAULT_MAX_MESSAGE_SIZE)  # as nodes pace it, twice as fast


class Mesh:
    """Synchronizers on a MemoryNetwork; each keeps its closed days' content as a store would, and
    reopens a day when asked (unless ``hold`` says its store is slow)."""

    def __init__(self, seed: int = 3, config: SyncConfig = CONFIG) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.net = MemoryNetwork(self.rng, listener=self._on_event, tap=self._on_wire)
        self.stored: dict[tuple[str, str], bytes] = {}
        self.wanted: list[tuple[str, str]] = []
        self.rejected: list[tuple[str, UpdateRejected]] = []
        self.hold: set[str] = set()  # nodes that do not reopen (yet)
        self.sent: Counter[tuple[str, str, str]] = Counter()  # (sender, message kind, doc)
        self.beats: list[Heartbeat] = []
        self.deferred: list[tuple[str, ClosedDayDeferred]] = []

    def add(self, name: str, role: str = "register", client_id: int = 0) -> Synchronizer:
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role=role,
            client_id=client_id or self.rng.randrange(1, 2**53),
            config=self.config,
        )
        self.net.add(sync)
        return sync

    def node(self, name: str) -> Synchronizer:
        return self.net.nodes[name]

    def write(self, name: str, key: str, value: Any, doc: str = DAY) -> None:
        self.node(name).open_doc(doc).get("receipts", type=Map)[key] = value
        self.net.pump(name)

    def keys(self, name: str, doc: str = DAY) -> set[str]:
        return set(self.node(name).docs[doc].get("receipts", type=Map).keys())

    def close(self, name: str, doc: str = DAY) -> None:
        sync = self.node(name)
        self.stored[(name, doc)] = sync.docs[doc].get_update()
        sync.close_doc(doc)

    def reopen(self, name: str, doc: str = DAY) -> None:
        self.node(name).reopen(doc, self.stored.pop((name, doc)))
        self.net.pump(name)

    def _on_event(self, node: str, event: SyncEvent) -> None:
        if isinstance(event, ReopenWanted):
            self.wanted.append((node, event.doc))
            if node not in self.hold:
                self.reopen(node, event.doc)
        elif isinstance(event, UpdateRejected):
            self.rejected.append((node, event))
        elif isinstance(event, ClosedDayDeferred):
            self.deferred.append((node, event))

    def _on_wire(self, sender: str, receiver: str, data: bytes) -> None:
        message = decode(data)
        if isinstance(message, SyncStep1 | SyncStep2 | SyncUpdate):
            self.sent[(sender, type(message).__name__, message.doc)] += 1
        elif isinstance(message, Digest):
            for name, _ in message.hashes:
                self.sent[(sender, "Digest", name)] += 1
        elif isinstance(message, Heartbeat) and message.node == sender:
            self.beats.append(message)


def three_nodes(config: SyncConfig = CONFIG, days: tuple[str, ...] = (DAY,)) -> Mesh:
    """A, B and C holding ``days`` (receipt r0 in each) and the stop list."""
    m = Mesh(config=config)
    for name in ("A", "B", "C"):
        m.add(name)
    for name in m.net.nodes:
        m.node(name).open_doc(OTHER)
    m.net.advance(0.5)
    for day in days:
        m.write("A", "r0", "receipt 0", day)
    m.net.advance(0.5)
    assert all(m.keys(n, day) == {"r0"} for n in ("A", "B", "C") for day in days)
    return m


@pytest.fixture
def mesh() -> Mesh:
    return three_nodes()


def test_a_day_closed_on_one_node_and_open_with_the_same_content_elsewhere_stays_closed(
    mesh: Mesh,
) -> None:
    mesh.close("A")
    mesh.sent.clear()
    mesh.net.advance(5.0)  # several anti-entropy rounds
    assert mesh.node("A").closed_docs == {DAY}
    assert mesh.wanted == []
    assert mesh.sent[("B", "SyncStep1", DAY)] > 0  # B keeps asking, as for any open day...
    assert mesh.sent[("A", "SyncStep2", DAY)] > 0  # ...and A answers with its deletions
    assert mesh.sent[("A", "SyncStep1", DAY)] == 0  # a closed day costs A no step 1
    assert mesh.sent[("A", "Digest", OTHER)] > 0  # (anti-entropy ran: by digest, OTHER in sync)
    assert mesh.sent[("A", "Digest", DAY)] == 0  # (nor a place in A's digests)
    assert mesh.keys("B") == {"r0"}


def test_a_day_closed_everywhere_is_in_no_heartbeat_message_or_held_by(mesh: Mesh) -> None:
    a = mesh.node("A")
    a.set_uplink(True)  # A relays: it passes on what the console holds
    mesh.net.advance(3.0)
    assert a.is_relay
    a.set_console_state(DAY, {1: 1})
    mesh.write("A", "r1", "receipt 1")  # something of A's the console lacks: pending
    mesh.net.advance(2.0)
    assert any(DAY in b.console and DAY in b.pending for b in mesh.beats if b.node == "A")
    assert a.held_by(DAY)
    for name in ("A", "B", "C"):  # every node closes it: no one asks for it any more
        mesh.close(name)
    mesh.beats.clear()
    mesh.sent.clear()
    mesh.net.advance(2 * CONFIG.anti_entropy_interval)
    assert {b.node for b in mesh.beats} == {"A", "B", "C"}
    assert all(DAY not in b.console and DAY not in b.pending for b in mesh.beats)
    assert not [sent for sent in mesh.sent if sent[2] == DAY]  # nor any sync message
    assert a.held_by(DAY) == {}
    assert a.pending(DAY) == 0
    with pytest.raises(LocalProtocolError, match="closed"):
        a.open_doc(DAY)  # the node must reopen it from its store, never start it empty
    with pytest.raises(LocalProtocolError, match="business day"):
        a.close_doc(OTHER)


def test_a_peer_missing_data_reopens_the_day_and_gets_it(mesh: Mesh) -> None:
    mesh.net.partition(["A", "C"], ["B"])
    mesh.write("A", "r1", "receipt 1")
    mesh.net.advance(0.5)
    mesh.close("A")
    mesh.close("C")
    mesh.net.heal()
    mesh.net.advance(3.0)
    assert ("A", DAY) in mesh.wanted or ("C", DAY) in mesh.wanted
    assert mesh.keys("B") == {"r0", "r1"}


def test_a_late_update_reopens_the_day_everywhere(mesh: Mesh) -> None:
    mesh.close("A")
    mesh.close("C")
    mesh.net.cut("B", "C")  # B reaches C only through A
    mesh.net.advance(0.5)
    mesh.write("B", "late", "a register back after days offline")
    mesh.net.advance(3.0)
    assert mesh.wanted[0] == ("A", DAY)  # A got it from B...
    assert ("C", DAY) in mesh.wanted  # ...and forwarded it to C, which had it closed too
    for name in ("A", "B", "C"):
        assert mesh.keys(name) == {"r0", "late"}
    assert mesh.rejected == []


def test_a_forbidden_authors_update_for_a_closed_day_is_rejected_after_reopening(
    mesh: Mesh,
) -> None:
    kds_client = 424242
    mesh.add("K", role="kds", client_id=kds_client)
    mesh.net.advance(1.0)  # everyone met K: its client id is a kds's
    mesh.net.crash("K")
    mesh.close("A")
    forged: Doc[Any] = Doc(client_id=kds_client)
    forged.get("receipts", type=Map)["forged"] = "a kds may not write the ledger"
    b = mesh.node("B")
    mesh.net.partition(["A", "B"], ["C"])
    b.docs[DAY].apply_update(forged.get_update())  # B passes it on as if it were its own
    mesh.net.pump("B")
    mesh.net.advance(2.0)
    assert ("A", DAY) in mesh.wanted  # it reopened for it...
    assert "forged" not in mesh.keys("A")  # ...and still refused it
    assert any(node == "A" and e.doc == DAY for node, e in mesh.rejected)


def test_parked_updates_are_bounded_and_the_day_still_gets_them_when_it_opens(mesh: Mesh) -> None:
    mesh.hold.add("A")  # A's store is slow: nothing reopens yet
    mesh.close("A")
    mesh.net.cut("B", "C")
    big = "x" * (MAX_PARKED_BYTES // 3)
    for i in range(5):
        mesh.write("B", f"big{i}", big)
        mesh.net.advance(0.2)
    a = mesh.node("A")
    assert mesh.wanted == [("A", DAY)]  # asked once per closed period
    assert a.parked_bytes(DAY) <= MAX_PARKED_BYTES
    assert a.parked_dropped > 0
    mesh.hold.clear()
    mesh.reopen("A")
    mesh.net.advance(2 * CONFIG.anti_entropy_interval)  # what was dropped comes again
    assert mesh.keys("A") == {"r0", *(f"big{i}" for i in range(5))}


def test_a_node_that_missed_the_close_still_learns_the_console_holds_the_day(mesh: Mesh) -> None:
    a, b = mesh.node("A"), mesh.node("B")
    a.set_uplink(True)  # A relays: it speaks for the console
    mesh.net.advance(3.0)
    assert a.is_relay
    mesh.net.partition(["A", "C"], ["B"])  # B is away while the console gets the day
    held = decode_state_vector(a.docs[DAY].get_state())
    a.set_console_state(DAY, held)
    a.set_console_reports(DAY, {"R1": {"receipts": 1}})
    mesh.close("A")
    mesh.close("C")
    assert b.pending(DAY) > 0
    mesh.net.heal()
    mesh.net.advance(CONFIG.anti_entropy_interval + 3 * CONFIG.heartbeat_interval)
    assert a.closed_docs == {DAY}  # B holds the same: nothing reopened...
    assert b.console_state(DAY) == held  # ...and B learns, from the beats to it, that the
    assert b.pending(DAY) == 0  # console holds all of it (it can close it too)
    assert b.console_reports(DAY) == {"R1": {"receipts": 1}}
    assert all(DAY not in beat.console for beat in mesh.beats if beat.node == "C")


def test_an_ask_waiting_when_the_day_closes_is_answered_from_its_summary() -> None:
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c, config=CONFIG)
        for n, c in (("A", 11), ("B", 22))
    )
    ka, kb = sync_pair(a, b)
    a.open_doc(DAY).get("receipts", type=Map)["r0"] = "receipt 0"
    a.open_doc(DAY).get("receipts", type=Map)["r0"] = "receipt 0, again"  # a deletion
    pump(a, ka, b, kb)
    now = 2 * CONFIG.session.reply_interval
    for sync in (a, b):  # the replies waiting so far go out: B holds all of the day
        sync.tick(now)
    pump(a, ka, b, kb)
    ask = SyncStep1(DAY, b.docs[DAY].get_state())
    for _ in range(2):  # the second, at least, comes within the reply interval: it waits
        b.sessions[kb].send(ask)
    for data in b.data_to_send(kb):
        a.receive_data(ka, data)
    assert a.sessions[ka].replies[DAY].waiting == decode_state_vector(ask.state_vector)
    _, deletions = a.close_doc(DAY)
    assert deletions != EMPTY_UPDATE
    a.tick(now + CONFIG.session.reply_interval + 0.01)
    sent = [decode(data) for data in a.data_to_send(ka)]
    assert SyncStep2(DAY, deletions) in sent  # answered as a closed day, nothing reopened
    assert not [e for e in a.events_received() if isinstance(e, ReopenWanted)]
    assert a.closed_docs == {DAY}


# --- the reopen budget: what a peer may make a node open ---------------------------------------------


def closed_days(sync: Synchronizer, count: int) -> dict[str, bytes]:
    """``count`` closed days on ``sync`` (one receipt each): name -> the update its store keeps."""
    stored = {}
    for i in range(count):
        name = f"ledger/2026-01-{i + 1:02}"
        doc: Doc[Any] = Doc(client_id=777)
        doc.get("receipts", type=Map)[f"r{i}"] = f"receipt {i}"
        state_vector = doc.get_state()
        sync.mark_closed(name, state_vector, doc.get_update(state_vector))
        stored[name] = doc.get_update()
    return stored


def ask_all(
    a: Synchronizer, ka: str, b: Synchronizer, kb: str, messages: Sequence[SyncStep1 | SyncUpdate]
) -> tuple[list[SyncEvent], list[Any]]:
    """``b`` sends ``messages`` to ``a`` by hand: a's events and what it sent back."""
    b.data_to_send(kb)
    for message in messages:
        b.sessions[kb].send(message)
    for data in b.data_to_send(kb):
        a.receive_data(ka, data)
    return a.events_received(), [decode(data) for data in a.data_to_send(ka)]


def kinds(events: list[SyncEvent]) -> tuple[list[str], list[ClosedDayDeferred]]:
    wanted = [e.doc for e in events if isinstance(e, ReopenWanted)]
    return wanted, [e for e in events if isinstance(e, ClosedDayDeferred)]


def test_a_peer_asking_for_every_closed_day_opens_only_its_share_the_rest_waits() -> None:
    budget = ReopenBudget(device_rate=Allowance(rate=1.0, burst=4))
    config = dataclasses.replace(CONFIG, reopens=budget)
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c, config=config)
        for n, c in (("A", 11), ("B", 22))
    )
    stored = closed_days(a, 3 * budget.per_device)
    days = sorted(stored)
    ka, kb = sync_pair(a, b)
    a.events_received()
    everything = [SyncStep1(name, EMPTY_STATE_VECTOR) for name in days]  # an empty state vector
    events, sent = ask_all(a, ka, b, kb, everything)
    wanted, deferred = kinds(events)
    share = days[: budget.per_device]
    assert wanted == share
    assert a.opened_for_peers == dict.fromkeys(share, "B")
    assert [e.doc for e in deferred] == days[budget.per_device :]
    assert {(e.node, e.cause) for e in deferred} == {("B", "device")}
    assert "at most 4" in deferred[0].reason
    # a deferred ask gets what the day gives without loading: its deletions (no step 1 back)
    answered = {m.doc for m in sent if isinstance(m, SyncStep2)}
    assert answered == set(days[budget.per_device :])
    assert not [m for m in sent if isinstance(m, SyncStep1) and m.doc in stored]

    for name in share:  # the node opens them (the parked asks are answered), then they close again
        a.reopen(name, stored[name])
        a.close_doc(name)
    assert a.opened_for_peers == {}
    events, _ = ask_all(a, ka, b, kb, everything)
    wanted, deferred = kinds(events)
    assert wanted == []  # four days opened just now: the device's rate
    assert {e.cause for e in deferred} == {"device_rate"}
    for sync in (a, b):
        sync.tick(1.0)  # one more a second
    events, _ = ask_all(a, ka, b, kb, everything)
    wanted, deferred = kinds(events)
    assert len(wanted) == 1
    assert len(deferred) == len(days) - 1


def test_days_opened_for_peers_are_bounded_across_devices_and_parked_bytes_overall() -> None:
    budget = ReopenBudget(at_once=6, per_device=4, parked_bytes=3000)
    config = dataclasses.replace(CONFIG, reopens=budget)
    a = Synchronizer(venue=VENUE, node_id="A", role="register", client_id=11, config=config)
    days = sorted(closed_days(a, 12))
    peers = [
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c, config=config)
        for n, c in (("B", 22), ("C", 33))
    ]
    links = [sync_pair(a, peer) for peer in peers]
    a.events_received()
    big: Doc[Any] = Doc(client_id=22)
    big.get("receipts", type=Map)["late"] = "x" * 1000  # new content for a day: it must open
    update = big.get_update()
    parked = []
    for (ka, kb), peer, mine in zip(links, peers, (days[:4], days[4:8]), strict=True):
        events, _ = ask_all(a, ka, peer, kb, [SyncUpdate(name, update) for name in mine])
        parked.append(kinds(events))
    (b_wanted, b_deferred), (c_wanted, c_deferred) = parked
    assert b_wanted == days[:4]  # B's share
    fit = budget.parked_bytes // len(update)  # what fits in the parked bytes: the rest is not kept
    assert [e.cause for e in b_deferred] == ["parked"] * (4 - fit)
    assert c_wanted == days[4:6]  # only what is left of the six at once
    # two past the six at once; the two C may open find the parked bytes full (they open all the same)
    assert Counter((e.node, e.cause) for e in c_deferred) == {("C", "days"): 2, ("C", "parked"): 2}
    assert len(a.opened_for_peers) == budget.at_once
    assert a.parked_total <= budget.parked_bytes
    assert sum(a.parked_bytes(name) for name in days) == a.parked_total


def holds(mesh: Mesh, name: str, day: str) -> set[str]:
    """The receipts ``name`` holds of ``day``, open or closed (then from what its store keeps)."""
    if not mesh.node(name).is_closed(day):
        return mesh.keys(name, day)
    doc: Doc[Any] = Doc()
    doc.apply_update(mesh.stored[(name, day)])
    return set(doc.get("receipts", type=Map).keys())


def test_late_updates_for_more_days_than_the_budget_still_reach_every_node() -> None:
    budget = ReopenBudget(at_once=1, per_device=1, device_rate=Allowance(rate=10.0, burst=1))
    other = "ledger/2026-03-02"
    mesh = three_nodes(dataclasses.replace(CONFIG, reopens=budget), (DAY, other))
    for name in ("A", "C"):
        for day in (DAY, other):
            mesh.close(name, day)
    mesh.net.cut("B", "C")  # C gets B's late sales only through A
    mesh.net.advance(0.5)
    for day in (DAY, other):
        mesh.write("B", "late", "a register back after days offline", day)
    everywhere = {"r0", "late"}
    for _ in range(10):
        mesh.net.advance(CONFIG.anti_entropy_interval)
        if all(holds(mesh, n, d) == everywhere for n in "AC" for d in (DAY, other)):
            break
        for name in ("A", "C"):  # each node's day closer closes again what it opened
            for day in set(mesh.node(name).docs) & {DAY, other}:
                mesh.close(name, day)
    assert all(holds(mesh, n, d) == everywhere for n in "AC" for d in (DAY, other))
    assert ("A", "days") in {(n, e.cause) for n, e in mesh.deferred}  # one day at a time
    assert mesh.rejected == []


def test_a_flood_of_forbidden_updates_for_closed_days_is_refused_each_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, k = (
        Synchronizer(venue=VENUE, node_id=n, role=r, client_id=c, config=CONFIG)
        for n, r, c in (("A", "register", 11), ("K", "kds", 33))
    )
    days = sorted(closed_days(a, 5))
    ka, kk = sync_pair(a, k)
    a.events_received()
    forged: Doc[Any] = Doc(client_id=33)
    forged.get("receipts", type=Map)["forged"] = "a kds may not write the ledger"
    flood = [SyncUpdate(name, forged.get_update()) for name in days for _ in range(10)]
    with caplog.at_level("WARNING", logger="meshpos.sync"):
        events, _ = ask_all(a, ka, k, kk, flood)
    assert len([e for e in events if isinstance(e, UpdateRejected)]) == len(flood)
    assert not [e for e in events if isinstance(e, ReopenWanted)]  # refused before any opening
    logged = [r.getMessage() for r in caplog.records if "rejected update" in r.getMessage()]
    assert len(logged) == 1  # one line for the device, the kind of document and the reason
    assert a.closed_docs == set(days)
