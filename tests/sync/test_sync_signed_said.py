"""Far records' said fields signed by their node (issue 18, farsign: sync/_far_signing.py).

Real ``Synchronizer`` objects with device keys of a real venue CA (``signed_bed.keyed``: what every
real node has). A node that checks devices' words reads a far record's role, priority, uplink,
relay claim and problem only from its node's signed part of the highest seq: a record without one
is no candidate (an N−1 node's, or an invented one), a forged record after one changes nothing, a
replayed older part is stale, a newer part changes the held record whatever its seq. A part whose
signature, signer or venue is wrong closes the session and changes nothing of the beat. Nothing is
signed or verified while nothing changes. The field round-trips, is gated for N−1 and bounded, and
its body passes for no attestation nor gone notice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._codec import decode
from meshpos.sync._features import FEATURES
from meshpos.sync._gone_words import GoneSignatureRefused, decode_notice, notice_body
from meshpos.sync._held_signed import HeldSignatureRefused, SignedHeld, decode_word, word_body
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._presence import Said
from meshpos.sync._said_words import (
    MAX_SAIDS,
    SAID_SIGNED_FEATURE,
    SaidSignatureRefused,
    decode_said,
    said_body,
)
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_held_signed import identity
from .test_sync_topology import CONFIG, DOC, Venue

RELAY: Said = ("register", 1, True, True, "")
NONE: Said = ("register", 1, False, False, "")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


def _part(authority: VenueAuthority, node: str, said: Said, seq: int) -> SignedHeld:
    return DeviceWordSigner(identity(authority, node))(said_body(node, said, seq, VENUE))


def _node(authority: VenueAuthority, name: str = "R001") -> Synchronizer:
    sync = Synchronizer(venue=VENUE, node_id=name, role="register", client_id=7, config=CONFIG)
    keyed(sync, authority)
    sync.open_doc(DOC)
    return sync


def _beat(seq: int, *far: FarRecord, saids: tuple[SignedHeld, ...] = ()) -> Heartbeat:
    return Heartbeat("R002", "register", 1, False, False, seq, far=far, saids=saids)


def _record(seq: int, said: Said = RELAY) -> FarRecord:
    return FarRecord("R005", said[0], said[1], said[2], said[3], seq, problem=said[4])


def _candidate(sync: Synchronizer) -> bool:
    return any(c.node == "R005" for c in sync.candidates())


def test_a_far_records_said_fields_are_read_only_from_its_nodes_signed_part(
    authority: VenueAuthority,
) -> None:
    sync = _node(authority)
    sync._on_heartbeat(_beat(1, _record(10)))  # (an N−1 node's record, or an invented one)
    far = sync.presence["R005"]
    assert (far.uplink, far.relay, far.problem) == (False, False, "")
    assert not _candidate(sync)  # no relay candidate beyond the links
    sync._on_heartbeat(_beat(2, _record(11), saids=(_part(authority, "R005", RELAY, 9),)))
    assert sync.presence["R005"].relay
    assert _candidate(sync)
    # a forged record above it: its said fields are not read
    sync._on_heartbeat(_beat(3, _record(40, NONE)))
    assert sync._far.seq("R005") == 40
    assert sync.presence["R005"].relay
    assert _candidate(sync)
    # the node's own older part replayed: stale
    sync._on_heartbeat(_beat(4, saids=(_part(authority, "R005", NONE, 5),)))
    assert sync.presence["R005"].relay
    # its newer part (it lost its uplink) moves the record held, whatever that record's seq
    sync._on_heartbeat(_beat(5, saids=(_part(authority, "R005", NONE, 12),)))
    assert not sync.presence["R005"].relay
    assert not _candidate(sync)
    assert sync._far.vouched("R005") == 12


def test_a_node_that_checks_no_words_reads_records_as_they_come(authority: VenueAuthority) -> None:
    """In-memory beds without keys (no ``held_check``): as before this part."""
    sync = Synchronizer(venue=VENUE, node_id="R001", role="register", client_id=7, config=CONFIG)
    sync.open_doc(DOC)
    sync._on_heartbeat(_beat(1, _record(10)))
    assert sync.presence["R005"].relay
    assert _candidate(sync)


@pytest.mark.parametrize("how", ["body", "signer", "venue", "garbage"])
def test_a_bad_part_closes_the_session_and_changes_nothing_of_the_beat(
    authority: VenueAuthority, tmp_path: Path, how: str
) -> None:
    genuine = _part(authority, "R005", RELAY, 9)
    if how == "body":  # the uplink changed on the way
        bad = replace(genuine, body=said_body("R005", NONE, 9, VENUE))
    elif how == "signer":  # R004's real key, a part in R005's name
        bad = DeviceWordSigner(identity(authority, "R004"))(said_body("R005", NONE, 9, VENUE))
    elif how == "venue":  # a device of another venue's CA
        other = init_venue(tmp_path / "other", "Elsewhere", VENUE)
        bad = DeviceWordSigner(identity(other, "R005"))(said_body("R005", NONE, 9, VENUE))
    else:
        bad = replace(genuine, sig="bm90IGEgc2lnbmF0dXJl")
    sync = _node(authority)
    with pytest.raises(SaidSignatureRefused, match="signed said fields") as refused:
        sync._on_heartbeat(_beat(1, _record(10), saids=(genuine, bad)))
    assert refused.value.code == "said_signature_refused"
    assert sync.presence == {}  # (neither the sender, nor its far record)
    assert sync._far.vouched("R005") is None


def test_nothing_but_the_relay_claim_is_signed_or_verified_while_nothing_changes(
    authority: VenueAuthority,
) -> None:
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    venue.settle(8.0)
    assert venue.agreed_relay() is not None
    # every node signed once, and its later changes (the relay's claim)
    signed = {n: s.said_parts.signed for n, s in venue.net.nodes.items()}
    assert all(1 <= n <= 3 for n in signed.values()), signed
    verified = {n: _checker(s).verified for n, s in venue.net.nodes.items()}
    relay = venue.agreed_relay()
    assert relay is not None
    venue.net.advance(10.0, step=0.05)
    # but the relay claimant's, signed again every two direct timeouts (5 s: forgedrise), each
    # verified once by each node (and one signed before, on its way)
    renewals = venue.net.nodes[relay].said_parts.signed - signed[relay]
    assert 1 <= renewals <= 3
    signed[relay] += renewals
    assert {n: s.said_parts.signed for n, s in venue.net.nodes.items()} == signed
    for name, sync in venue.net.nodes.items():
        assert verified[name] <= _checker(sync).verified <= verified[name] + renewals + 1


def _checker(sync: Synchronizer) -> DeviceWordChecker:
    check = sync.config.held_check
    assert isinstance(check, DeviceWordChecker)
    return check


@pytest.mark.parametrize("features", [FEATURES, FEATURES - {SAID_SIGNED_FEATURE}])
def test_saids_round_trips_and_is_gated(
    authority: VenueAuthority, features: frozenset[str]
) -> None:
    part = _part(authority, "R005", RELAY, 9)
    beat = _beat(3, saids=(part,))
    decoded = decode_heartbeat(heartbeat_body(beat, features))
    assert decoded.saids == ((part,) if SAID_SIGNED_FEATURE in features else ())


def test_malformed_parts_are_refused_naming_the_field(authority: VenueAuthority) -> None:
    part = _part(authority, "R005", RELAY, 9)
    good = {"b": part.body, "c": part.cert, "s": part.sig}
    base = json.loads(heartbeat_body(_beat(3), FEATURES).decode())
    no_cert = {"b": part.body, "s": part.sig}
    for bad in ([], [good] * (MAX_SAIDS + 1), [{**good, "s": "not base64!"}], [no_cert], [1]):
        with pytest.raises(RemoteProtocolError, match="field 'saids'"):
            decode_heartbeat(json.dumps({**base, "saids": bad}).encode())


def test_a_said_body_is_no_attestation_nor_notice_and_theirs_no_said() -> None:
    """One key signs all three under one domain: no body passes for another's (``_said_words``)."""
    said = said_body("R005", RELAY, 9, VENUE)
    with pytest.raises(HeldSignatureRefused):
        decode_word(said)
    with pytest.raises(GoneSignatureRefused):
        decode_notice(said)
    for other in (word_body("R002", VENUE, {DOC: {5: 1}}), notice_body("R003", "R002", 5, VENUE)):
        with pytest.raises(SaidSignatureRefused):
            decode_said(other)
    for bad in ('{"x":1}', said.replace('"priority":1', '"priority":-1'), "[]", "not json"):
        with pytest.raises(SaidSignatureRefused):
            decode_said(bad)


def test_what_an_n_minus_1_node_sees_and_how_it_is_seen(authority: VenueAuthority) -> None:
    """R000 runs the previous release (``features1``, ``topology1``: no keys, no ``saids1``) and
    has an uplink. It is sent no ``saids`` (the encoder leaves the field out) and reads far records
    as they come (its election as before). Its own record is unsigned: the N nodes not linked to
    it count it (presence, the "n") but do not elect it (no uplink, no claim beyond its links)."""
    old = "R000"
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    previous = Synchronizer(venue=VENUE, node_id=old, role="register", client_id=5, config=CONFIG)
    previous.set_uplink(True)
    previous.open_doc(DOC)
    venue.net.add(previous, features=frozenset({"features1", "topology1"}))
    venue.settle(8.0)
    to_old = [decode(d, len(d) + 1) for _, receiver, d in venue.heartbeats if receiver == old]
    assert to_old
    assert not any(b.saids for b in to_old if isinstance(b, Heartbeat))
    far = [n for n, s in venue.net.nodes.items() if n != old and not s._linked_to(old)]
    assert far  # (nine nodes at degree 4)
    for name in far:
        sync = venue.net.nodes[name]
        assert old in sync.presence  # counted
        assert not sync.presence[old].uplink  # not elected beyond its links
        assert all(c.node != old for c in sync.candidates())
        assert sync._far.vouched(old) is None
    # its own view: every far record as it came, its own election as before
    assert previous.relay is not None
