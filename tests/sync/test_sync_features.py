"""Features negotiation (meshpos/sync/_features.py, docs/architecture.md (Wire)): the header's value
both ways, its bounds, and the rule that a hello's or heartbeat's newer optional field reaches only a
peer that announced its feature, so an N−1 peer (no features) gets byte for byte what it accepts."""

from __future__ import annotations

import json

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.sync import (
    FEATURES,
    FEATURES_HEADER,
    PROTOCOL_VERSION,
    Heartbeat,
    Synchronizer,
    _bodies,
    decode,
    encode,
    features_header,
    parse_features,
)
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync._config import SOFTWARE
from meshpos.sync._features import MAX_FEATURE_CHARS, MAX_FEATURES, MAX_HEADER_CHARS

from .helpers import VENUE, hello, pump, session, shuttle

LEDGER = "ledger/2026-11-01"


def beat(node: str = "r1", **fields: object) -> Heartbeat:
    return Heartbeat(node, "register", 100, False, False, 1, **fields)  # type: ignore[arg-type]


def body_of(data: bytes) -> dict[str, object]:
    assert data[0] == HEARTBEAT
    loaded = json.loads(data[1:])
    assert isinstance(loaded, dict)
    return loaded


def test_this_build_announces_its_features_and_reads_them_back() -> None:
    assert "features1" in FEATURES
    assert parse_features(features_header()) == FEATURES
    assert features_header() == ",".join(sorted(FEATURES))


@pytest.mark.parametrize("value", [None, "", "  "])
def test_no_header_is_an_older_peer_with_no_features(value: str | None) -> None:
    assert parse_features(value) == frozenset()


def test_names_we_do_not_know_are_kept_and_spaces_around_commas_allowed() -> None:
    assert parse_features("features1, topology9 ,zz-new") == {"features1", "topology9", "zz-new"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("features1,,topology1", "'' is not a feature name"),
        ("Features1", "'Features1' is not a feature name"),
        ("a b", "'a b' is not a feature name"),
        ("x" * (MAX_FEATURE_CHARS + 1), "at most 48"),
        ("é", "'é' is not a feature name"),
        (",".join(f"f{i}" for i in range(MAX_FEATURES + 1)), "65 names, at most 64"),
        ("a" * (MAX_HEADER_CHARS + 1), f"at most {MAX_HEADER_CHARS}"),
    ],
)
def test_a_malformed_header_is_refused_naming_the_header_and_what(value: str, words: str) -> None:
    with pytest.raises(RemoteProtocolError) as refused:
        parse_features(value)
    assert refused.value.message.startswith(FEATURES_HEADER)
    assert words in refused.value.message


def test_a_hello_of_another_protocol_version_is_refused_naming_both_releases() -> None:
    body = json.loads(encode(hello("r1"))[1:]) | {
        "v": PROTOCOL_VERSION + 1,
        "software": "meshpos/9.0",
    }
    with pytest.raises(RemoteProtocolError) as refused:
        decode(b"\x01" + json.dumps(body).encode())
    assert refused.value.message == (
        f"hello: field 'v' (protocol version) is {PROTOCOL_VERSION + 1} (meshpos/9.0), "
        f"we speak {PROTOCOL_VERSION} ({SOFTWARE})"
    )


def test_we_never_announce_a_name_we_could_not_read_back() -> None:
    with pytest.raises(ValueError, match="not lower-case"):
        features_header(frozenset({"Bad Name"}))


def test_a_gated_heartbeat_field_reaches_only_peers_that_announced_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # stands for a field a later part adds: gate one optional field behind a made-up feature
    monkeypatch.setitem(_bodies.HEARTBEAT_FIELD_FEATURES, "owed", "owed-test")
    message = beat(owed={"receipts": 2}, problem="no console")
    old = body_of(encode(message, frozenset()))
    assert "owed" not in old
    assert old["problem"] == "no console"  # N−1 fields are never gated
    new = body_of(encode(message, frozenset({"owed-test"})))
    assert new["owed"] == {"receipts": 2}
    assert decode(encode(message, frozenset({"owed-test"}))) == message


def test_a_gated_record_kind_is_counted_only_to_peers_that_announced_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # stands for a kind a later part adds to meshpos.model.tally.KINDS
    monkeypatch.setitem(_bodies.KIND_FEATURES, "refunds", "refunds-test")
    counts = {"receipts": 2, "refunds": 1}
    message = beat(owed=counts, reports={LEDGER: {"r1": counts}})
    old = body_of(encode(message, frozenset()))
    assert old["owed"] == {"receipts": 2}
    assert old["reports"] == {LEDGER: {"r1": {"receipts": 2}}}
    only_gated = body_of(encode(beat(owed={"refunds": 1}), frozenset()))
    assert "owed" not in only_gated  # nothing left to tell: the optional field is left out
    assert decode(encode(message, frozenset({"refunds-test"}))) == message


def test_without_gated_fields_every_peer_gets_the_same_bytes() -> None:
    message = beat(owed={"receipts": 2}, pending={LEDGER: 3})
    assert encode(message, frozenset()) == encode(message, FEATURES) == encode(message)


def test_a_session_encodes_its_hello_and_heartbeats_for_its_peers_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(_bodies.HEARTBEAT_FIELD_FEATURES, "owed", "owed-test")
    old_peer = session("r1")
    assert old_peer.peer_features == frozenset()
    new_peer = type(old_peer)(hello("r1"), peer_features=frozenset({"owed-test"}))
    for s in (old_peer, new_peer):
        other = session("r2")
        s.open()
        other.open()
        shuttle(s, other)
        s.begin_sync({})
        other.begin_sync({})
        shuttle(s, other)
        s.send(beat(owed={"receipts": 1}))
        (sent,) = s.data_to_send()
        assert ("owed" in body_of(sent)) is (s is new_peer)


def test_the_synchronizer_hands_a_connections_features_to_its_session() -> None:
    a, b = (
        Synchronizer(venue=VENUE, node_id=n, role="register", client_id=c)
        for n, c in (("r1", 1), ("r2", 2))
    )
    a.connect("r2#x", features=frozenset({"features1", "later1"}))
    b.connect("r1#x")
    pump(a, "r2#x", b, "r1#x")
    assert a.sessions["r2#x"].peer_features == {"features1", "later1"}
    assert b.sessions["r1#x"].peer_features == frozenset()


def test_whatever_is_gated_is_gated_by_a_feature_this_build_announces() -> None:
    """A field or kind gated by a feature missing from FEATURES would never reach a peer like us."""
    gates = {
        **{f"hello field {k}": v for k, v in _bodies.HELLO_FIELD_FEATURES.items()},
        **{f"heartbeat field {k}": v for k, v in _bodies.HEARTBEAT_FIELD_FEATURES.items()},
        **{f"record kind {k}": v for k, v in _bodies.KIND_FEATURES.items()},
    }
    unannounced = {what: feature for what, feature in gates.items() if feature not in FEATURES}
    assert not unannounced, f"gated by features FEATURES lacks: {unannounced}"
