"""A relay's proof of its device, as the console checks it (trust/relay_proof.py; red, fifteenth session).

The end to end case (a revoked register refused by a real console, an honest one admitted) is
tests/outside/test_revoked_relay.py; here each refusal and the N−1 rule, in memory. Issue 18 (admit):
``revoked.json`` parsed only when it changed, and the console's nonce that makes a proof single-use.
"""

from __future__ import annotations

import base64
import datetime
import os

import pytest
from cryptography import x509

from meshpos.errors import TrustError
from meshpos.trust import VenueAuthority
from meshpos.trust.authority import REVOKED
from meshpos.trust.relay_proof import (
    CERT_HEADER,
    NONCE_HEADER,
    NONCE_LINE,
    NONCE_TTL_S,
    PROOF_HEADER,
    RelayAdmission,
    RelayProof,
    RevokedFile,
    nonce_in_answer,
    relay_proof,
)

from .helpers import issue_identity

TOKEN = "the-venue-token"


class Clock:
    """The console's monotonic seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(venue: VenueAuthority, clock: Clock | None = None) -> RelayAdmission:
    revoked = RevokedFile(venue.directory / REVOKED, venue.revoked)
    return RelayAdmission(venue.venue_id, venue.ca_pem, revoked, clock=clock or Clock())


def test_an_honest_relay_is_admitted_and_a_revoked_one_is_not(venue: VenueAuthority) -> None:
    r1, r2 = issue_identity(venue, "R1"), issue_identity(venue, "R2")
    check = admission(venue)
    assert check.refusal(relay_proof(r1, TOKEN), TOKEN) is None
    venue.revoke("R1", "stolen")  # read again at every check: no restart
    assert check.refusal(relay_proof(r1, TOKEN), TOKEN) == (
        f"relay proof: 'R1' is revoked (on venue {venue.venue_id}'s deny-list)"
    )
    assert check.refusal(relay_proof(r2, TOKEN), TOKEN) is None


def test_a_relay_without_a_proof_is_admitted_only_while_nothing_is_revoked(
    venue: VenueAuthority,
) -> None:
    issue_identity(venue, "R1")
    check = admission(venue)
    assert check.refusal({}, TOKEN) is None  # an N−1 register, as before
    venue.revoke("R1")
    why = check.refusal({}, TOKEN)
    assert why is not None
    assert "has revoked devices (R1)" in why
    assert "sent no proof" in why


@pytest.mark.parametrize(
    "what",
    ["another token", "another venue", "a kitchen screen", "junk", "a swapped signature"],
)
def test_a_proof_that_does_not_hold_is_refused_by_name(
    venue: VenueAuthority, other_venue: VenueAuthority, what: str
) -> None:
    r1, r2 = issue_identity(venue, "R1"), issue_identity(venue, "R2")
    headers = relay_proof(r1, TOKEN)
    token = TOKEN
    if what == "another token":
        token = "a-new-token"  # the proof was made for the old one
    elif what == "another venue":
        headers = relay_proof(issue_identity(other_venue, "R1"), TOKEN)
    elif what == "a kitchen screen":
        headers = relay_proof(issue_identity(venue, "K1", role="kds"), TOKEN)
    elif what == "junk":
        headers = {CERT_HEADER: "not base64!", PROOF_HEADER: base64.b64encode(b"x").decode()}
    else:  # R1's certificate with R2's signature: R2 cannot pass as R1
        headers = {
            CERT_HEADER: headers[CERT_HEADER],
            PROOF_HEADER: relay_proof(r2, TOKEN)[PROOF_HEADER],
        }
    why = admission(venue).refusal(headers, token)
    assert why is not None
    assert why.startswith("relay proof: "), why


def test_revoked_json_is_parsed_again_only_when_it_changed(venue: VenueAuthority) -> None:
    """It was parsed at every probe, upgrade and per-second check of a linked relay; a revocation
    must still count from the very next check (no second's wait, no restart)."""
    issue_identity(venue, "R1")
    reads = RevokedFile(venue.directory / REVOKED, venue.revoked)
    for _ in range(100):
        assert reads() == {}
    assert reads.reads == 1
    venue.revoke("R1", "stolen")
    assert set(reads()) == {"R1"}
    assert reads.reads == 2
    # rewritten with the same size and modification time (its inode may be reused): ctime tells
    path = venue.directory / REVOKED
    stat = path.stat()
    text = path.read_text()
    path.unlink()
    path.write_text(text.replace('"R1"', '"R9"'))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert set(reads()) == {"R9"}


def test_a_broken_revoked_json_is_an_error_every_time_and_never_cached(
    venue: VenueAuthority,
) -> None:
    reads = RevokedFile(venue.directory / REVOKED, venue.revoked)
    assert reads() == {}
    path = venue.directory / REVOKED
    path.write_text("{not json")
    for _ in range(2):
        with pytest.raises(TrustError, match=r"revoked\.json: not valid JSON"):
            reads()
    path.write_text("{}\n")
    assert reads() == {}


def fresh(check: RelayAdmission, proof: RelayProof) -> dict[str, str]:
    """What a relay sends on its upgrade: its proof over the nonce of the console's probe answer."""
    answer = f"ok: venue token accepted\n{NONCE_LINE}{check.issue_nonce()}\n".encode()
    nonce = nonce_in_answer(answer)
    assert nonce
    return proof.fresh(nonce)


def test_a_fresh_proof_is_taken_once(venue: VenueAuthority) -> None:
    r2 = RelayProof(issue_identity(venue, "R2"), TOKEN)
    issue_identity(venue, "R1")
    venue.revoke("R1")
    check = admission(venue)
    headers = fresh(check, r2)
    assert check.refusal(headers, TOKEN, upgrade=True) is None
    why = check.refusal(headers, TOKEN, upgrade=True)  # seen on a ws:// line, sent again
    assert why == "relay proof: the console nonce was used already: a replayed proof"
    assert check.refusal(fresh(check, r2), TOKEN, upgrade=True) is None  # its next dial


def test_a_proof_without_a_nonce_passes_a_probe_but_not_an_upgrade_once_any_is_revoked(
    venue: VenueAuthority,
) -> None:
    """The fifteenth session's proof (no nonce) could be replayed by whoever saw it and holds the
    token. An N−1 relay still comes in while nothing is revoked, as before."""
    r2 = RelayProof(issue_identity(venue, "R2"), TOKEN)
    issue_identity(venue, "R1")
    check = admission(venue)
    assert check.refusal(r2, TOKEN, upgrade=True) is None  # nothing revoked: as before
    venue.revoke("R1")
    assert check.refusal(r2, TOKEN) is None  # a probe admits nothing: where the nonce comes from
    why = check.refusal(r2, TOKEN, upgrade=True)
    assert why is not None
    assert "must carry the console's nonce" in why, why
    assert "upgrade meshpos on it" in why, why


def test_a_stale_nonce_and_another_consoles_nonce_are_refused(venue: VenueAuthority) -> None:
    r2 = RelayProof(issue_identity(venue, "R2"), TOKEN)
    clock = Clock()
    check = admission(venue, clock)
    headers = fresh(check, r2)
    clock.now += NONCE_TTL_S + 1  # the register's clock plays no part: the console's moved
    assert check.refusal(headers, TOKEN, upgrade=True) == (
        "relay proof: the console nonce is over 30 s old (replayed?)"
    )
    restarted = admission(venue, clock)  # a new process: a new secret
    why = restarted.refusal(fresh(check, r2), TOKEN, upgrade=True)
    assert why is not None
    assert "not this console's" in why, why


def test_every_console_process_of_the_venue_takes_the_others_nonce_once(
    venue: VenueAuthority,
) -> None:
    """Several console processes may serve a venue (one PostgreSQL): a relay's probe and its dial
    may reach two of them, or one restarted meanwhile. The secret comes from the venue CA's key."""
    r2 = RelayProof(issue_identity(venue, "R2"), TOKEN)
    secret = venue.derived_secret("relay nonce")
    assert secret == venue.derived_secret("relay nonce") != venue.derived_secret("other")

    def process() -> RelayAdmission:
        revoked = RevokedFile(venue.directory / REVOKED, venue.revoked)
        return RelayAdmission(venue.venue_id, venue.ca_pem, revoked, secret=secret)

    probed, dialled = process(), process()
    headers = fresh(probed, r2)
    assert dialled.refusal(headers, TOKEN, upgrade=True) is None
    why = dialled.refusal(headers, TOKEN, upgrade=True)
    assert why is not None
    assert "used already" in why


def test_a_nonce_swapped_under_a_signature_is_refused(venue: VenueAuthority) -> None:
    """R2's signature is over the nonce it was given: another (fresh) nonce beside it fails."""
    r2 = RelayProof(issue_identity(venue, "R2"), TOKEN)
    check = admission(venue)
    headers = {**fresh(check, r2), NONCE_HEADER: check.issue_nonce()}
    assert check.refusal(headers, TOKEN, upgrade=True) == (
        "relay proof: the signature is not 'R2''s over this venue, token and console nonce"
    )
    for junk in ("x" * 48, "short", "é" * 48):
        headers[NONCE_HEADER] = junk
        why = check.refusal(headers, TOKEN, upgrade=True)
        assert why is not None
        assert why.startswith("relay proof: the console nonce is"), why


def test_a_probe_answer_without_a_nonce_gives_none() -> None:
    """An N−1 console's answer: the relay sends its nonce-less proof, as before."""
    assert nonce_in_answer(b"ok: venue token accepted\n") == ""
    assert nonce_in_answer(b"ok\nnonce: ../../etc\n") == ""


def test_a_probes_proof_is_verified_once_and_its_time_and_revocation_every_time(
    venue: VenueAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A register that is not the relay probes twice a second with the same nonce-less proof: its
    two ECDSA verifies were made at every probe. What a remembered proof must still not skip: the
    certificate's validity now, the deny-list now, and the token it was made for."""
    from meshpos.trust.certs import issued_by as real

    verified: list[object] = []

    def counting(cert: x509.Certificate, ca: x509.Certificate) -> bool:
        verified.append(cert)
        return real(cert, ca)

    monkeypatch.setattr("meshpos.trust.relay_proof.issued_by", counting)
    moment = [datetime.datetime.now(datetime.UTC)]
    r2 = relay_proof(issue_identity(venue, "R2"), TOKEN)
    revoked = RevokedFile(venue.directory / REVOKED, venue.revoked)
    check = RelayAdmission(venue.venue_id, venue.ca_pem, revoked, now=lambda: moment[0])
    for _ in range(100):
        assert check.refusal(r2, TOKEN) is None
    assert len(verified) == 1
    why = check.refusal(r2, "a-new-token")
    assert why is not None
    assert "is not 'R2''s over this venue and token" in why, why
    moment[0] += datetime.timedelta(days=6 * 365)
    assert check.refusal(r2, TOKEN) == "relay proof: the certificate of 'R2' is not valid now"
    moment[0] = datetime.datetime.now(datetime.UTC)
    venue.revoke("R2")
    assert check.refusal(r2, TOKEN) == (
        f"relay proof: 'R2' is revoked (on venue {venue.venue_id}'s deny-list)"
    )


def test_a_relays_last_probe_nonce_serves_its_next_dial_once_and_while_young(
    venue: VenueAuthority,
) -> None:
    """The relay probes twice a second until it links: its dial signs the last probe's nonce rather
    than probing once more (a round trip less in a failover), once, and not an old one."""
    clock = Clock()
    proof = RelayProof(issue_identity(venue, "R2"), TOKEN, clock=clock)
    check = admission(venue, clock)
    proof.offer(check.issue_nonce())
    nonce = proof.take()
    assert nonce
    assert proof.take() is None  # given out once: the link probes first
    assert check.refusal(proof.fresh(nonce), TOKEN, upgrade=True) is None
    proof.offer(check.issue_nonce())
    clock.now += NONCE_TTL_S / 3 + 1
    assert proof.take() is None  # too old to be sure it reaches the console in time
    proof.offer("")  # a console that gives none (N−1, no --venue): no probe more before the dial
    assert proof.take() == ""
