"""Attestations signed by their nodes (issue 18, sign: sync/_held_signed.py, sync/_attesting.py).

Strict synchronizers on the in-memory network, each with its own device key of a real venue CA (the
nodes' signer and checker, ``trust/device_word.py``): a seller counts every device of a venue larger
than its links, each beyond them through its signed word (the count an unsigned venue had); an idle
venue signs and verifies nothing again; strict nodes take no unsigned word passed on (the count is then
the seller's links: lower, never higher); the field round-trips, is gated and bounded.
"""

from __future__ import annotations

import datetime
import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest
from pycrdt import Map

from meshpos.errors import RemoteProtocolError
from meshpos.model.replica import decode_state_vector
from meshpos.model.tally import covers
from meshpos.sync import ConsoleSignatureRefused, HeldCheck, SignedConsole, Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._codec import HEARTBEAT, messages_in
from meshpos.sync._features import FEATURES
from meshpos.sync._gone_words import notice_body
from meshpos.sync._held import HeldTable
from meshpos.sync._held_signed import (
    HELD_SIGNED_FEATURE,
    MAX_WORDS,
    HeldSignatureRefused,
    SignedHeld,
    decode_word,
    word_body,
    word_node,
)
from meshpos.sync._messages import Heartbeat
from meshpos.sync._said_words import said_body
from meshpos.sync.memory import MemoryNetwork
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner
from meshpos.trust.identity import DeviceIdentity

from ..trust.helpers import issue_identity
from .helpers import VENUE
from .test_sync_topology import CONFIG, DOC, names


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


_ISSUED: dict[tuple[str, str], DeviceIdentity] = {}


def identity(authority: VenueAuthority, name: str) -> DeviceIdentity:
    """The device's identity in ``authority``'s venue (issued once: a venue issues an id once)."""
    key = (authority.ca_pem, name)
    if key not in _ISSUED:
        _ISSUED[key] = issue_identity(authority, name)
    return _ISSUED[key]


def no_console(signed: SignedConsole) -> None:
    raise ConsoleSignatureRefused("no console in this venue")


class SignedVenue:
    """``n`` registers, strict (the console's word only signed), each signing with its own key;
    ``signing=False``: strict but without signers (their words go unsigned, as an N−1 node's)."""

    def __init__(
        self,
        authority: VenueAuthority,
        n: int,
        *,
        signing: bool = True,
        strict: bool | Literal["auto"] = True,
    ) -> None:
        self.rng = random.Random(5)
        self.heartbeats: list[tuple[str, str, bytes]] = []
        self.net = MemoryNetwork(self.rng, tap=self._tap, listener=lambda node, event: None)
        self.signers: dict[str, DeviceWordSigner] = {}
        self.checkers: dict[str, DeviceWordChecker] = {}
        for i, name in enumerate(names(n)):
            signer = self.signers[name] = DeviceWordSigner(identity(authority, name))
            checker = self.checkers[name] = DeviceWordChecker(authority.ca_pem, VENUE)
            config = replace(
                CONFIG,
                console_check=no_console,
                console_signed=strict,
                held_signer=signer if signing else None,
                held_check=checker,
            )
            sync = Synchronizer(
                venue=VENUE,
                node_id=name,
                role="register",
                client_id=self.rng.randrange(1, 2**53),
                config=config,
            )
            sync.set_uplink(i % 3 == 0)
            sync.open_doc(DOC)
            self.net.add(sync, features=FEATURES)

    def _tap(self, sender: str, receiver: str, data: bytes) -> None:
        if data[:1] == bytes([HEARTBEAT]):
            self.heartbeats.append((sender, receiver, data))

    def write(self, name: str, key: str) -> tuple[int, int]:
        sync = self.net.nodes[name]
        doc = sync.docs[DOC]
        with doc.transaction():
            doc.get("sales", type=Map)[key] = "x" * 300
        self.net.pump(name)
        return sync.client_id, decode_state_vector(doc.get_state())[sync.client_id]

    def counted(self, seller: str, client: int, clock: int) -> set[str]:
        held = self.net.nodes[seller].held_by(DOC)
        return {seller} | {n for n, state in held.items() if covers(state, {client: clock})}

    def until(self, condition: object, limit: float) -> None:
        start = self.net.now
        while not condition():  # type: ignore[operator]
            assert self.net.now - start <= limit, f"not within {limit} simulated seconds"
            self.net.advance(0.01, step=0.01)


def test_a_strict_seller_counts_every_device_beyond_its_links_by_their_signed_words(
    authority: VenueAuthority,
) -> None:
    venue = SignedVenue(authority, 12)
    venue.net.advance(20.0, step=0.05)  # every node knows each author's node (far records)
    seller = "R005"
    beyond = set(venue.net.nodes) - set(venue.net.links()[seller]) - {seller}
    assert beyond  # the count needs words from devices the seller has no link with
    client, clock = venue.write(seller, "a-sale")
    venue.until(lambda: venue.counted(seller, client, clock) == set(venue.net.nodes), 15.0)
    table = venue.net.nodes[seller]._attested
    for node in beyond:  # each of those counted on its own signed word, passed on as it came
        proof = table.proof((node, DOC, client))
        assert isinstance(proof, SignedHeld), node
        assert decode_word(proof.body).node == node


def test_an_idle_venue_signs_and_verifies_nothing_again(authority: VenueAuthority) -> None:
    venue = SignedVenue(authority, 12)
    venue.net.advance(20.0, step=0.05)
    for name in names(12):
        venue.write(name, f"sale-{name}")
    venue.net.advance(20.0, step=0.05)  # every word made, passed on and re-sent at least once
    signed = {n: s.signed for n, s in venue.signers.items()}
    verified = {n: c.verified for n, c in venue.checkers.items()}
    assert sum(signed.values()) > 0
    assert sum(verified.values()) > 0
    relays = {s.relay for s in venue.net.nodes.values()}
    assert len(relays) == 1
    relay = relays.pop()
    assert relay is not None
    renewed = venue.net.nodes[relay].said_parts.signed
    venue.net.advance(30.0, step=0.05)  # six anti-entropy periods: own words queued again
    # but the relay claimant's said fields, signed again every 5 s (forgedrise: its far nodes
    # leave it once its renewals stop, ``FarTable.uplinks``), each verified once by each node (and
    # one signed before, on its way)
    renewals = venue.net.nodes[relay].said_parts.signed - renewed
    assert 5 <= renewals <= 7
    signed[relay] += renewals
    assert {n: s.signed for n, s in venue.signers.items()} == signed
    for name, checker in venue.checkers.items():
        assert verified[name] <= checker.verified <= verified[name] + renewals + 1


def test_each_word_of_a_beat_is_checked_once(authority: VenueAuthority) -> None:
    """The receiver checks a beat's words before it takes anything, and takes its attestations on
    those checks: no word is checked twice (issue 18, recv: the certificate's dates, the deny-list
    and the caches were asked again for every word, half of a 50-device venue's word checks)."""
    venue = SignedVenue(authority, 12)
    venue.net.advance(20.0, step=0.05)
    calls: Counter[str] = Counter()
    for name, checker in venue.checkers.items():
        config = venue.net.nodes[name].config
        venue.net.nodes[name].config = replace(config, held_check=_counting(checker, name, calls))
    words: Counter[str] = Counter()  # words received, batched beats' too

    def tap(sender: str, receiver: str, data: bytes) -> None:
        for message in messages_in(data):
            if message[:1] == bytes([HEARTBEAT]):
                beat = decode_heartbeat(message[1:])
                # (and the said fields' parts: the relay claimant renews its own, forgedrise)
                words[receiver] += len(beat.helds) + len(beat.saids)

    venue.net.tap = tap
    for i, seller in enumerate(("R001", "R005", "R009")):
        venue.write(seller, f"sale-{i}")
    venue.net.advance(10.0, step=0.05)
    assert sum(calls.values()) > 0  # words passed on beyond the links, checked
    # (a word by reference to a certificate not held here is not checked at all)
    assert {n: c for n, c in calls.items() if c > words[n]} == {}


def _counting(check: DeviceWordChecker, name: str, calls: Counter[str]) -> HeldCheck:
    def counted(word: SignedHeld) -> str:
        calls[name] += 1
        return check(word)

    return counted


def test_strict_nodes_take_no_unsigned_word_passed_on(authority: VenueAuthority) -> None:
    venue = SignedVenue(authority, 12, signing=False)
    venue.net.advance(20.0, step=0.05)
    seller = "R005"
    linked = set(venue.net.links()[seller])
    client, clock = venue.write(seller, "a-sale")
    venue.net.advance(15.0, step=0.05)
    # its links said it themselves (their step 1s, their own words): the rest is not proven
    assert venue.counted(seller, client, clock) == linked | {seller}


def word(authority: VenueAuthority, node: str = "R1") -> SignedHeld:
    signer = DeviceWordSigner(identity(authority, node))
    return signer(word_body(node, VENUE, {DOC: {12345: 7}}))


@pytest.mark.parametrize("features", [FEATURES, FEATURES - {HELD_SIGNED_FEATURE}])
def test_helds_round_trips_and_is_gated(
    authority: VenueAuthority, features: frozenset[str]
) -> None:
    signed = word(authority)
    beat = Heartbeat("R2", "register", 1, False, False, 3, helds=(signed,))
    decoded = decode_heartbeat(heartbeat_body(beat, features))
    assert decoded.helds == ((signed,) if HELD_SIGNED_FEATURE in features else ())


def test_malformed_words_are_refused_naming_the_field(authority: VenueAuthority) -> None:
    signed = word(authority)
    good = {"b": signed.body, "c": signed.cert, "s": signed.sig}
    base = json.loads(
        heartbeat_body(Heartbeat("R2", "register", 1, False, False, 3), FEATURES).decode()
    )
    for bad in ([], [good] * (MAX_WORDS + 1), [{**good, "s": "not base64!"}], [{"b": 1}]):
        with pytest.raises(RemoteProtocolError, match="field 'helds'"):
            decode_heartbeat(json.dumps({**base, "helds": bad}).encode())


def test_a_word_is_checked_against_the_venue_and_its_signer(
    authority: VenueAuthority, tmp_path: Path
) -> None:
    checker = DeviceWordChecker(authority.ca_pem, VENUE)
    signed = word(authority, "R7")
    assert checker(signed) == "R7"
    assert checker(signed) == "R7"
    assert checker.verified == 1
    other = init_venue(tmp_path / "other", "Elsewhere", VENUE)  # same id, another CA
    with pytest.raises(HeldSignatureRefused, match="not issued by the venue CA"):
        checker(word(other, "R7"))
    tampered = SignedHeld(
        signed.body.replace('"7"', '"8"').replace(":7}", ":9}"), signed.cert, signed.sig
    )
    with pytest.raises(HeldSignatureRefused, match="signature does not match"):
        checker(tampered)
    checker.is_revoked = lambda device: device == "R7"
    with pytest.raises(HeldSignatureRefused, match="revoked"):
        checker(signed)


def test_a_certificate_goes_once_per_link_then_words_name_it(authority: VenueAuthority) -> None:
    venue = SignedVenue(authority, 12)
    venue.net.advance(20.0, step=0.05)
    for name in names(12):
        venue.write(name, f"sale-{name}")
    venue.net.advance(20.0, step=0.05)
    whole: dict[tuple[str, str], list[str]] = {}
    by_reference = 0
    for sender, receiver, data in venue.heartbeats:
        for item in json.loads(data[1:]).get("helds", []):
            if "c" in item:
                whole.setdefault((sender, receiver), []).append(word_node(item["b"]))
            else:
                by_reference += 1
    assert by_reference > 0
    for link, nodes in whole.items():  # (the links stayed up: one session each)
        assert len(nodes) == len(set(nodes)), link


def test_a_node_turning_strict_forgets_the_unproven_and_a_proof_upgrades_a_clock() -> None:
    table = HeldTable()
    proof = SignedHeld("{}", "", "c2ln")
    assert table.learn("R2", DOC, 5, 10, False)  # passed on unsigned (not strict then)
    assert table.learn("R3", DOC, 5, 10, None)  # said by R3 itself on its own link
    assert table.learn("R4", DOC, 5, 10, False)
    assert table.learn("R4", DOC, 5, 10, proof)  # the same clock, now signed: kept and passed on
    assert not table.learn("R4", DOC, 5, 10, False)  # an unsigned copy takes nothing back
    table.forget_unproven()
    assert table.of(DOC) == {"R2": {}, "R3": {5: 10}, "R4": {5: 10}}
    assert table.proof(("R4", DOC, 5)) == proof


def test_turning_strict_drops_the_unsigned_count_then_the_signed_words_restore_it(
    authority: VenueAuthority,
) -> None:
    """``console_signed = "auto"`` before the console's first statement: not strict, nothing is
    signed, the seller counts every device on unsigned words passed on. Turned strict (the first
    statement), what was passed on unsigned is forgotten at once (a device may have lied), and
    the devices' signed words bring the count back within an anti-entropy period or two."""
    venue = SignedVenue(authority, 12, strict="auto")
    venue.net.advance(20.0, step=0.05)
    seller = "R005"
    linked = set(venue.net.links()[seller])
    client, clock = venue.write(seller, "a-sale")
    venue.until(lambda: venue.counted(seller, client, clock) == set(venue.net.nodes), 15.0)
    assert _words_signed(venue) == 0  # not strict: no attestation signed
    for sync in venue.net.nodes.values():
        sync._turn_strict()  # (what the console's first checked statement does on each node)
    assert venue.counted(seller, client, clock) <= linked | {seller}  # at once: lower
    venue.until(lambda: venue.counted(seller, client, clock) == set(venue.net.nodes), 15.0)
    assert _words_signed(venue) > 0


def _words_signed(venue: SignedVenue) -> int:
    """The attestations' words signed: every signature of the venue's keys but the far records'
    said fields (issue 18, farsign: signed whether strict or not, ``sync/_far_signing.py``)."""
    said = sum(s.said_parts.signed for s in venue.net.nodes.values())
    return sum(s.signed for s in venue.signers.values()) - said


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (word_body("R7", VENUE, {DOC: {12345: 7}}), "signed attestation of 'R7'"),
        (notice_body("R3", "R7", 9, VENUE), "signed gone notice of 'R7'"),
        (
            said_body("R7", ("register", 1, False, False, ""), 9, VENUE),
            "signed said fields of 'R7'",
        ),
    ],
)
def test_a_refusal_names_the_kind_of_word(authority: VenueAuthority, body: str, kind: str) -> None:
    """Each kind of signed word is refused as what it is (a gone notice of a revoked device read
    "signed attestation of ..." in the closed session's reason before)."""
    checker = DeviceWordChecker(authority.ca_pem, VENUE)
    signed = DeviceWordSigner(identity(authority, "R7"))(body)
    assert checker(signed) == "R7"
    with pytest.raises(HeldSignatureRefused, match=f"^{kind}: the signature does not match$"):
        checker(replace(signed, body=body.replace("R7", "R8")))
    checker.is_revoked = lambda device: device == "R7"
    with pytest.raises(HeldSignatureRefused, match=f"^{kind}, revoked"):
        checker(signed)
    checker.is_revoked = lambda device: False
    checker.now = lambda: datetime.datetime(1999, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(HeldSignatureRefused, match=f"^{kind}: certificate not valid now$"):
        checker(signed)
