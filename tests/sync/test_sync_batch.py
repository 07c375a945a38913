"""Batches (``_codec.BATCH``, feature ``batch1``; docs/architecture.md (Wire)): a flush's messages to one
link leave as one websocket message to a peer that announced it, and as before to one that did not (an
N−1 peer); what is inside is checked and charged as if it came alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Map

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import write_var_bytes
from meshpos.sync import FEATURES, Heartbeat, Session, Synchronizer, SyncUpdate, encode
from meshpos.sync._codec import BATCH, BYE, HELLO, batch, messages_in, unbatch
from meshpos.sync._features import BATCH_FEATURE
from meshpos.sync._messages import Bye
from meshpos.sync._states import DocReceived, HeartbeatReceived, SessionClosed

from .helpers import VENUE, hello, pump, shuttle, sync_pair

LEDGER = "ledger/2026-11-01"


def beat(node: str = "r1") -> Heartbeat:
    return Heartbeat(node, "register", 100, False, False, 1)


def update(n: int) -> bytes:
    return encode(SyncUpdate(LEDGER, bytes([n]) * (n + 1)))


def live_pair(features: frozenset[str]) -> tuple[Session, Session]:
    a = Session(hello("r1"), peer_features=features)
    b = Session(hello("r2"), peer_features=features)
    a.open()
    b.open()
    shuttle(a, b)
    a.begin_sync({})
    b.begin_sync({})
    shuttle(a, b)
    b.events_received()
    return a, b


def test_this_build_announces_batches() -> None:
    assert BATCH_FEATURE in FEATURES


def test_a_flush_reaches_a_peer_that_takes_batches_as_one_message_in_order() -> None:
    a, b = live_pair(FEATURES)
    a.send(SyncUpdate(LEDGER, b"\x00\x00"))
    a.send(beat())
    a.send(SyncUpdate(LEDGER, b"\x00\x01"))
    (sent,) = a.data_to_send()
    assert sent[0] == BATCH
    b.receive_data(sent)
    events = b.events_received()
    assert [type(e) for e in events] == [DocReceived, HeartbeatReceived, DocReceived]
    received = [e.message for e in events if isinstance(e, DocReceived)]
    assert received == [SyncUpdate(LEDGER, b"\x00\x00"), SyncUpdate(LEDGER, b"\x00\x01")]


def test_a_peer_that_did_not_announce_batches_gets_one_message_each() -> None:
    a, _ = live_pair(frozenset())
    a.send(SyncUpdate(LEDGER, b"\x00\x00"))
    a.send(beat())
    sent = a.data_to_send()
    assert [m[0] for m in sent] == [0x02, 0x04]


def test_a_lone_message_a_hello_a_bye_and_the_close_stay_as_they_are() -> None:
    lone = update(1)
    assert batch([lone]) == [lone]
    hi, bye = encode(hello("r1")), encode(Bye("done"))
    out = batch([hi, update(1), update(2), bye, b""])
    assert [m[0] if m else None for m in out] == [HELLO, BATCH, BYE, None]
    assert unbatch(out[1]) == [update(1), update(2)]


def test_batches_stay_within_the_message_size() -> None:
    messages = [update(n) for n in range(200)]
    limit = 1024
    out = batch(messages, limit)
    assert all(len(m) <= limit for m in out)
    assert [part for m in out for part in (unbatch(m) if m[0] == BATCH else [m])] == messages


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (write_var_bytes(encode(hello("r9"))), "message 0 is type byte 0x01"),
        (write_var_bytes(encode(Bye("x"))) + write_var_bytes(update(1)), "type byte 0x05"),
        (write_var_bytes(update(1)) + write_var_bytes(b""), "message 1 is empty"),
        (write_var_bytes(update(1)), "1 messages, at least 2"),
        (write_var_bytes(update(1)) + b"\x09\x02", "declares 9 bytes but only 1 remain"),
        (write_var_bytes(update(1)) + write_var_bytes(bytes([BATCH]) + b"\x00"), "0x06"),
    ],
    # ids, not the bodies (a hello holds a random client id): every xdist worker collects the same
    ids=["hello", "bye", "empty", "one", "short", "nested"],
)
def test_a_malformed_batch_closes_the_session_naming_what_was_wrong_and_applies_nothing(
    body: bytes, words: str
) -> None:
    _, b = live_pair(FEATURES)
    b.receive_data(bytes([BATCH]) + body)
    (closed,) = b.events_received()
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None
    assert words in closed.error.message
    with pytest.raises(RemoteProtocolError, match=words):
        unbatch(bytes([BATCH]) + body)


def test_a_batch_before_the_hello_is_refused() -> None:
    b = Session(hello("r2"), peer_features=FEATURES)
    b.open()
    b.data_to_send()
    b.receive_data(batch([update(1), update(2)])[0])
    (closed,) = b.events_received()
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None
    assert "before the peer's hello" in closed.error.message


def test_each_message_inside_is_charged_to_the_peers_message_budget() -> None:
    _, b = live_pair(FEATURES)
    burst = int(b.config.budget.messages.burst)
    messages = [update(n % 200) for n in range(burst + 10)]
    for data in batch(messages):
        b.receive_data(data)
    closed = [e for e in b.events_received() if isinstance(e, SessionClosed)]
    assert closed
    assert closed[0].error is not None
    assert "more messages than the budget" in closed[0].error.message


def test_synchronizers_that_take_batches_converge_and_send_fewer_messages() -> None:
    def run(features: frozenset[str]) -> tuple[int, dict[str, object]]:
        a, b = (
            Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c)
            for n, c in (("r1", 1), ("r2", 2))
        )
        ka, kb = sync_pair(a, b, features=features)
        doc = a.open_doc(LEDGER)
        for n in range(5):
            doc.get("payments", type=Map)[f"p{n}"] = Map({"amount": n})
        sent = a.data_to_send(ka)
        for data in sent:
            b.receive_data(kb, data)
        pump(a, ka, b, kb)
        return len(sent), b.open_doc(LEDGER).get("payments", type=Map).to_py() or {}

    batched, old = run(FEATURES), run(frozenset())
    assert batched[1] == old[1] == {f"p{n}": {"amount": float(n)} for n in range(5)}
    assert batched[0] == 1 < old[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_the_batch_byte_close_the_session_or_are_taken_never_a_traceback(
    body: bytes,
) -> None:
    _, b = live_pair(FEATURES)
    b.receive_data(bytes([BATCH]) + body)  # never raises
    for event in b.events_received():
        if isinstance(event, SessionClosed):
            assert event.error is not None
            assert event.error.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=250), max_size=40), st.integers(256, 4096))
def test_what_is_batched_comes_back_whole_and_in_order(sizes: list[int], limit: int) -> None:
    messages = [update(n) for n in sizes]
    out = batch(messages, limit)
    assert all(len(m) <= limit for m in out if m[0] == BATCH)
    assert [part for m in out for part in messages_in(m)] == messages
