"""Catch-up from one peer first: a node that comes back asks one peer for the backlog, then the others for
what that one lacked, so it is sent the backlog once instead of once per peer. A backlog written by several
registers comes as one update per author, whose author the receiver reads off its header."""

from __future__ import annotations

from pycrdt import Map

from meshpos.sync import (
    State,
    SyncConfig,
    Synchronizer,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
)
from meshpos.sync._replies import SPLIT_STEP2_CLOCKS
from meshpos.sync._updates import header_authors

from .helpers import VENUE, pump, sync_pair

LEDGER = "ledger/2026-11-01"


def node(name: str) -> Synchronizer:
    return Synchronizer(
        venue=VENUE,
        node_id=name,
        role="register",
        client_id=1000 + sum(map(ord, name)),
        config=SyncConfig(heartbeat_interval=1.0),
    )


def fill(sync: Synchronizer, count: int) -> None:
    payments = sync.open_doc(LEDGER).get("payments", type=Map)
    for k in range(count):
        payments[f"p{k}"] = Map({"amount": 500, "note": "x" * 40})


def step2_bytes(messages: list[bytes]) -> int:
    return sum(len(m.update) for m in map(decode, messages) if isinstance(m, SyncStep2))


def step1_count(messages: list[bytes]) -> int:
    return sum(isinstance(m, SyncStep1) for m in map(decode, messages))


def both_say_hello() -> tuple[Synchronizer, Synchronizer, Synchronizer]:
    """A and B hold 300 payments; C has today's ledger open but empty (it was offline all day) and
    has both hellos before any reply."""
    a, b, c = node("A"), node("B"), node("C")
    fill(a, 300)
    sync_pair(a, b)
    c.open_doc(LEDGER)
    for s in (a, b, c):
        s.tick(0.0)
    c.connect("A")
    c.connect("B")
    a.connect("C")
    b.connect("C")
    for src, dst in ((a, "A"), (b, "B")):
        for data in src.data_to_send("C"):  # each one's hello (and nothing else yet)
            c.receive_data(dst, data)
    return a, b, c


def test_the_backlog_comes_from_one_peer_and_the_other_sends_only_the_difference() -> None:
    a, b, c = both_say_hello()
    to_a, to_b = c.data_to_send("A"), c.data_to_send("B")
    assert step1_count(to_a) == 1  # every document C has (the ledger): asked at once
    assert step1_count(to_b) == 0  # held back until A has answered
    assert c.sessions["B"].state.value == "syncing"  # and not reported in sync meanwhile

    for data in to_a:
        a.receive_data("C", data)
    for data in to_b:
        b.receive_data("C", data)
    from_a = a.data_to_send("C")
    for data in from_a:
        c.receive_data("A", data)
    assert c.sessions["A"].state is State.LIVE
    asked_b = c.data_to_send("B")
    assert step1_count(asked_b) >= 1  # released with what C holds now
    for data in asked_b:
        b.receive_data("C", data)
    from_b = b.data_to_send("C")
    assert step2_bytes(from_a) > 20_000  # the backlog, once
    assert step2_bytes(from_b) < 100  # B had nothing A had not sent already
    for data in from_b:
        c.receive_data("B", data)
    pump(c, "A", a, "C")
    pump(c, "B", b, "C")
    assert c.sessions["B"].state is State.LIVE
    assert len(c.docs[LEDGER].get("payments", type=Map)) == 300


def test_a_first_peer_that_never_answers_holds_the_others_two_heartbeats_at_most() -> None:
    _a, b, c = both_say_hello()
    c.data_to_send("A")  # lost: A never answers
    c.tick(1.9)
    waiting = c.data_to_send("B")
    assert step1_count(waiting) == 0
    for data in waiting:
        b.receive_data("C", data)
    c.tick(2.1)
    asked_b = c.data_to_send("B")
    assert step1_count(asked_b) >= 1
    for data in asked_b:
        b.receive_data("C", data)
    pump(c, "B", b, "C")
    assert c.sessions["B"].state is State.LIVE
    assert len(c.docs[LEDGER].get("payments", type=Map)) == 300


def test_the_first_peer_leaving_releases_the_others_at_once() -> None:
    _a, b, c = both_say_hello()
    c.data_to_send("A")
    c.receive_eof("A")
    pump(c, "B", b, "C")
    assert c.sessions["B"].state is State.LIVE
    assert len(c.docs[LEDGER].get("payments", type=Map)) == 300


def test_a_day_that_arrives_whole_is_not_asked_for_again() -> None:
    """A node opening a document because content for it arrived asks for the rest only after applying
    it: the step 1 carries what it now holds, so the sender does not send the whole day twice."""
    a, c = node("A"), node("C")
    sync_pair(a, c)
    fill(a, 300)  # live updates: C opens the day for the first of them
    for data in a.data_to_send("C#x"):
        c.receive_data("A#x", data)
    asked = [m for m in map(decode, c.data_to_send("A#x")) if isinstance(m, SyncStep1)]
    # one empty step 1: the ask-back for a day it heard of (A's step 1) before any content came;
    # none for opening the day when the content arrived
    assert [m.state_vector == b"\x00" for m in asked] == [True, False]
    pump(a, "C#x", c, "A#x")
    assert len(c.docs[LEDGER].get("payments", type=Map)) == 300


def empty_node_asks(peer: Synchronizer) -> tuple[Synchronizer, list[bytes]]:
    """A new node C with today's ledger open but empty connects to ``peer`` (as "P") and asks it for
    everything; returns C and what ``peer`` answered (not yet delivered)."""
    c = node("C")
    c.open_doc(LEDGER)
    c.tick(0.0)
    peer.tick(0.0)
    c.connect("P")
    peer.connect("C")
    for data in peer.data_to_send("C"):
        c.receive_data("P", data)
    for data in c.data_to_send("P"):
        peer.receive_data("C", data)
    return c, peer.data_to_send("C")


def test_a_backlog_several_registers_wrote_comes_one_author_at_a_time_then_the_step_2() -> None:
    writers = [node(f"W{k}") for k in range(3)]
    a = node("A")
    for k, w in enumerate(writers):
        payments = w.open_doc(LEDGER).get("payments", type=Map)
        for i in range(SPLIT_STEP2_CLOCKS // 6 + 1):
            payments[f"w{k}-{i}"] = Map({"amount": 500, "note": "x" * 40})
        sync_pair(w, a)
    del a.docs[LEDGER].get("payments", type=Map)["w0-0"]  # a deletion rides in the delete set
    c, from_a = empty_node_asks(a)
    replies = [m for m in map(decode, from_a) if isinstance(m, SyncUpdate | SyncStep2)]
    kinds = [type(m).__name__ for m in replies]
    assert kinds == ["SyncUpdate", "SyncUpdate", "SyncStep2"]  # the step 2 last: then C is in sync
    authors = [header_authors(m.update) for m in replies]
    assert sorted(authors, key=lambda found: sorted(found or ())) == sorted(
        (frozenset({w.client_id}) for w in writers), key=sorted
    )
    for data in from_a:
        c.receive_data("P", data)
    pump(c, "P", a, "C")
    assert c.sessions["P"].state is State.LIVE
    assert c.docs[LEDGER].get_state() == a.docs[LEDGER].get_state()
    assert (
        c.docs[LEDGER].get("payments", type=Map).to_py()
        == a.docs[LEDGER].get("payments", type=Map).to_py()
    )
    assert "w0-0" not in c.docs[LEDGER].get("payments", type=Map)


def test_a_small_backlog_or_one_author_stays_one_step_2() -> None:
    solo, x, y = node("A"), node("X"), node("Y")
    fill(solo, 2 * SPLIT_STEP2_CLOCKS)  # much, but one author
    fill(x, 3)  # two authors, but little
    fill(y, 3)
    sync_pair(x, y)
    for peer in (solo, x):
        _c, sent = empty_node_asks(peer)
        replies = [m for m in map(decode, sent) if isinstance(m, SyncUpdate | SyncStep2)]
        assert [type(m).__name__ for m in replies] == ["SyncStep2"]
        peer.close("C")
