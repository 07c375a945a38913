"""Catch-up from one peer first: a node that comes back asks one peer for the backlog, then the others for
what that one lacked, so it is sent the backlog once instead of once per peer."""

from __future__ import annotations

from pycrdt import Map

from meshpos.sync import State, SyncConfig, Synchronizer, SyncStep1, SyncStep2, decode

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
