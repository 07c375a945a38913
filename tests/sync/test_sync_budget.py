"""What one peer can make a node do: coalesced sync step 1 replies and per-peer budgets, driven by hand.

The same bounds against a real ``meshpos node`` process are in tests/mesh/test_hostile_peer.py.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from meshpos.errors import PeerAbusive, RemoteProtocolError
from meshpos.lib0 import write_var_string, write_var_uint
from meshpos.model.replica import encode_state_vector
from meshpos.sync import (
    Allowance,
    AwarenessUpdate,
    DocReceived,
    Heartbeat,
    Hello,
    PeerBudget,
    PeerClosed,
    Session,
    SessionConfig,
    SignedHeld,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    encode,
)
from meshpos.sync._held_signed import HELD_SIGNED_FEATURE
from meshpos.sync._messages import Chunk

from .helpers import VENUE, hello, shuttle
from .test_sync_synchronizer import LEDGER, flush, node, raw_peer, records, write

OTHER_DAY = "ledger/2026-11-02"


def replies(peer: Session, doc: str) -> list[bytes]:
    """The step 2s ``peer`` received for ``doc`` since last asked (live updates aside)."""
    return [
        e.message.update
        for e in peer.events_received()
        if isinstance(e, DocReceived) and isinstance(e.message, SyncStep2) and e.message.doc == doc
    ]


def entries(*updates: bytes) -> dict[str, Any]:
    doc: Doc[Any] = Doc(client_id=77)
    for update in updates:
        doc.apply_update(update)
    return dict(doc.get("payments", type=Map).to_py() or {})


def test_a_flood_of_step1s_costs_one_reply_per_interval_and_then_ends_as_abusive() -> None:
    budget = PeerBudget(repeated_step1=Allowance(rate=1, burst=8))
    reg = node("r1", session=SessionConfig(reply_interval=1.0, budget=budget))
    for i in range(20):
        write(reg, LEDGER, f"p{i}")
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 5))
    peer.events_received()
    for _ in range(5):  # the same question five times in one interval
        peer.send(SyncStep1(LEDGER, b"\x00"))
    flush(reg, key, peer)
    first = replies(peer, LEDGER)
    assert len(first) == 1, "one reply; the other four wait, coalesced"
    assert entries(*first) == records(reg, LEDGER)
    write(reg, LEDGER, "late")  # changed meanwhile: the coalesced reply carries only that
    reg.tick(0.5)
    flush(reg, key, peer)
    assert replies(peer, LEDGER) == [], "not before the interval is over"
    reg.tick(1.0)
    flush(reg, key, peer)
    coalesced = replies(peer, LEDGER)
    assert len(coalesced) == 1
    assert set(entries(*coalesced)) == {"late"}, "what the first reply carried is left out"
    assert entries(*first, *coalesced) == records(reg, LEDGER)
    # outside the interval the same question gets the whole answer (a peer that cleared its cache)
    reg.tick(2.5)
    peer.send(SyncStep1(LEDGER, b"\x00"))
    flush(reg, key, peer)
    assert entries(*replies(peer, LEDGER)) == records(reg, LEDGER)
    # past the budget of repeated step 1s the peer is dropped, whatever they ask
    for i in range(12):
        peer.send(SyncStep1(LEDGER, encode_state_vector({10**6 + i: 1})))
    flush(reg, key, peer)
    closed = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    assert len(closed) == 1
    assert isinstance(closed[0].error, PeerAbusive)
    assert closed[0].error.code == "peer_abusive"
    assert "repeated sync step 1s" in closed[0].reason
    assert key not in reg.sessions
    assert len(replies(peer, LEDGER)) <= 1


def test_replies_past_the_byte_budget_wait_for_it_instead_of_dropping_the_peer() -> None:
    budget = PeerBudget(reply_bytes=Allowance(rate=1000, burst=1))
    reg = node("r1", session=SessionConfig(reply_interval=0.0, budget=budget))
    for i in range(20):
        write(reg, LEDGER, f"p{i}")
        write(reg, OTHER_DAY, f"q{i}")
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 5))
    peer.events_received()
    peer.send(SyncStep1(LEDGER, b"\x00"))
    peer.send(SyncStep1(OTHER_DAY, b"\x00"))
    flush(reg, key, peer)
    events = peer.events_received()
    got = {e.message.doc for e in events if isinstance(e, DocReceived)}
    assert got == {LEDGER}, "the first reply overdraws the budget; the second waits"
    reg.tick(0.01)  # ten bytes of budget back: still overdrawn
    flush(reg, key, peer)
    assert replies(peer, OTHER_DAY) == []
    reg.close(key)  # relinking does not refill the device's budget
    flush(reg, key, peer)
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 5), now=0.01)
    peer.events_received()
    peer.send(SyncStep1(OTHER_DAY, b"\x00"))
    flush(reg, key, peer)
    assert replies(peer, OTHER_DAY) == []
    reg.tick(3.0)
    flush(reg, key, peer)
    assert entries(*replies(peer, OTHER_DAY)) == records(reg, OTHER_DAY)
    assert key in reg.sessions


def opened_pair(budget: PeerBudget, **config: Any) -> tuple[Session, Session]:
    a = Session(hello("r1"), config=SessionConfig(budget=budget, **config))
    b = Session(hello("r2"))
    a.open()
    b.open()
    shuttle(a, b)
    return a, b


def beat(seq: int) -> Heartbeat:
    return Heartbeat("r2", "register", 1, True, False, seq)


def test_heartbeats_past_their_budget_end_the_session_as_abusive_and_time_refills_it() -> None:
    a, b = opened_pair(PeerBudget(heartbeats=Allowance(rate=2, burst=3)))
    a.tick(0.0)
    for seq in range(3):
        b.send(beat(seq))
    shuttle(a, b)
    a.tick(0.5)  # one more heartbeat's worth
    b.send(beat(3))
    shuttle(a, b)
    assert a.error is None
    b.send(beat(4))
    shuttle(a, b)
    assert isinstance(a.error, PeerAbusive)
    assert "more heartbeats than the budget of 3 at once and 2 a second" in a.error.message


def test_awareness_updates_and_any_messages_past_their_budgets_end_the_session() -> None:
    state = '{"user":"x"}'
    update = write_var_uint(1) + write_var_uint(9) + write_var_uint(1) + write_var_string(state)
    a, b = opened_pair(PeerBudget(awareness=Allowance(rate=1, burst=2)))
    for _ in range(3):
        b.send(AwarenessUpdate(LEDGER, update))
    shuttle(a, b)
    assert isinstance(a.error, PeerAbusive)
    assert "awareness updates" in a.error.message
    a, b = opened_pair(PeerBudget(update_bytes=Allowance(rate=1, burst=100)))
    b.send(SyncUpdate(LEDGER, bytes(60)))  # bytes are counted, not decoded, here
    shuttle(a, b)
    assert a.error is None
    b.send(SyncStep2(LEDGER, bytes(60)))
    shuttle(a, b)
    assert isinstance(a.error, PeerAbusive)
    assert "more bytes of updates than the budget of 100" in a.error.message
    a, b = opened_pair(PeerBudget(messages=Allowance(rate=1, burst=4)))
    for seq in range(3):  # with the hello: four
        b.send(beat(seq))
    shuttle(a, b)
    assert a.error is None
    b.send(beat(3))
    shuttle(a, b)
    assert isinstance(a.error, PeerAbusive)
    assert "more messages than the budget" in a.error.message


def test_chunked_messages_held_open_at_once_are_bounded() -> None:
    a, _b = opened_pair(PeerBudget())
    for day in range(1, 6):
        a.receive_data(encode(Chunk(f"ledger/2026-11-{day:02d}", 0, 1000, bytes(64))))
    assert isinstance(a.error, RemoteProtocolError)
    assert "more than 4 chunked messages open at once" in a.error.message
    small = SessionConfig(max_message_size=512, max_payload_size=1024)
    a = Session(hello("r1"), config=small)
    b = Session(hello("r2"))
    a.open()
    b.open()
    shuttle(a, b)
    for day in (1, 2, 3):  # each under the payload limit, together over it
        a.receive_data(encode(Chunk(f"ledger/2026-11-{day:02d}", 0, 1000, bytes(400))))
    assert a.error is not None
    assert "exceeds 1024 bytes with the others open" in a.error.message


def test_a_heartbeat_naming_days_we_do_not_hold_records_nothing_of_them() -> None:
    reg = node("r1")
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 5))
    write(reg, LEDGER, "p1")
    claims = {LEDGER: {reg.client_id: 10**6}, OTHER_DAY: {reg.client_id: 10**6}}
    peer.send(Heartbeat("r2", "register", 1, True, True, 1, console=claims))
    flush(reg, key, peer)
    assert reg.pending(LEDGER) == 0  # a held day: the relay's word is taken
    write(reg, OTHER_DAY, "q1")
    assert reg.pending(OTHER_DAY) > 0, "a claim about a day we did not hold was not kept"


def test_signed_words_past_their_budget_end_the_session_as_abusive() -> None:
    """Each new word is a signature to check (~0.1 ms): within the heartbeats' own budget an enrolled
    device could make a node check ~2,500 a second; the words have a budget of their own."""
    a, b = opened_pair(PeerBudget(signed_words=Allowance(rate=10, burst=20)))
    b.peer_features = frozenset({HELD_SIGNED_FEATURE})  # (a peer that takes words)
    a.tick(0.0)
    words = tuple(
        SignedHeld(f'{{"held":{{}},"node":"r2","venue":"{VENUE}{i}"}}', "", "AAAA")
        for i in range(16)
    )
    b.send(Heartbeat("r2", "register", 1, True, False, 1, helds=words))
    shuttle(a, b)
    assert a.error is None
    b.send(Heartbeat("r2", "register", 1, True, False, 2, helds=words))
    shuttle(a, b)
    assert isinstance(a.error, PeerAbusive)
    assert "more devices' signed attestations than the budget of 20 at once" in a.error.message
