"""Session state machine: fed bytes by hand, time only through tick(now)."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.sync import (
    TRANSITIONS,
    Bye,
    DocReceived,
    Heartbeat,
    HeartbeatReceived,
    HelloReceived,
    Session,
    SessionClosed,
    SessionConfig,
    State,
    SyncCompleted,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    Trigger,
    decode,
    encode,
)

from .helpers import hello, session, shuttle


def state(s: Session) -> State:
    """``s.state``, read anew: mypy keeps an asserted property narrowed across method calls."""
    return s.state


def opened_pair() -> tuple[Session, Session]:
    a, b = session("r1"), session("r2")
    a.open()
    b.open()
    shuttle(a, b)
    return a, b


def test_transition_table_is_the_documented_path() -> None:
    path = [State.CONNECTING, State.HELLO, State.SYNCING, State.LIVE, State.CLOSED]
    triggers = [Trigger.OPEN, Trigger.HELLO_RECEIVED, Trigger.SYNCED, Trigger.CLOSE]
    for here, trigger, there in zip(path, triggers, path[1:], strict=False):
        assert TRANSITIONS[(here, trigger)] is there
    assert not any(state is State.CLOSED for state, _ in TRANSITIONS)


def test_hello_then_sync_then_live() -> None:
    a, b = session("r1"), session("r2", "kds")
    assert state(a) is State.CONNECTING
    a.open()
    assert state(a) is State.HELLO
    (first,) = a.data_to_send()
    assert decode(first) == a.local_hello
    b.open()
    b.receive_data(first)
    shuttle(a, b)
    assert (a.state, b.state) == (State.SYNCING, State.SYNCING)
    assert a.events_received() == [HelloReceived(b.local_hello)]
    assert b.peer == a.local_hello
    a.begin_sync({"catalog": b"\x00", "stoplist": b"\x00"})
    shuttle(a, b)
    steps = b.events_received()
    assert [type(e.message) for e in steps if isinstance(e, DocReceived)] == [SyncStep1, SyncStep1]
    b.send(SyncStep2("catalog", b"\x00\x00"))
    shuttle(a, b)
    assert state(a) is State.SYNCING
    b.send(SyncStep2("stoplist", b"\x00\x00"))
    shuttle(a, b)
    assert state(a) is State.LIVE
    assert isinstance(a.events_received()[-1], SyncCompleted)


def test_no_documents_means_live_at_once() -> None:
    a, _ = opened_pair()
    a.begin_sync({})
    assert state(a) is State.LIVE


def test_our_misuse_raises_local_errors() -> None:
    a = session("r1")
    with pytest.raises(LocalProtocolError, match="before open"):
        a.receive_data(encode(hello("r2")))
    a.open()
    with pytest.raises(LocalProtocolError, match="'open' is not allowed in state 'hello'"):
        a.open()
    with pytest.raises(LocalProtocolError, match="cannot send SyncUpdate in state 'hello'"):
        a.send(SyncUpdate("catalog", b"\x00\x00"))


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (encode(SyncUpdate("catalog", b"\x00\x00")), "before the peer's hello"),
        (encode(Heartbeat("r2", "register", 1, False, False, 1)), "before the peer's hello"),
        (encode(hello("r2", venue="other")), "field 'venue'"),
        (encode(hello("r1")), "our own node id"),
        (b"\x01not json", "not valid JSON"),
    ],
    # ids, not the messages (a hello holds a random client id): every xdist worker collects the same
    ids=["update", "heartbeat", "other-venue", "own-id", "not-json"],
)
def test_peer_faults_before_hello_close_with_a_remote_error(message: bytes, words: str) -> None:
    a = session("r1")
    a.open()
    a.data_to_send()
    a.receive_data(message)  # never raises for the peer's faults
    assert state(a) is State.CLOSED
    assert isinstance(a.error, RemoteProtocolError)
    assert words in a.error.message
    (closed,) = a.events_received()
    assert isinstance(closed, SessionClosed)
    assert closed.error is a.error
    out = a.data_to_send()
    assert out[-1] == b""
    bye = decode(out[0])
    assert isinstance(bye, Bye)
    assert "remote_protocol_error" in bye.reason


def test_second_hello_is_an_illegal_remote_transition() -> None:
    a, b = opened_pair()
    a.events_received()
    a.receive_data(encode(b.local_hello))
    assert state(a) is State.CLOSED
    assert a.error is not None
    assert "'hello received' is not allowed in state 'syncing'" in a.error.message


def test_certificate_role_must_match_the_hello() -> None:
    a = Session(hello("r1"), expected_role="register")
    a.open()
    a.receive_data(encode(hello("k1", "kds")))
    assert a.error is not None
    assert "certificate says 'register'" in a.error.message


def test_heartbeat_must_match_the_hello() -> None:
    a, _b = opened_pair()
    a.events_received()
    a.receive_data(encode(Heartbeat("r2", "register", 1, True, False, 1)))
    assert isinstance(a.events_received()[0], HeartbeatReceived)
    a.receive_data(encode(Heartbeat("r9", "register", 1, True, False, 2)))
    assert a.error is not None
    assert "differ from the hello" in a.error.message


def test_close_and_bye() -> None:
    a, b = opened_pair()
    a.close("maintenance")
    a.close("again")  # no-op
    shuttle(a, b)
    assert state(a) is State.CLOSED
    assert state(b) is State.CLOSED
    closed = [e for e in b.events_received() if isinstance(e, SessionClosed)]
    assert closed == [SessionClosed("peer said bye: maintenance", by_peer=True)]
    a.receive_data(b"garbage after close is ignored")
    assert a.error is None


def test_eof_closes() -> None:
    a, _ = opened_pair()
    a.receive_eof()
    assert state(a) is State.CLOSED
    assert SessionClosed("connection lost", by_peer=True) in a.events_received()


def test_hello_timeout_and_idle_timeout_through_tick() -> None:
    a = session("r1", hello_timeout=3.0, idle_timeout=2.0)
    a.open()
    a.tick(100.0)
    a.tick(103.0)
    assert state(a) is State.HELLO
    a.tick(103.5)
    assert state(a) is State.CLOSED
    assert a.error is not None
    assert "hello: none within 3 s" in a.error.message

    a, b = session("r1", idle_timeout=2.0), session("r2")
    a.open()
    b.open()
    a.tick(0.0)
    shuttle(a, b)
    a.tick(1.0)
    a.receive_data(encode(Heartbeat("r2", "register", 1, False, False, 1)))
    a.tick(2.5)  # heard at 2.5 at the latest
    a.tick(4.4)
    assert state(a) is State.SYNCING
    a.tick(4.6)
    assert state(a) is State.CLOSED
    assert a.error is not None
    assert "idle" in a.error.message


def test_chunked_step2_reassembles_and_completes_sync() -> None:
    doc: Doc[Any] = Doc(client_id=11)
    doc.get("m", type=Map).update({f"k{i}": "v" * 40 for i in range(300)})
    a = Session(hello("r1"), config=SessionConfig(max_message_size=512, max_payload_size=2**20))
    b = Session(hello("r2"), config=SessionConfig(max_message_size=512, max_payload_size=2**20))
    a.open()
    b.open()
    shuttle(a, b)
    a.begin_sync({"catalog": b"\x00"})
    shuttle(a, b)
    b.send(SyncStep2("catalog", doc.get_update()))
    sent = b.data_to_send()
    assert len(sent) > 10
    for data in sent:
        a.receive_data(data)
    events = a.events_received()
    received = [e.message for e in events if isinstance(e, DocReceived)]
    assert received == [SyncStep2("catalog", doc.get_update())]
    assert state(a) is State.LIVE


def test_chunks_out_of_order_or_too_large_close_the_session() -> None:
    doc: Doc[Any] = Doc(client_id=11)
    doc.get("m", type=Map).update({f"k{i}": "v" * 40 for i in range(300)})
    small = SessionConfig(max_message_size=512, max_payload_size=4096)
    for reorder in (True, False):
        a, b = Session(hello("r1"), config=small), Session(hello("r2"), config=small)
        a.open()
        b.open()
        shuttle(a, b)
        b.send(SyncStep2("catalog", doc.get_update()))
        sent = b.data_to_send()
        if reorder:
            sent[1], sent[2] = sent[2], sent[1]
        for data in sent:
            a.receive_data(data)
        assert a.error is not None
        assert (
            ("expected 1/" in a.error.message) if reorder else ("exceeds 4096" in a.error.message)
        )
