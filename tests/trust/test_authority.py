"""Venue CA: files and modes on init, certificates it issues, the issued registry, clear load errors."""

from __future__ import annotations

import datetime
import json
import stat
import string
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshpos.errors import EnrollmentRefused, TrustError
from meshpos.trust import VenueAuthority, init_venue, load_venue, new_token, stored_token
from meshpos.trust.certs import new_private_key
from meshpos.trust.identity import new_csr

from .helpers import issue_identity


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_the_venue_files_with_private_modes(venue: VenueAuthority) -> None:
    d = venue.directory
    assert {p.name for p in d.iterdir()} >= {
        "venue.toml",
        "ca.key",
        "ca.pem",
        "console-token",
        "issued.json",
        "revoked.json",
    }
    assert mode(d) == 0o700
    assert mode(d / "ca.key") == 0o600
    assert mode(d / "console-token") == 0o600
    assert tomllib.loads((d / "venue.toml").read_text()) == {
        "venue_id": "venue-1",
        "name": "Cafe Central",
    }
    assert json.loads((d / "issued.json").read_text()) == {}
    assert len(venue.console_token) >= 40
    assert not list(d.glob(".*.tmp-*"))


def test_ca_certificate_is_a_backdated_long_lived_ca(venue: VenueAuthority) -> None:
    ca = x509.load_pem_x509_certificate(venue.ca_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert now - ca.not_valid_before_utc > datetime.timedelta(hours=23)
    assert ca.not_valid_after_utc - now > datetime.timedelta(days=10 * 365)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)


def test_default_venue_id_is_a_uuid_and_odd_names_round_trip(tmp_path: Path) -> None:
    v = init_venue(tmp_path / "v", '  Café "Zur Post" \\ 🍺 ')
    assert len(v.venue_id) == 36
    assert load_venue(tmp_path / "v").name == 'Café "Zur Post" \\ 🍺'


def test_init_refuses_an_existing_venue(venue: VenueAuthority) -> None:
    before = (venue.directory / "ca.key").read_bytes()
    with pytest.raises(TrustError, match="already holds a venue"):
        init_venue(venue.directory, "Other")
    assert (venue.directory / "ca.key").read_bytes() == before


@pytest.mark.parametrize(
    ("name", "venue_id", "message"),
    [
        ("", None, "venue name"),
        ("bad\nname", None, "venue name"),
        ("x" * 101, None, "venue name"),
        ("ok", "has space", "venue id"),
        ("ok", "x" * 64, "venue id"),
        ("ok", "-lead", "venue id"),
    ],
)
def test_init_refuses_bad_names(
    tmp_path: Path, name: str, venue_id: str | None, message: str
) -> None:
    with pytest.raises(TrustError, match=message):
        init_venue(tmp_path / "v", name, venue_id)
    assert not (tmp_path / "v" / "ca.key").exists()


def test_issue_writes_every_field_a_peer_checks(venue: VenueAuthority) -> None:
    key = new_private_key()
    pem = venue.issue(new_csr(key, "kds_7"), "kds_7", "kds")
    cert = x509.load_pem_x509_certificate(pem.encode())
    ca = x509.load_pem_x509_certificate(venue.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    now = datetime.datetime.now(datetime.UTC)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kds_7"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kds_7.venue-1.invalid"]
    assert set(san.get_values_for_type(x509.UniformResourceIdentifier)) == {
        "meshpos:role:kds",
        "meshpos:venue:venue-1",
    }
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert now - cert.not_valid_before_utc > datetime.timedelta(hours=23)
    assert cert.not_valid_after_utc - now > datetime.timedelta(days=4 * 365)
    entry = venue.issued()["kds_7"]
    assert entry["role"] == "kds"
    assert int(entry["serial"], 16) == cert.serial_number
    assert entry["issued_at"].startswith(str(now.year))


def test_issue_accepts_a_bare_public_key(venue: VenueAuthority) -> None:
    public = (
        new_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "BEGIN CERTIFICATE" in venue.issue(public, "reg1", "register")


def test_issue_refuses_duplicates_ignoring_case_unless_reissued(venue: VenueAuthority) -> None:
    issue_identity(venue, "Reg1")
    for device in ("Reg1", "reg1", "REG1"):
        with pytest.raises(EnrollmentRefused, match="already issued"):
            venue.issue(new_csr(new_private_key(), device), device, "register")
    venue.issue(new_csr(new_private_key(), "Reg1"), "Reg1", "kds", reissue=True)
    assert venue.issued()["Reg1"]["role"] == "kds"


@pytest.mark.parametrize(
    ("device", "role", "key", "message"),
    [
        ("reg1", "manager", None, "role 'manager'"),
        ("bad id", "register", None, "device id"),
        ("x" * 33, "register", None, "device id"),
        ("reg1\n", "register", None, "device id"),  # a regex "$" would take the newline
        ("reg1", "register", "ed25519", "EC P-256"),
        ("reg1", "register", "p384", "EC P-256"),
        ("reg1", "register", "garbage", "not a valid PEM public key"),
    ],
)
def test_issue_refuses_bad_requests(
    venue: VenueAuthority, device: str, role: str, key: str | None, message: str
) -> None:
    pem: str | bytes
    if key == "ed25519":
        pem = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    elif key == "p384":
        pem = (
            ec.generate_private_key(ec.SECP384R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    elif key == "garbage":
        pem = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"
    else:
        pem = new_csr(new_private_key(), "reg1")
    with pytest.raises(TrustError, match=message):
        venue.issue(pem, device, role)
    assert venue.issued() == {}


def test_issue_refuses_a_csr_with_a_broken_signature(venue: VenueAuthority) -> None:
    csr = x509.load_pem_x509_csr(new_csr(new_private_key(), "reg1").encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(EnrollmentRefused, match="signature is invalid"):
        venue.issue(broken, "reg1", "register")


def test_load_venue_round_trip(venue: VenueAuthority) -> None:
    loaded = load_venue(venue.directory)
    assert (loaded.venue_id, loaded.name, loaded.ca_pem) == (
        "venue-1",
        "Cafe Central",
        venue.ca_pem,
    )
    assert "PRIVATE" not in repr(loaded)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "venue.toml").unlink(), r"venue\.toml: venue file not found"),
        (lambda d: (d / "venue.toml").write_text("venue_id = "), r"venue\.toml: not valid TOML"),
        (lambda d: (d / "venue.toml").write_text("name = 'x'"), r"venue\.toml: needs string"),
        (lambda d: (d / "ca.key").unlink(), r"ca\.key: CA key not found"),
        (lambda d: (d / "ca.key").write_text("junk"), r"ca\.key: not a valid"),
        (lambda d: (d / "ca.pem").write_text("junk"), r"ca\.pem: not a valid PEM certificate"),
        (lambda d: (d / "issued.json").write_text("{"), r"issued\.json: not valid JSON"),
        (lambda d: (d / "revoked.json").write_text("[]"), r"revoked\.json: must be a JSON object"),
    ],
)
def test_load_venue_names_the_broken_file(
    venue: VenueAuthority, damage: object, message: str
) -> None:
    damage(venue.directory)  # type: ignore[operator]
    with pytest.raises(TrustError, match=message):
        load_venue(venue.directory)


def test_load_venue_refuses_a_key_of_another_ca(
    venue: VenueAuthority, other_venue: VenueAuthority
) -> None:
    (venue.directory / "ca.key").write_bytes((other_venue.directory / "ca.key").read_bytes())
    with pytest.raises(TrustError, match="does not match the CA certificate"):
        load_venue(venue.directory)


def test_load_venue_of_a_missing_directory_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="meshpos venue init"):
        load_venue(tmp_path / "nowhere")


def test_a_stored_token_is_made_once_private_and_safe_to_paste_after_an_option(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "api.token"
    token = stored_token(path)
    assert stored_token(path) == token  # the same token at every start
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n"
    # a token is passed as `--token TOKEN`: one starting with "-" is read as an option
    tokens = [token, *(new_token() for _ in range(500))]
    assert all(t[0] != "-" and len(t) == 48 and set(t) <= set(string.hexdigits) for t in tokens)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\n  \n", "the file is empty"),
        (b"\x00\xff" + b"a" * 20, "byte 0x00 at position 0"),
        (b"abcdefgh ijklmnopq\n", "byte 0x20 at position 8"),
        ("caf\u00e9-caf\u00e9-caf\u00e9-caf\u00e9".encode(), "byte 0xc3 at position 3"),
        (b"short", "it is 5 characters long"),
        (b"x" * 257, "it is 257 characters long"),
    ],
)
def test_a_stored_token_file_without_a_usable_token_is_refused_not_replaced(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """Only an absent file is made anew: a node must not serve a token nobody has (issue 13)."""
    path = tmp_path / "api.token"
    path.write_bytes(content)
    with pytest.raises(TrustError) as caught:
        stored_token(path)
    assert caught.value.message.startswith(f"{path}: not a usable token ({problem}")
    assert "\n" not in caught.value.message
    assert path.read_bytes() == content


def test_a_stored_token_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "api.token").mkdir()
    with pytest.raises(TrustError, match=r"api\.token: is a directory, not a token file"):
        stored_token(tmp_path / "api.token")


def test_an_operator_made_token_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "console-admin.token"
    path.write_text("  Our-Own_Token.2026!  \n")
    assert stored_token(path) == "Our-Own_Token.2026!"
