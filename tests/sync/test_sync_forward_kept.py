"""Where a received update goes on, decided once per change of what the choice reads, not per update
(issue 18, forward; ``sync/_forwarding.py``). Counts, not time; driven by the in-memory network or by
hand (no sleeps). ``test_sync_receive_bookkeeping`` checks every kept answer against a fresh one
while a mesh changes."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map, merge_updates

from meshpos.sync import Synchronizer, SyncUpdate, decode
from meshpos.sync import _updates as updates

from .helpers import VENUE, pump, sync_pair
from .test_sync_receive_bookkeeping import DAY, mesh, write


def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Calls, on every node, of what a choice of sessions reads per live session (``_in_tree``,
    ``_linked``) and of the header reader while ``_forward`` runs (``_apply`` read it already)."""
    counts = {"in_tree": 0, "linked": 0, "header_in_forward": 0}
    forwarding = [False]
    forward, in_tree, linked = (
        Synchronizer._forward,
        Synchronizer._in_tree,
        Synchronizer._linked,
    )
    header = updates._header

    def counted_forward(self: Synchronizer, *args: Any) -> None:
        forwarding[0] = True
        try:
            forward(self, *args)
        finally:
            forwarding[0] = False

    def counted_in_tree(self: Synchronizer, *args: Any) -> bool:
        counts["in_tree"] += 1
        return in_tree(self, *args)

    def counted_linked(self: Synchronizer, *args: Any) -> bool:
        counts["linked"] += 1
        return linked(self, *args)

    def counted_header(update: bytes) -> tuple[int, int, int]:
        counts["header_in_forward"] += forwarding[0]
        return header(update)

    monkeypatch.setattr(Synchronizer, "_forward", counted_forward)
    monkeypatch.setattr(Synchronizer, "_in_tree", counted_in_tree)
    monkeypatch.setattr(Synchronizer, "_linked", counted_linked)
    monkeypatch.setattr(updates, "_header", counted_header)
    return counts


def test_in_a_venue_of_six_a_received_update_goes_nowhere_without_a_look_at_each_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six devices (a full mesh: every node is its author's child, so none passes an update on), one
    sells 30 times: each receiver knows from what it kept that the update goes nowhere (before: its
    live sessions, its tree targets and a skip per link, and its header read again, every update)."""
    net, nodes = mesh(6, 5)
    seller = nodes[0]
    write(net, seller, "warm-up")
    net.advance(0.5)
    counts = counting(monkeypatch)
    sent = net.stats.sent
    for k in range(30):
        write(net, seller, f"o{k}")
    net.advance(0.2)
    for node in nodes[1:]:
        assert node.docs[DAY].get_state() == seller.docs[DAY].get_state()
    assert net.stats.sent - sent <= 30 * 5 + 6 * 5  # the seller's to each; a beat each at most
    assert counts == {"in_tree": 0, "linked": 0, "header_in_forward": 0}


def updates_to(sync: Synchronizer, key: str) -> list[bytes]:
    """The updates ``sync`` has for the session ``key`` (drained)."""
    found = []
    for data in sync.data_to_send(key):
        message = decode(data, 2**20) if data else None
        if isinstance(message, SyncUpdate):
            found.append(message.update)
    return found


def two_authors(key: str, first: int) -> bytes:
    """An update of two new writers nobody linked knows (a catch-up's shape: flooded, never a
    tree's)."""
    a: Doc[Any] = Doc(client_id=first)
    b: Doc[Any] = Doc(client_id=first + 1)
    a.get("orders", type=Map)[key] = "a"
    b.get("orders", type=Map)[key + "b"] = "b"
    return merge_updates(a.get_update(), b.get_update())


def test_a_kept_answer_follows_a_peers_heartbeat_naming_a_new_link() -> None:
    """X is linked to P and Q (peers of the release before: every update floods, but not to a peer
    its source is linked to, as their heartbeats say). P sends X catch-ups; once P's heartbeat says
    it is linked to Q, X stops passing P's updates to Q, though nothing else changed at X."""
    x, p, q = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c)
        for n, c in (("X", 1001), ("P", 1002), ("Q", 1003))
    )
    for node in (x, p, q):
        node.open_doc(DAY)
    xp, px = sync_pair(x, p)
    xq, qx = sync_pair(x, q)
    for now in (1.5, 3.0):  # heartbeats both ways: P's and Q's links as they are (X only)
        for node in (x, p, q):
            node.tick(now)
        pump(x, xp, p, px)
        pump(x, xq, q, qx)
    updates_to(x, xq)

    def from_p(key: str, first: int) -> None:
        p.sessions[px].send(SyncUpdate(DAY, two_authors(key, first)))
        for data in p.data_to_send(px):
            x.receive_data(xp, data)

    from_p("one", 7001)
    assert len(updates_to(x, xq)) == 1  # P is not linked to Q: X passes it on
    sync_pair(p, q)  # P and Q link; X hears of it only from P's next heartbeat
    from_p("two", 7003)
    assert len(updates_to(x, xq)) == 1  # (still so for all X knows)
    p.tick(4.5)
    pump(x, xp, p, px)  # P's heartbeat: linked to X and Q
    assert set(x._presence.live["P"].peers) == {"X", "Q"}
    from_p("three", 7005)
    assert updates_to(x, xq) == []  # P sends it to Q itself
    assert "three" in x.docs[DAY].get("orders", type=Map)


def test_a_hello_after_its_session_was_added_names_its_client() -> None:
    """The client table (CRDT client id -> node: whose tree an update follows) was kept while the far
    records and the number of sessions stayed, so a hello that came after its session was added
    (always: a session is added, then says hello) was missing until the far records moved, and that
    author's updates were flooded. It follows the sessions' states now (``Session.moves``)."""
    a = Synchronizer(venue=VENUE, node_id="A", role="register", client_id=3001)
    b = Synchronizer(venue=VENUE, node_id="B", role="register", client_id=3002)
    a.tick(0.0)
    b.tick(0.0)
    ka, kb = "B#x", "A#x"
    a.connect(ka)
    b.connect(kb)
    assert 3002 not in a._client_nodes()  # (no hello yet: read, and kept, without it)
    pump(a, ka, b, kb)
    assert a.sessions[ka].peer is not None
    assert a._client_nodes().get(3002) == "B"
