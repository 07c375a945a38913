"""Gone notices signed by the node that lost the link (issue 18, notice: sync/_notices.py).

Real ``Synchronizer`` objects on the in-memory network, each with its own device key of a real venue
CA (``signed_bed.keyed``: what every real node has): a relay killed is dropped from the election at
the far nodes by its neighbours' signed notices, within a second, at one signature per link lost and
one verify per notice and node; nodes that check but whose peers sign nothing (an N−1 neighbour's
unsigned notice) still elect another once the dead relay's record goes stale; a notice whose
signature, signer or venue is wrong closes the session and changes nothing of the beat; the field
round-trips, is gated for N−1 and bounded. The forger's tries are in
tests/outside/test_forged_gone_notice.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._features import FEATURES
from meshpos.sync._gone_words import (
    GONE_SIGNED_FEATURE,
    MAX_GONES,
    GoneSignatureRefused,
    decode_notice,
    notice_body,
)
from meshpos.sync._held_signed import HeldSignatureRefused, SignedHeld, decode_word, word_body
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_held_signed import identity
from .test_sync_topology import CONFIG, DOC, Venue


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


def _keyed(authority: VenueAuthority, n: int = 8, *, signing: bool = True) -> Venue:
    venue = Venue(n)
    for sync in venue.net.nodes.values():
        keyed(sync, authority, signing=signing)
    venue.settle(8.0)
    return venue


def _kill_relay(venue: Venue) -> tuple[str, list[str]]:
    """Kill the agreed relay's process (its links close at once): it, and the nodes not linked to it."""
    relay = venue.agreed_relay()
    assert relay is not None
    far = [n for n, s in venue.net.nodes.items() if n != relay and not s._linked_to(relay)]
    assert far  # (eight nodes at degree 4: some are beyond the relay's links)
    venue.net.crash(relay, notify_peers=True)
    return relay, far


def test_a_killed_relay_leaves_the_far_nodes_election_by_its_neighbours_signed_notices(
    authority: VenueAuthority,
) -> None:
    venue = _keyed(authority)
    before = {n: (_checker(s).verified, s.said_parts.signed) for n, s in venue.net.nodes.items()}
    relay, far = _kill_relay(venue)
    took = venue.until(lambda: (r := venue.agreed_relay()) is not None and r != relay, limit=1.0)
    assert took < 1.0
    assert all(venue.net.nodes[n]._far.marked(relay) for n in far)  # (a notice, not the silence)
    signed = sum(s.notices.signed for s in venue.net.nodes.values())
    assert 0 < signed <= 4  # one per link lost: the relay's neighbours
    # (and the said fields that changed since: the new relay's claim, issue 18, farsign)
    said = sum(s.said_parts.signed - before[n][1] for n, s in venue.net.nodes.items())
    for name, sync in venue.net.nodes.items():
        # each distinct notice and said part verified once, at most (and the dead relay's last
        # renewal of its claim, signed before it died, on its way: forgedrise)
        assert _checker(sync).verified - before[name][0] <= signed + said + 1


def _checker(sync: Synchronizer) -> DeviceWordChecker:
    check = sync.config.held_check
    assert isinstance(check, DeviceWordChecker)
    return check


def test_with_no_signed_notice_a_dead_relay_leaves_the_election_when_its_record_goes_stale(
    authority: VenueAuthority,
) -> None:
    """Every node checks, none signs a notice (as behind N−1 neighbours, whose notices are
    unsigned): the notices move nothing, and the far nodes elect another once the dead relay's
    record is no longer refreshed (twice a direct heartbeat's timeout), as before notices existed.
    **Changed** (issue 18, farsign): the nodes sign their far records' said fields (without, a far
    node is no candidate beyond its links, ``sync/_far_signing.py``), only their notices not."""
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
        sync._sign_notice = lambda node, seq, now: None  # type: ignore[method-assign]
    venue.settle(8.0)
    relay, _ = _kill_relay(venue)
    took = venue.until(lambda: (r := venue.agreed_relay()) is not None and r != relay, limit=9.0)
    assert took > 1.0  # (not by a notice: the silence)
    assert not any(venue.net.nodes[n].notices.signed for n in venue.net.nodes)


def _notice(authority: VenueAuthority, by: str, node: str = "R003", seq: int = 5) -> SignedHeld:
    return DeviceWordSigner(identity(authority, by))(notice_body(node, by, seq, VENUE))


def _node(authority: VenueAuthority, name: str = "R001") -> Synchronizer:
    sync = Synchronizer(venue=VENUE, node_id=name, role="register", client_id=7, config=CONFIG)
    keyed(sync, authority)
    sync.open_doc(DOC)
    return sync


@pytest.mark.parametrize("how", ["body", "signer", "venue", "garbage"])
def test_a_bad_notice_closes_the_session_and_changes_nothing_of_the_beat(
    authority: VenueAuthority, tmp_path: Path, how: str
) -> None:
    genuine = _notice(authority, "R002")
    if how == "body":  # the seq changed on the way
        bad = replace(genuine, body=genuine.body.replace('"seq":5', '"seq":6'))
    elif how == "signer":  # R004's real key, a notice in R002's name
        bad = DeviceWordSigner(identity(authority, "R004"))(notice_body("R003", "R002", 5, VENUE))
    elif how == "venue":  # a device of another venue's CA
        other = init_venue(tmp_path / "other", "Elsewhere", VENUE)
        bad = DeviceWordSigner(identity(other, "R002"))(notice_body("R003", "R002", 5, VENUE))
    else:
        bad = replace(genuine, sig="bm90IGEgc2lnbmF0dXJl")
    sync = _node(authority)
    record = FarRecord("R005", "register", 1, True, True, 9)
    beat = Heartbeat("R002", "register", 1, False, False, 3, far=(record,), gones=(genuine, bad))
    with pytest.raises(GoneSignatureRefused, match="signed gone notice"):
        sync._on_heartbeat(beat)
    assert sync.presence == {}  # (neither the sender, nor its far record, nor a mark)
    assert not sync._far.marked("R003")


@pytest.mark.parametrize("features", [FEATURES, FEATURES - {GONE_SIGNED_FEATURE}])
def test_gones_round_trips_and_is_gated(
    authority: VenueAuthority, features: frozenset[str]
) -> None:
    signed = _notice(authority, "R002")
    beat = Heartbeat("R2", "register", 1, False, False, 3, gones=(signed,))
    decoded = decode_heartbeat(heartbeat_body(beat, features))
    assert decoded.gones == ((signed,) if GONE_SIGNED_FEATURE in features else ())


def test_malformed_notices_are_refused_naming_the_field(authority: VenueAuthority) -> None:
    signed = _notice(authority, "R002")
    good = {"b": signed.body, "c": signed.cert, "s": signed.sig}
    base = json.loads(
        heartbeat_body(Heartbeat("R2", "register", 1, False, False, 3), FEATURES).decode()
    )
    no_cert = {"b": signed.body, "s": signed.sig}
    for bad in ([], [good] * (MAX_GONES + 1), [{**good, "s": "not base64!"}], [no_cert], [1]):
        with pytest.raises(RemoteProtocolError, match="field 'gones'"):
            decode_heartbeat(json.dumps({**base, "gones": bad}).encode())


def test_a_notice_body_is_no_attestation_and_a_word_no_notice(authority: VenueAuthority) -> None:
    """One key signs both under one domain: neither body passes for the other's (``_gone_words``)."""
    with pytest.raises(HeldSignatureRefused):
        decode_word(notice_body("R003", "R002", 5, VENUE))
    with pytest.raises(GoneSignatureRefused):
        decode_notice(word_body("R002", VENUE, {DOC: {5: 1}}))


def test_a_stopping_node_signs_no_notice_about_the_peers_it_leaves(
    authority: VenueAuthority,
) -> None:
    """Its own goodbyes close its links: its peers are alive. It signed each of them gone (found by
    tests/mesh/test_gone_notices_mesh.py), the notices went out behind its goodbyes, some nodes took
    the venue's new relay out of the election till its records took them back (issue 18, notices)."""
    venue = _keyed(authority)
    relay = venue.agreed_relay()
    assert relay is not None
    sync = venue.net.nodes[relay]
    peers = [s.peer.node for s in sync.sessions.values() if s.peer is not None]
    assert peers
    signed = sync.notices.signed
    for key in list(sync.sessions):
        sync.close(key, "node shutting down")
    venue.net.pump(relay)
    assert sync.notices.signed == signed
    assert not any(sync._far.marked(peer) for peer in peers)
