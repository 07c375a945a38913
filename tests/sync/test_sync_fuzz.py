"""Fuzz the decoder and a live session: only the project's protocol errors, and no document changes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from meshpos.errors import RemoteProtocolError
from meshpos.sync import (
    AwarenessUpdate,
    Bye,
    Chunk,
    Heartbeat,
    Hello,
    State,
    SyncConfig,
    Synchronizer,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    encode,
)
from meshpos.sync._digest import HASH_BYTES
from meshpos.sync._messages import Digest

from .helpers import VENUE, hello
from .test_sync_synchronizer import flush, raw_peer

LEDGER = "ledger/2026-11-01"


def _seed_messages() -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=99)
    doc.get("payments", type=Map)["p"] = Map({"amount": 100, "method": "cash"})
    update = doc.get_update()
    return [
        encode(hello("r2")),
        encode(SyncStep1(LEDGER, doc.get_state())),
        encode(SyncStep2(LEDGER, update)),
        encode(SyncUpdate(LEDGER, update)),
        encode(SyncUpdate("catalog", update)),
        encode(AwarenessUpdate("stoplist", b'\x01\x05\x01\x0b{"a":[1,2]}')),
        encode(Heartbeat("r2", "register", 5, True, True, 3, {LEDGER: {99: 2}}, {LEDGER: 1})),
        encode(Chunk(LEDGER, 0, 2, update[:10])),
        encode(Bye("bye")),
        encode(Digest(((LEDGER, b"\x01" * HASH_BYTES), ("catalog", b"\x02" * HASH_BYTES)))),
    ]


SEEDS = _seed_messages()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x01, 0x22, 0x7B]))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos]
    return bytes(data)


messages = st.one_of(st.binary(max_size=200), mutated())


@settings(max_examples=400, deadline=None)
@given(messages)
def test_decoder_raises_only_remote_protocol_errors(data: bytes) -> None:
    try:
        decode(data, max_message_size=4096)
    except RemoteProtocolError as exc:
        message = exc.message
        assert message


def _live_register() -> tuple[Synchronizer, str, Any]:
    reg = Synchronizer(
        venue=VENUE, node_id="r1", role="register", client_id=4321, config=SyncConfig()
    )
    reg.open_doc(LEDGER).get("payments", type=Map)["mine"] = Map({"amount": 7})
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 1234))
    return reg, key, peer


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(messages, min_size=1, max_size=5))
def test_a_live_session_survives_garbage_and_documents_stay_unchanged(batch: list[bytes]) -> None:
    reg, key, peer = _live_register()
    assert reg.sessions[key].state in (State.SYNCING, State.LIVE)
    flush(reg, key, peer)
    for data in batch:
        if key not in reg.sessions:
            break
        before = {name: doc.get_update() for name, doc in reg.docs.items()}
        try:
            decode(data)
            malformed = False
        except RemoteProtocolError:
            malformed = True
        reg.receive_data(key, data)  # never raises for what a peer sends
        if malformed:
            after = {name: doc.get_update() for name, doc in reg.docs.items()}
            assert {n: u for n, u in after.items() if n in before} == before
            assert all(u == b"\x00\x00" for n, u in after.items() if n not in before)
            session = reg.sessions.get(key)
            assert session is None or session.state is State.CLOSED
            assert session is None or isinstance(session.error, RemoteProtocolError)
        reg.data_to_send(key)
        reg.events_received()
