"""Mutual TLS over loopback with the real contexts: who gets in, who is refused, what the server learns."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshpos.errors import CertificateRefused, DeviceRevoked
from meshpos.trust import (
    DenyList,
    DeviceIdentity,
    PeerInfo,
    VenueAuthority,
    client_ssl_context,
    device_hostname,
    peer_certificate_info,
    server_ssl_context,
)
from meshpos.trust.certs import new_private_key

from .helpers import build_cert, device_san, issue_identity, self_signed_identity, tls_exchange


async def test_a_good_pair_connects_and_learns_each_other(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "reg1", "register")
    client = issue_identity(venue, "kds_2", "kds")
    result = await tls_exchange(server, client_ssl_context(client))
    assert result.server == PeerInfo("kds_2", "kds", "venue-1")
    assert result.client == "hello kds_2\n"
    assert result.tls_version == "TLSv1.3"


async def test_device_of_another_ca_with_the_same_names_is_refused(
    venue: VenueAuthority, other_venue: VenueAuthority
) -> None:
    server = issue_identity(venue, "reg1")
    impostor = issue_identity(other_venue, "kds_2", "kds")  # same venue id, other CA key
    trusting_our_ca = ssl_context_trusting(impostor, venue.ca_pem)
    result = await tls_exchange(server, trusting_our_ca)
    assert isinstance(result.server, ssl.SSLCertVerificationError)
    assert isinstance(result.client, OSError)


async def test_server_of_another_ca_with_the_same_names_is_refused(
    venue: VenueAuthority, other_venue: VenueAuthority
) -> None:
    impostor_server = issue_identity(other_venue, "reg1")
    client = issue_identity(venue, "kds_2", "kds")
    result = await tls_exchange(impostor_server, client_ssl_context(client))
    assert isinstance(result.client, ssl.SSLCertVerificationError)
    assert isinstance(result.server, OSError)


async def test_self_signed_client_is_refused(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "reg1")
    result = await tls_exchange(server, client_ssl_context(self_signed_identity("kds_2", venue)))
    assert isinstance(result.server, ssl.SSLCertVerificationError)
    assert isinstance(result.client, OSError)


async def test_client_without_a_certificate_is_refused(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "reg1")
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.load_verify_locations(cadata=venue.ca_pem)
    result = await tls_exchange(server, bare)
    assert isinstance(result.server, ssl.SSLError)
    assert "certificate" in str(result.server)
    assert isinstance(result.client, OSError)


async def test_valid_device_under_the_wrong_name_is_refused(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "reg1")
    client = issue_identity(venue, "kds_2", "kds")
    result = await tls_exchange(server, client_ssl_context(client), expect_device="reg9")
    assert isinstance(result.client, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(result.client)
    assert "reg9.venue-1.invalid" in str(result.client)
    assert isinstance(result.server, OSError)


async def test_tls_1_2_is_refused(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "reg1")
    old = client_ssl_context(issue_identity(venue, "kds_2", "kds"))
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_2
    result = await tls_exchange(server, old)
    assert isinstance(result.client, OSError)
    assert "unsupported protocol" in str(result.server)


async def test_host_names_ignore_case(venue: VenueAuthority) -> None:
    server = issue_identity(venue, "Reg_1")
    client = issue_identity(venue, "kds_2", "kds")
    result = await tls_exchange(server, client_ssl_context(client), expect_device="reg_1")
    assert result.client == "hello kds_2\n"


def ssl_context_trusting(identity: DeviceIdentity, ca_pem: str) -> ssl.SSLContext:
    """A client context presenting ``identity``'s certificate but trusting ``ca_pem`` too."""
    ctx = client_ssl_context(identity)
    ctx.load_verify_locations(cadata=ca_pem)
    return ctx


def test_contexts_load_no_system_cas_and_leave_nothing_in_tmp(
    venue: VenueAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    identity = issue_identity(venue, "reg1")
    for ctx in (server_ssl_context(identity), client_ssl_context(identity)):
        assert ctx.cert_store_stats()["x509_ca"] == 1
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert client_ssl_context(identity).check_hostname
    assert list(scratch.iterdir()) == []


# --- reading a peer certificate --------------------------------------------------------------------


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_peer_info_of_an_issued_certificate(venue: VenueAuthority) -> None:
    identity = issue_identity(venue, "kds_2", "kds")
    cert = x509.load_pem_x509_certificate(identity.cert_pem.encode())
    assert peer_certificate_info(der(cert)) == PeerInfo("kds_2", "kds", "venue-1")
    with pytest.raises(CertificateRefused, match="for venue 'venue-1', not 'venue-2'"):
        peer_certificate_info(der(cert), venue_id="venue-2")


def test_peer_info_refuses_a_revoked_device(venue: VenueAuthority) -> None:
    identity = issue_identity(venue, "kds_2", "kds")
    deny = DenyList(venue.ca_pem)
    assert deny.add(venue.revoke("kds_2", "stolen"))
    cert = x509.load_pem_x509_certificate(identity.cert_pem.encode())
    with pytest.raises(DeviceRevoked, match="'kds_2' is revoked"):
        peer_certificate_info(der(cert), deny_list=deny)


R = "meshpos:role:register"
V = "meshpos:venue:venue-1"
HOST = "reg1.venue-1.invalid"


@pytest.mark.parametrize(
    ("cn", "san", "message"),
    [
        ("reg1", None, "has no subjectAltName"),
        ("bad id", device_san("reg1", "venue-1"), "no valid device id"),
        ("reg1", [x509.DNSName(HOST), x509.UniformResourceIdentifier(V)], "exactly one role URI"),
        (
            "reg1",
            [
                x509.DNSName(HOST),
                x509.UniformResourceIdentifier("meshpos:role:manager"),
                x509.UniformResourceIdentifier(V),
            ],
            "exactly one role URI",
        ),
        (
            "reg1",
            [
                x509.DNSName(HOST),
                x509.UniformResourceIdentifier(R),
                x509.UniformResourceIdentifier("meshpos:role:kds"),
                x509.UniformResourceIdentifier(V),
            ],
            "exactly one role URI",
        ),
        ("reg1", [x509.DNSName(HOST), x509.UniformResourceIdentifier(R)], "exactly one venue URI"),
        (
            "reg1",
            [
                x509.DNSName(HOST),
                x509.UniformResourceIdentifier(R),
                x509.UniformResourceIdentifier("meshpos:venue:bad venue"),
            ],
            "exactly one venue URI",
        ),
        ("reg1", device_san("reg2", "venue-1"), "exactly the host 'reg1.venue-1.invalid'"),
        (
            "reg1",
            [*device_san("reg1", "venue-1"), x509.DNSName("evil.example")],
            "exactly the host",
        ),
    ],
)
def test_peer_info_refuses_certificates_without_the_right_fields(
    cn: str, san: list[x509.GeneralName] | None, message: str
) -> None:
    key = new_private_key()
    with pytest.raises(CertificateRefused, match=message):
        peer_certificate_info(der(build_cert(key, key, cn=cn, san=san)))


def test_peer_info_refuses_garbage() -> None:
    with pytest.raises(CertificateRefused, match="not valid DER"):
        peer_certificate_info(b"\x30\x03junk")


def test_device_hostname_rule() -> None:
    assert device_hostname("reg_1", "venue-1") == "reg_1.venue-1.invalid"
    with pytest.raises(Exception, match="device id"):
        device_hostname("a.b", "venue-1")
