"""A received update's bookkeeping (issue 18, receive2): the document's state vector is read before
every update (its authors' clocks decide whether and how it is applied); its parse is derived from
the last one when one clock moved, never parsed whole per update, and always equal to a fresh parse.
Counts, not time; driven by hand or by the in-memory network (no sleeps)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.model import decode_state_vector
from meshpos.model.replica import encode_state_vector
from meshpos.sync import Synchronizer, SyncUpdate
from meshpos.sync import _exchange as exchange
from meshpos.sync import _updates as updates
from meshpos.sync._config import SyncConfig
from meshpos.sync._states import EXCHANGING
from meshpos.sync._topology import DEGREE, TOPOLOGY_FEATURE
from meshpos.sync.memory import Faults, MemoryNetwork

from .helpers import VENUE, pump, sync_pair

DAY = "ledger/2026-03-01"


def counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    parsed: list[bytes] = []
    parse = updates._parse_state

    def counted(state: bytes) -> dict[int, int]:
        parsed.append(state)
        return parse(state)

    monkeypatch.setattr(updates, "_parse_state", counted)
    return parsed


def checking_states(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every state the receiving side reads is checked against a fresh decode of its bytes."""
    checked: list[int] = []
    held_state = updates.held_state

    def checked_state(doc: Doc[Any]) -> tuple[bytes, Any]:
        state, clocks = held_state(doc)
        fresh = decode_state_vector(doc.get_state())
        assert state == doc.get_state()
        assert dict(clocks) == fresh
        assert list(clocks) == list(fresh)
        checked.append(len(fresh))
        return state, clocks

    monkeypatch.setattr(exchange, "held_state", checked_state)
    return checked


def test_live_updates_into_a_day_of_many_writers_parse_no_state_vector_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A day written by 30 devices, then one of them sells: each update X takes moves one clock, and
    its state vector's parse is derived from the last one (before: one whole parse per update)."""
    x = Synchronizer(venue=VENUE, node_id="X", role="register", client_id=1001)
    p = Synchronizer(venue=VENUE, node_id="P", role="register", client_id=1002)
    x.open_doc(DAY)
    xp, px = sync_pair(x, p)
    writers: list[Doc[Any]] = [Doc(client_id=5000 + 7919 * i) for i in range(30)]
    for i, writer in enumerate(writers):
        writer.get("shifts", type=Map)[f"s{i}"] = "open"
        p.sessions[px].send(SyncUpdate(DAY, writer.get_update()))
    pump(p, px, x, xp)
    x.events_received()
    seller = writers[0]
    seller.apply_update(x.docs[DAY].get_update())
    updates.held_clocks(x.docs[DAY])  # the day as it stands (the last writer: a new client)
    parsed = counting_parses(monkeypatch)
    checked = checking_states(monkeypatch)
    for k in range(40):
        before = seller.get_state()
        seller.get("orders", type=Map)[f"o{k}"] = "x" * (k * 9)  # clocks past 127, 16383: longer
        p.sessions[px].send(SyncUpdate(DAY, seller.get_update(before)))
        pump(p, px, x, xp)
        x.events_received()
    assert decode_state_vector(x.docs[DAY].get_state()) == decode_state_vector(seller.get_state())
    assert len(checked) == 40
    assert set(checked) == {30}
    assert parsed == []


def test_a_derived_parse_equals_a_fresh_one_or_is_not_made() -> None:
    """Seeded: state vectors with one clock moved (across var-uint lengths), several moved, a client
    added, entries in another order, cut short: whatever is derived equals a fresh parse."""
    rng = random.Random(18)
    derived = declined = 0
    for _ in range(4000):
        clients = [
            rng.getrandbits(rng.choice((3, 7, 14, 32, 53))) for _ in range(rng.randint(0, 6))
        ]
        last = {c: rng.choice((0, 1, 127, 128, 16383, rng.getrandbits(21))) for c in clients}
        state = dict(last)
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            if state and rng.random() < 0.8:
                state[rng.choice(list(state))] = rng.choice(
                    (0, 127, 128, 16384, rng.getrandbits(20))
                )
            else:
                state[rng.getrandbits(30)] = rng.randint(0, 500)
        if rng.random() < 0.1:
            items = list(state.items())
            rng.shuffle(items)
            state = dict(items)
        a, b = encode_state_vector(last), encode_state_vector(state)
        if rng.random() < 0.05:
            b = b[: rng.randint(0, len(b))]
        updates._HELD.clear()
        updates._parse_state(a)
        found = updates._derive(a, b)
        if found is None:
            declined += 1
            continue
        derived += 1
        assert updates._HELD[b] is found
        updates._HELD.clear()
        fresh = updates._parse_state(b)
        assert found == fresh == state
        assert list(found) == list(fresh)
    assert derived > 1000
    assert declined > 100


def test_states_read_in_a_reordering_mesh_equal_a_fresh_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four writers in a mesh that drops, duplicates and reorders: every state the receiving side
    reads (and so every decision taken on it: in order or ahead, reordered, past a hole) is the one a
    fresh parse gives."""
    checked = checking_states(monkeypatch)
    net = MemoryNetwork(
        random.Random(5), faults=Faults(drop=0.05, duplicate=0.1, reorder=0.3, jitter=0.01)
    )
    nodes = [
        Synchronizer(venue=VENUE, node_id=f"N{i}", role="register", client_id=2000 + i)
        for i in range(6)
    ]
    for node in nodes:
        net.add(node)
        node.open_doc(DAY)
    net.advance(2.0)
    rng = random.Random(6)
    for k in range(120):
        writer = nodes[rng.randrange(4)]
        writer.docs[DAY].get("orders", type=Map)[f"o{k}"] = "x" * rng.randint(1, 200)
        net.pump(writer.node_id)
        net.advance(0.01, step=0.01)
    net.faults = Faults()
    net.advance(40.0)
    states = {node.docs[DAY].get_state() for node in nodes}
    clocks = [decode_state_vector(state) for state in states]
    assert all(c == clocks[0] for c in clocks)
    assert len(checked) > 400


def device(i: int, degree: int) -> Synchronizer:
    return Synchronizer(
        venue=VENUE,
        node_id=f"N{i}",
        role="register",
        client_id=3000 + i,
        config=SyncConfig(degree=degree),
    )


def mesh(
    count: int, seed: int, faults: Faults | None = None, degree: int = DEGREE
) -> tuple[MemoryNetwork, list[Any]]:
    net = MemoryNetwork(random.Random(seed), faults=faults or Faults())
    nodes = [device(i, degree) for i in range(count)]
    for node in nodes:
        net.add(node)
        node.open_doc(DAY)
    net.advance(3.0)
    return net, nodes


def write(net: MemoryNetwork, node: Synchronizer, key: str) -> None:
    node.docs[DAY].get("orders", type=Map)[key] = "x"
    net.pump(node.node_id)
    net.advance(0.01, step=0.01)


def test_a_forwarded_update_asks_the_graph_nothing_once_its_answer_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten devices, one sells: where an update goes on from a node (its children in its author's
    tree) is the same for every update of that author from that source while the membership stays,
    so the graph and the client table are not consulted per update (before: each, every time)."""
    net, nodes = mesh(10, 3)
    seller = nodes[0]
    write(net, seller, "warm-up")
    net.advance(0.5)
    asked: list[str] = []
    inside = [False]
    targets, graph, clients = (
        Synchronizer._sends_of,
        Synchronizer._graph,
        Synchronizer._client_nodes,
    )

    def tree_targets(self: Synchronizer, *args: Any) -> Any:
        inside[0] = True
        try:
            return targets(self, *args)
        finally:
            inside[0] = False

    def counted(name: str, method: Any) -> Any:
        def call(self: Synchronizer) -> Any:
            if inside[0]:
                asked.append(name)
            return method(self)

        return call

    monkeypatch.setattr(Synchronizer, "_sends_of", tree_targets)
    monkeypatch.setattr(Synchronizer, "_graph", counted("graph", graph))
    monkeypatch.setattr(Synchronizer, "_client_nodes", counted("clients", clients))
    forwarded = net.stats.sent
    for k in range(30):
        write(net, seller, f"o{k}")
    net.advance(0.5)
    assert net.stats.sent - forwarded >= 30 * 9  # every device got every update
    for node in nodes[1:]:
        assert node.docs[DAY].get_state() == seller.docs[DAY].get_state()
    assert asked == []


def fresh_children(
    sync: Synchronizer, source: str, authors: frozenset[int] | None, live: list[Any]
) -> frozenset[str] | None:
    """``_children_for`` as it was computed per update (nothing kept but the graph's own caches)."""
    if authors is None or len(authors) != 1:
        return None
    origin = sync._client_nodes().get(next(iter(authors)))
    if origin is None or origin == sync.node_id:
        return None
    parent, children = sync._place_in_tree(sync._graph(), origin)
    if parent != source:
        return None
    linked = {s.peer.node for s in live if s.peer is not None}
    return children if children <= linked else None


def test_kept_forwarding_answers_equal_fresh_ones_while_the_mesh_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded: ten devices in a ring (deep trees) writing while the network reorders and
    duplicates, a device crashes, another joins, a partition heals: every answer of where an update
    goes on is the one computed afresh at that moment, and every device ends with every write.
    (Checked outside the observer: ``_choose_sends`` turns an error into a flood.) The sessions an
    update goes to, kept per (origin, author) (``_sends_of``), are those chosen afresh too."""
    answers: list[frozenset[str] | None] = []
    wrong: list[tuple[str, str, object, object]] = []
    children_for = Synchronizer._children_for
    sends = checking_sends(monkeypatch)

    def checked(
        self: Synchronizer, source: str, authors: frozenset[int] | None, live: list[Any]
    ) -> frozenset[str] | None:
        found = children_for(self, source, authors, live)
        fresh = fresh_children(self, source, authors, live)
        if found != fresh:
            wrong.append((self.node_id, source, found, fresh))
        answers.append(found)
        return found

    monkeypatch.setattr(Synchronizer, "_children_for", checked)
    net, _ = mesh(10, 11, Faults(duplicate=0.05, reorder=0.2, jitter=0.005), degree=2)
    rng = random.Random(12)
    for k in range(150):
        write(net, rng.choice(list(net.nodes.values())), f"o{k}")
        if k == 40:
            net.crash("N5")
        elif k == 60:
            newcomer = device(10, 2)
            net.add(newcomer)
            newcomer.open_doc(DAY)
        elif k == 80:
            net.partition(["N0", "N1", "N2", "N3", "N4"], ["N6", "N7", "N8", "N9", "N10"])
        elif k == 110:
            net.heal()
        if k % 10 == 0:
            net.advance(0.5)
    net.faults = Faults()
    net.advance(60.0)
    held = [decode_state_vector(n.docs[DAY].get_state()) for n in net.nodes.values()]
    assert all(h == held[0] for h in held)
    assert sum(held[0].values()) >= 150
    assert wrong == []
    assert any(a for a in answers)  # children found
    assert None in answers  # and floods
    assert sends.wrong == []
    assert sends.kept > 300  # (660: the seeded run's answers from the kept table)
    assert sends.nowhere > 100
    assert sends.flooded > 100


class _Sends:
    """What :func:`checking_sends` saw: answers from the kept table, those that went nowhere, floods
    (more than one session), and every answer that differs from a fresh choice."""

    def __init__(self) -> None:
        self.kept = self.nowhere = self.flooded = 0
        self.wrong: list[tuple[str, object, object, object]] = []


def checking_sends(monkeypatch: pytest.MonkeyPatch) -> _Sends:
    """Every answer of ``_sends_of`` (kept or not) is checked against a choice made afresh from the
    update's own header, the sessions as they are and the heartbeats' links (``_forward``'s rules
    before the twenty-first session: live sessions but the origin's; a tree child of the author's
    tree when it came from our parent, else every session its source is not linked to)."""
    seen = _Sends()
    forward, sends_of = Synchronizer._forward, Synchronizer._sends_of
    updating: list[bytes] = []

    def forwarding(self: Synchronizer, name: str, update: bytes, origin: str | None) -> None:
        updating.append(update)
        try:
            forward(self, name, update, origin)
        finally:
            updating.pop()

    def checked(self: Synchronizer, origin: str | None, sender: Any, author: int | None) -> Any:
        kept = (origin, author) in self._sends
        found = sends_of(self, origin, sender, author)
        names = {id(session): key for key, session in self._sessions.items()}
        got = sorted(names[id(session)] for session in found)
        fresh = fresh_sends(self, origin, updating[-1])
        if got != fresh:
            seen.wrong.append((self.node_id, origin, got, fresh))
        seen.kept += kept
        seen.nowhere += not got
        seen.flooded += len(got) > 1
        return found

    monkeypatch.setattr(Synchronizer, "_forward", forwarding)
    monkeypatch.setattr(Synchronizer, "_sends_of", checked)
    return seen


def fresh_sends(sync: Synchronizer, origin: str | None, update: bytes) -> list[str]:
    """The sessions (their keys) a change from ``origin`` goes to, chosen afresh."""
    sessions = sync._sessions
    live = [(k, s) for k, s in sessions.items() if k != origin and s.state in EXCHANGING]
    sender = sessions.get(origin) if origin is not None else None
    source = sender.peer.node if sender is not None and sender.peer is not None else None
    children = None
    if source is not None and live:
        children = fresh_children(
            sync, source, updates.header_authors(update), [s for _, s in live]
        )
    beats = {node: beat.peers for node, beat in sync._presence.live.items()}
    chosen = []
    for key, session in live:
        peer = session.peer
        tree = (
            peer is not None
            and peer.role != "console"
            and TOPOLOGY_FEATURE in session.peer_features
        )
        if children is not None and tree:
            assert peer is not None
            if peer.node not in children:
                continue
        elif (
            source is not None
            and peer is not None
            and (peer.node in beats.get(source, ()) or source in beats.get(peer.node, ()))
        ):
            continue
        chosen.append(key)
    return sorted(chosen)
