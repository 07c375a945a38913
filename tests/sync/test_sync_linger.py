"""Taps that may wait (issue 18, coalesce; ``sync/_lingering.py``): a local write's update held while
``linger_until`` is set leaves merged with the ones after it, one message and one apply per peer, when
a write that may not wait comes (at once) or at its deadline (``tick``); with nothing set, every write
leaves alone as before. Counted by hand on real synchronizers, no sleeps."""

from __future__ import annotations

import random
from typing import Any

from pycrdt import Doc, Map

from meshpos.model.replica import decode_state_vector
from meshpos.sync import DocumentChanged, Synchronizer, SyncUpdate, decode
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync.memory import MemoryNetwork
from tests.sync.helpers import VENUE, commit, items_node, sync_pair
from tests.sync.helpers import items as _items

DOC = "stoplist"


def node(name: str, *, early: bool = False) -> Synchronizer:
    return items_node(name, DOC, early=early, client_base=2000)


def write(sync: Synchronizer, key: str, value: str, *, until: float | None = None) -> None:
    sync.linger_until = until
    try:
        sync.docs[DOC].get("items", type=Map)[key] = value
    finally:
        sync.linger_until = None


def updates_in(out: list[bytes]) -> list[SyncUpdate]:
    return [m for m in (decode(d, 2**20) for d in out if d) if isinstance(m, SyncUpdate)]


def pair(*, early: bool = False) -> tuple[Synchronizer, Synchronizer, str, str]:
    a, b = node("A", early=early), node("B")
    ka, kb = sync_pair(a, b)
    commit(a)
    commit(b)
    return a, b, ka, kb


def deliver(src: Synchronizer, key: str, dst: Synchronizer, dkey: str) -> list[SyncUpdate]:
    """Hand what ``src`` sends over; the updates among it."""
    out = src.data_to_send(key)
    for data in out:
        dst.receive_data(dkey, data)
    return updates_in(out)


def applied(sync: Synchronizer) -> int:
    """Changes a peer's updates made on ``sync`` since the last drain (its applies that took)."""
    return sum(1 for e in commit(sync) if isinstance(e, DocumentChanged) and e.peer is not None)


def test_waiting_taps_leave_with_the_next_urgent_one_as_one_update() -> None:
    a, b, ka, kb = pair()
    write(a, "open", "1", until=10.0)
    write(a, "line1", "2", until=10.0)
    write(a, "line2", "3", until=10.0)
    commit(a)
    assert deliver(a, ka, b, kb) == []  # held: committed here, on no other device yet
    assert a.lingering == 3
    write(a, "pay", "4")  # urgent: takes the three with it
    commit(a)
    sent = deliver(a, ka, b, kb)
    assert len(sent) == 1  # one message (before: four)
    assert applied(b) == 1  # one apply on the peer
    assert items(b) == items(a) == {"open": "1", "line1": "2", "line2": "3", "pay": "4"}
    assert a.lingering == 0
    # the merged update is one author's, ours: its echo applies nothing
    b_out = b.data_to_send(kb)
    for data in b_out:
        a.receive_data(ka, data)
    assert applied(a) == 0


def test_a_waiting_tap_leaves_at_its_deadline_without_another_write() -> None:
    a, b, ka, kb = pair()
    a.tick(1.0)
    write(a, "open", "1", until=1.025)
    write(a, "line", "2", until=1.040)
    commit(a)
    assert a.next_deadline() <= 1.025
    a.tick(1.02)
    assert deliver(a, ka, b, kb) == []
    a.tick(1.025)  # the earliest deadline takes everything held
    sent = deliver(a, ka, b, kb)
    assert len(sent) == 1
    assert applied(b) == 1
    assert items(b) == {"open": "1", "line": "2"}
    assert a.linger_due is None


def test_without_linger_every_write_leaves_alone_as_before() -> None:
    a, b, ka, kb = pair()
    write(a, "open", "1")
    write(a, "line", "2")
    commit(a)
    assert len(deliver(a, ka, b, kb)) == 2
    assert applied(b) == 2


def test_a_node_forwarding_before_commit_still_holds_a_tap_until_it_is_committed() -> None:
    a, b, ka, kb = pair(early=True)
    write(a, "open", "1", until=10.0)
    write(a, "pay", "2")
    assert deliver(a, ka, b, kb) == []  # not committed yet: nothing of ours leaves
    commit(a)
    sent = deliver(a, ka, b, kb)
    assert len(sent) == 1
    assert applied(b) == 1
    assert items(b) == {"open": "1", "pay": "2"}


def test_the_merged_update_makes_the_same_document_as_the_taps_one_by_one() -> None:
    a, b, ka, kb = pair()
    write(a, "x", "1", until=10.0)
    a.linger_until = 10.0
    a.docs[DOC].get("items", type=Map).pop("x")  # a line removed again, still waiting
    a.linger_until = None
    write(a, "y", "2", until=10.0)
    write(a, "z", "3")
    commit(a)
    (merged,) = deliver(a, ka, b, kb)
    plain: Doc[Any] = Doc()
    plain.apply_update(a.docs[DOC].get_update())
    fresh: Doc[Any] = Doc()
    fresh.apply_update(merged.update)
    assert fresh.get("items", type=Map).to_py() == plain.get("items", type=Map).to_py()
    assert fresh.get_state() == a.docs[DOC].get_state()


def test_dropping_a_document_sends_what_waits_first() -> None:
    a, b, ka, kb = pair()
    write(a, "open", "1", until=10.0)
    commit(a)
    a.drop_doc(DOC)
    assert len(deliver(a, ka, b, kb)) == 1
    assert items(b) == {"open": "1"}


def mesh_sale(*, linger: bool) -> tuple[int, int, dict[str, dict[str, object]]]:
    """Six registers in the in-memory network; R1 sells once (open, two lines, pay). Update messages
    on the wire and applies that took, over the whole mesh, for that sale; each register's view."""
    rng = random.Random(7)
    carried: list[int] = []
    applies: list[int] = []

    def tap(sender: str, receiver: str, data: bytes) -> None:
        if data[:1] != bytes([HEARTBEAT]) and isinstance(decode(data, len(data) + 1), SyncUpdate):
            carried.append(1)

    def listener(node: str, event: object) -> None:
        if isinstance(event, DocumentChanged) and event.peer is not None:
            applies.append(1)

    net = MemoryNetwork(rng, tap=tap, listener=listener)
    for i in range(1, 7):
        sync = Synchronizer(
            venue=VENUE, node_id=f"R{i}", role="register", client_id=rng.randrange(1, 2**53)
        )
        sync.open_doc(DOC)
        net.add(sync)
    net.advance(12.0)
    carried.clear()
    applies.clear()
    seller = net.nodes["R1"]
    due = net.now + 0.025
    for key in ("open", "line1", "line2"):
        write(seller, key, key, until=due if linger else None)
        net.pump("R1")
    write(seller, "pay", "pay")
    net.pump("R1")
    net.advance(1.0, step=0.01)
    return len(carried), len(applies), {n: items(s) for n, s in net.nodes.items()}


def test_in_the_mesh_a_sale_is_one_update_per_device_not_four() -> None:
    before_messages, before_applies, before_views = mesh_sale(linger=False)
    messages, applies, views = mesh_sale(linger=True)
    assert before_applies == 4 * 5  # four taps, five other devices
    assert applies == 5  # one each
    assert messages * 4 == before_messages  # each tap's path, once
    assert views == before_views
    assert all(
        v == {"open": "open", "line1": "line1", "line2": "line2", "pay": "pay"}
        for v in views.values()
    )


def test_a_held_tap_counts_as_on_this_device_alone() -> None:
    a, b, ka, kb = pair()
    write(a, "pay", "1")
    commit(a)
    deliver(a, ka, b, kb)
    pending = a.pending(DOC)
    write(a, "open", "2", until=10.0)
    commit(a)
    deliver(a, ka, b, kb)
    assert a.pending(DOC) > pending  # not at the console
    mine = a.client_id
    clock = decode_state_vector(a.docs[DOC].get_state())[mine]
    held = a.held_by(DOC).get("B", {})
    assert held.get(mine, 0) < clock  # on no other device


def items(sync: Synchronizer) -> dict[str, object]:
    return _items(sync, DOC)
