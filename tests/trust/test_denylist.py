"""Deny-list entries: only the venue CA can make one, any change breaks it, bad input never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpos.errors import EnrollmentRefused, TrustError
from meshpos.trust import (
    DenyList,
    VenueAuthority,
    init_venue,
    sign_revocation,
    verify_revocation,
)
from meshpos.trust.certs import new_private_key
from meshpos.trust.identity import new_csr

from .helpers import issue_identity


@pytest.fixture(scope="module")
def fuzz_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return init_venue(tmp_path_factory.mktemp("fuzz") / "venue", "fuzz").ca_pem


def test_signed_entry_verifies_and_survives_json(venue: VenueAuthority) -> None:
    entry = sign_revocation(venue, "reg1", 1_700_000_000_000, "lost")
    assert set(entry) == {"device", "at", "reason", "sig"}
    assert verify_revocation(venue.ca_pem, entry)
    assert verify_revocation(venue.ca_pem.encode(), json.loads(json.dumps(entry)))


def test_integral_float_time_from_pycrdt_is_accepted(venue: VenueAuthority) -> None:
    entry = sign_revocation(venue, "reg1", 1_700_000_000_000, "lost")
    as_read_from_pycrdt = {**entry, "at": 1_700_000_000_000.0}
    deny = DenyList(venue.ca_pem)
    assert deny.add(as_read_from_pycrdt)
    assert deny.entries() == [entry]
    assert isinstance(deny.entries()[0]["at"], int)
    assert not verify_revocation(venue.ca_pem, {**entry, "at": 1_700_000_000_000.5})


@pytest.mark.parametrize(
    "change",
    [
        {"device": "reg2"},
        {"at": 1_700_000_000_001},
        {"reason": "lost!"},
        {"sig": "AAAA"},
        {"sig": "not base64 !!"},
        {"at": True},
        {"at": -1},
        {"at": 2**53},
        {"at": "1700000000000"},
        {"device": "bad id"},
        {"reason": None},
        {"extra": "field"},
    ],
)
def test_any_change_is_rejected(venue: VenueAuthority, change: dict[str, Any]) -> None:
    entry: dict[str, Any] = {**sign_revocation(venue, "reg1", 1_700_000_000_000, "lost"), **change}
    assert not verify_revocation(venue.ca_pem, entry)
    assert not DenyList(venue.ca_pem).add(entry)


def test_flipped_signature_bit_is_rejected(venue: VenueAuthority) -> None:
    entry = sign_revocation(venue, "reg1", 1, "")
    sig = str(entry["sig"])
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert not verify_revocation(venue.ca_pem, {**entry, "sig": flipped})


def test_entry_of_another_ca_is_rejected(
    venue: VenueAuthority, other_venue: VenueAuthority
) -> None:
    foreign = sign_revocation(other_venue, "reg1", 1, "same venue id, other key")
    assert verify_revocation(other_venue.ca_pem, foreign)
    assert not verify_revocation(venue.ca_pem, foreign)
    assert not DenyList(venue.ca_pem).add(foreign)


@pytest.mark.parametrize(
    "garbage",
    [None, 0, "x", b"x", [], {}, {"device": "reg1"}, {"device": "reg1", "at": 1, "reason": ""}],
)
def test_garbage_is_rejected_without_raising(venue: VenueAuthority, garbage: object) -> None:
    assert not verify_revocation(venue.ca_pem, garbage)
    assert not verify_revocation("not a certificate", garbage)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["device", "at", "reason", "sig", "x"]), inner)
        ),
        max_leaves=10,
    )
)
def test_verify_never_raises(fuzz_ca: str, entry: object) -> None:
    assert verify_revocation(fuzz_ca, entry) is False


def test_deny_list_counts_only_valid_entries_and_ignores_case(venue: VenueAuthority) -> None:
    deny = DenyList(venue.ca_pem)
    assert not deny.add({"device": "reg1", "at": 1, "reason": "", "sig": "AAAA"})
    assert not deny.is_revoked("reg1")
    assert deny.add(sign_revocation(venue, "Reg1", 5, "stolen"))
    assert deny.is_revoked("Reg1")
    assert deny.is_revoked("reg1")  # the same TLS host name
    assert not deny.is_revoked("reg2")
    assert [e["device"] for e in deny.entries()] == ["Reg1"]


def test_nodes_converge_whatever_order_entries_arrive_in(venue: VenueAuthority) -> None:
    first = sign_revocation(venue, "reg1", 5, "stolen")
    later = sign_revocation(venue, "reg1", 9, "stolen again")
    a, b = DenyList(venue.ca_pem), DenyList(venue.ca_pem)
    for entry in (first, later):
        assert a.add(entry)
    for entry in (later, first):
        assert b.add(entry)
    assert a.entries() == b.entries() == [first]


def test_deny_list_needs_a_valid_ca() -> None:
    with pytest.raises(TrustError, match="not a valid EC PEM certificate"):
        DenyList("junk")


def test_sign_refuses_bad_arguments(venue: VenueAuthority) -> None:
    with pytest.raises(TrustError, match="device id"):
        sign_revocation(venue, "bad id", 1, "")
    with pytest.raises(TrustError, match="revocation time"):
        sign_revocation(venue, "reg1", -1, "")
    with pytest.raises(TrustError, match="reason"):
        sign_revocation(venue, "reg1", 1, "x" * 201)


def test_venue_revoke_records_and_is_idempotent(venue: VenueAuthority) -> None:
    issue_identity(venue, "reg1")
    entry = venue.revoke("reg1", "stolen")
    assert verify_revocation(venue.ca_pem, entry)
    assert entry["device"] == "reg1"
    assert entry["reason"] == "stolen"
    assert venue.revoked() == {"reg1": entry}
    assert json.loads((venue.directory / "revoked.json").read_text()) == {"reg1": entry}
    assert venue.revoke("reg1", "again") == entry


def test_venue_revoke_refuses_unknown_devices(venue: VenueAuthority) -> None:
    issue_identity(venue, "reg1")
    with pytest.raises(TrustError, match=r"'reg9' was never issued .* \(issued: reg1\)"):
        venue.revoke("reg9")


def test_revoked_device_id_is_never_issued_again(venue: VenueAuthority) -> None:
    issue_identity(venue, "reg1")
    venue.revoke("reg1")
    for reissue in (False, True):
        with pytest.raises(EnrollmentRefused, match="revoked"):
            venue.issue(new_csr(new_private_key(), "REG1"), "REG1", "register", reissue=reissue)
