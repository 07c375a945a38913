"""A relay's proof of its device, as the console checks it (trust/relay_proof.py; red, fifteenth session).

The end to end case (a revoked register refused by a real console, an honest one admitted) is
tests/outside/test_revoked_relay.py; here each refusal and the N−1 rule, in memory.
"""

from __future__ import annotations

import base64

import pytest

from meshpos.trust import VenueAuthority
from meshpos.trust.relay_proof import CERT_HEADER, PROOF_HEADER, RelayAdmission, relay_proof

from .helpers import issue_identity

TOKEN = "the-venue-token"


def admission(venue: VenueAuthority) -> RelayAdmission:
    return RelayAdmission(venue.venue_id, venue.ca_pem, venue.revoked)


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
