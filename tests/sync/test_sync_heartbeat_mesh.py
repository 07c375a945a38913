"""The heartbeat's optional ``mesh`` field: the relay tells the console each linked node's role and
pending count. Older heartbeats (no field) still decode; heartbeats without it encode exactly as before;
bad values are refused with a named RemoteProtocolError and nothing else, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Map

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Heartbeat, SyncConfig, Synchronizer, decode, encode
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync._messages import PeerSummary

from .helpers import VENUE, pump, sync_pair

LEDGER = "ledger/2026-11-01"
OLD_BODY = {
    "node": "R1",
    "role": "register",
    "priority": 100,
    "uplink": True,
    "relay": True,
    "seq": 7,
    "console": {LEDGER: {"99": 4}},
    "pending": {LEDGER: 2},
    "peers": ["R2", "console"],
}


def raw(body: dict[str, Any]) -> bytes:
    return bytes([HEARTBEAT]) + json.dumps(body).encode()


def test_mesh_round_trips_and_an_empty_one_is_left_out() -> None:
    beat = Heartbeat(
        "R1",
        "register",
        100,
        True,
        True,
        7,
        {LEDGER: {99: 4}},
        {LEDGER: 2},
        ("R2", "console"),
        {"R2": PeerSummary("register", 3), "K1": PeerSummary("kds", 0)},
    )
    assert decode(encode(beat)) == beat
    assert b'"mesh":{"K1":{"pending":0,"role":"kds"},"R2"' in encode(beat)
    plain = Heartbeat("R1", "register", 100, True, True, 7, {LEDGER: {99: 4}}, {LEDGER: 2}, ("R2",))
    assert b"mesh" not in encode(plain)  # what older nodes send and expect, byte for byte
    assert json.loads(encode(plain)[1:]).keys() == OLD_BODY.keys()


def test_a_heartbeat_from_an_older_node_decodes_with_an_empty_mesh() -> None:
    beat = decode(raw(OLD_BODY))
    assert isinstance(beat, Heartbeat)
    assert beat.mesh == {}
    assert beat.peers == ("R2", "console")


@pytest.mark.parametrize(
    ("mesh", "words"),
    [
        ([], "'mesh' must be an object"),
        ("R2", "'mesh' must be an object"),
        ({f"R{i}": {"role": "kds", "pending": 0} for i in range(1025)}, "at most 1024"),
        ({"bad id!": {"role": "register", "pending": 0}}, "invalid node id"),
        ({"": {"role": "register", "pending": 0}}, "invalid node id"),
        ({"R2": 3}, "exactly 'role' and 'pending'"),
        ({"R2": {"role": "register"}}, "exactly 'role' and 'pending'"),
        ({"R2": {"role": "register", "pending": 1, "x": 1}}, "exactly 'role' and 'pending'"),
        ({"R2": {"role": "console", "pending": 1}}, "role must be register or kds"),
        ({"R2": {"role": ["register"], "pending": 1}}, "role must be register or kds"),
        ({"R2": {"role": "register", "pending": -1}}, "'pending' must be an integer"),
        ({"R2": {"role": "register", "pending": 1.5}}, "'pending' must be an integer"),
        ({"R2": {"role": "register", "pending": True}}, "'pending' must be an integer"),
        ({"R2": {"role": "register", "pending": 2**53}}, "'pending' must be an integer"),
        ({"R2": {"role": "register", "pending": None}}, "'pending' must be an integer"),
    ],
)
def test_a_bad_mesh_is_refused_with_a_named_error(mesh: Any, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match="heartbeat") as refused:
        decode(raw(OLD_BODY | {"mesh": mesh}), max_message_size=2**20)
    assert words in refused.value.message
    assert "mesh" in refused.value.message


def test_other_unknown_fields_are_still_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown field 'meshes'"):
        decode(raw(OLD_BODY | {"meshes": {}}))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
summaries: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.sampled_from(["role", "pending", "x"]),
    st.sampled_from(["register", "kds", "console", 0, 5, -1, 2**53, 1.0, None, True, [], {}]),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        st.dictionaries(st.text(max_size=70), summaries, max_size=4),
        st.dictionaries(st.sampled_from(["R2", "K1", "r-3.x"]), json_values, max_size=3),
    )
)
def test_any_mesh_value_decodes_or_raises_only_a_remote_protocol_error(mesh: Any) -> None:
    try:
        beat = decode(raw(OLD_BODY | {"mesh": mesh}), max_message_size=2**20)
    except RemoteProtocolError as exc:
        refusal = exc.message
    else:
        assert isinstance(beat, Heartbeat)
        assert decode(encode(beat)) == beat
        return
    assert "'mesh'" in refusal


def node(node_id: str, role: str = "register", client_id: int = 0) -> Synchronizer:
    return Synchronizer(
        venue=VENUE,
        node_id=node_id,
        role=role,
        client_id=client_id or sum(map(ord, node_id)) * 1000 + 7,
        config=SyncConfig(heartbeat_interval=1.0, anti_entropy_interval=100.0),
    )


def test_the_relay_sends_the_mesh_to_the_console_and_to_nobody_else() -> None:
    r1, r2, k1, console = node("R1"), node("R2"), node("K1", "kds"), node("console", "console")
    links = [(*sync_pair(r1, peer), peer) for peer in (r2, k1)]
    up = sync_pair(console, r1)
    r2.open_doc(LEDGER).get("payments", type=Map)["p1"] = Map({"amount": 500})
    sent_to_mesh: list[bytes] = []
    for now in (1.0, 2.0, 3.0):
        for sync in (r1, r2, k1, console):
            sync.tick(now)
        for ka, kb, peer in links:
            out = r1.data_to_send(ka)  # what the relay sends its mesh peers, heartbeats included
            sent_to_mesh += out
            for data in out:
                peer.receive_data(kb, data)
            pump(r1, ka, peer, kb)
        pump(console, up[0], r1, up[1])
    assert r2.pending(LEDGER) > 0
    assert console.presence["R1"].mesh == {
        "R2": PeerSummary("register", r2.pending(LEDGER)),
        "K1": PeerSummary("kds", 0),
    }
    assert set(console.presence["R1"].peers) == {"R2", "K1", "console"}
    assert r2.presence["R1"].mesh == {}
    assert k1.presence["R1"].mesh == {}
    beats = [decode(d) for d in sent_to_mesh if d and d[0] == HEARTBEAT]
    assert beats
    assert all(b"mesh" not in d for d in sent_to_mesh if d and d[0] == HEARTBEAT)
    # the console's own heartbeats to the relay carry no mesh either
    assert r1.presence["console"].mesh == {}
