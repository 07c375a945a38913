"""A console key that every node would refuse stops the console with one clear line (issue 18, outside:
trust/console_key.py ``load_console_signing``). Before, the console signed with it anyway, and every
node closed its session with the console on every beat (``ConsoleSignatureRefused``); with the key
gone and its certificate left, it ran unsigned, silently, and strict registers showed "not at the
console" for ever."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from meshpos.errors import TrustError
from meshpos.trust import init_venue
from meshpos.trust.authority import CA_KEY, VenueAuthority
from meshpos.trust.certs import (
    ROLE_URI,
    VENUE_URI,
    certificate_pem,
    load_certificate,
    load_private_key,
    new_private_key,
    private_key_pem,
)
from meshpos.trust.console_key import (
    CONSOLE_CERT,
    CONSOLE_KEY,
    ConsoleChecker,
    issue_console_key,
    load_console_signing,
)


def _venue(root: Path, venue_id: str = "v") -> VenueAuthority:
    authority = init_venue(root / venue_id, "Cafe", venue_id)
    issue_console_key(authority)
    return authority


def _refused(directory: Path, *words: str) -> str:
    with pytest.raises(TrustError) as caught:
        load_console_signing(directory, "v")
    message = caught.value.message
    assert "\n" not in message
    for word in words:
        assert word in message
    return message


def test_a_genuine_pair_loads_and_signs_what_nodes_take(tmp_path: Path) -> None:
    authority = _venue(tmp_path)
    signing = load_console_signing(authority.directory, "v")
    assert signing is not None
    signed = signing({"console": {}, "reports": {}})
    assert signed is not None
    ConsoleChecker(authority.ca_pem, "v")(signed)


def test_a_venue_with_neither_file_has_no_signing(tmp_path: Path) -> None:
    authority = init_venue(tmp_path / "v", "Cafe", "v")
    assert load_console_signing(authority.directory, "v") is None


def test_a_certificate_without_its_key_is_an_error_not_silence(tmp_path: Path) -> None:
    """Fails before: None (the console ran unsigned and said nothing)."""
    authority = _venue(tmp_path)
    (authority.directory / CONSOLE_KEY).unlink()
    _refused(authority.directory, CONSOLE_KEY, "not found", "console-key")


def test_a_key_without_its_certificate_is_an_error(tmp_path: Path) -> None:
    authority = _venue(tmp_path)
    (authority.directory / CONSOLE_CERT).unlink()
    _refused(authority.directory, str(authority.directory / CONSOLE_CERT), "not found")


@pytest.mark.parametrize("which", [CONSOLE_KEY, CONSOLE_CERT])
def test_a_corrupted_pem_names_its_file(tmp_path: Path, which: str) -> None:
    """Fails before for the key and certificate: the message named neither file."""
    authority = _venue(tmp_path)
    (authority.directory / which).write_text("-----BEGIN garbage-----\nAAAA\n")
    _refused(authority.directory, str(authority.directory / which))


def test_a_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    authority = _venue(tmp_path)
    (authority.directory / CONSOLE_KEY).unlink()
    (authority.directory / CONSOLE_KEY).mkdir()
    _refused(authority.directory, str(authority.directory / CONSOLE_KEY))


def test_a_key_that_does_not_match_its_certificate_is_an_error(tmp_path: Path) -> None:
    """Fails before: loaded; every statement failed every node's check."""
    authority = _venue(tmp_path)
    (authority.directory / CONSOLE_KEY).write_text(private_key_pem(new_private_key()))
    _refused(authority.directory, "signature does not match", "console-key")


def test_the_pair_of_another_venue_is_an_error(tmp_path: Path) -> None:
    """Fails before: loaded (copied from another venue's directory)."""
    authority = _venue(tmp_path)
    other = _venue(tmp_path, "w")
    for name in (CONSOLE_KEY, CONSOLE_CERT):
        shutil.copy(other.directory / name, authority.directory / name)
    _refused(authority.directory, "not issued by the venue CA")


def _issue(
    authority: VenueAuthority, *, role: str = "console", venue: str = "v", expired: bool = False
) -> None:
    """A console key and certificate by the venue CA, with ``role``/``venue``, expired or not."""
    ca_key = load_private_key((authority.directory / CA_KEY).read_text(), "ca")
    ca = load_certificate(authority.ca_pem, "ca")
    key = new_private_key()
    now = datetime.datetime.now(datetime.UTC)
    end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "console")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=60))
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(ROLE_URI + role),
                    x509.UniformResourceIdentifier(VENUE_URI + venue),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (authority.directory / CONSOLE_KEY).write_text(private_key_pem(key))
    (authority.directory / CONSOLE_CERT).write_text(certificate_pem(cert))


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ({"expired": True}, "not valid now"),
        ({"venue": "w"}, "another venue"),
        ({"role": "register"}, "not for role console"),
    ],
)
def test_a_certificate_nodes_refuse_is_an_error(
    tmp_path: Path, how: dict[str, object], says: str
) -> None:
    """Fails before: loaded; every statement failed every node's check."""
    authority = _venue(tmp_path)
    _issue(authority, **how)  # type: ignore[arg-type]
    _refused(authority.directory, says)


def test_a_device_certificate_and_key_are_an_error(tmp_path: Path) -> None:
    """A register's genuine pair put in the console's place. Fails before: loaded."""
    authority = _venue(tmp_path)
    key = new_private_key()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (authority.directory / CONSOLE_CERT).write_text(authority.issue(public, "R9", "register"))
    (authority.directory / CONSOLE_KEY).write_text(private_key_pem(key))
    _refused(authority.directory, "not for role console")


def test_a_revoked_console_neither_starts_signing_nor_gets_a_new_key(tmp_path: Path) -> None:
    """The deny-list names the console's device id, which every console key of the venue has: every
    node refuses what any of them signs (``ConsoleChecker``). Fails before: the console started and
    signed (every node closed its session with the console on every statement), and
    ``meshpos venue console-key`` made a new key just as refused."""
    authority = _venue(tmp_path)
    authority.revoke("console", "key leaked")
    message = _refused(authority.directory, "deny-list", "remove console.key and console.pem")
    assert "revoke console" in message
    with pytest.raises(TrustError, match="deny-list"):
        issue_console_key(authority)
    (authority.directory / CONSOLE_KEY).unlink()
    (authority.directory / CONSOLE_CERT).unlink()
    assert load_console_signing(authority.directory, "v") is None  # runs unsigned, as told


def test_the_signing_state_says_valid_ending_ended_and_none(tmp_path: Path) -> None:
    """What the console's Status tab and the doctor say of the key (the twenty-second session)."""
    from meshpos.trust.console_key import EXPIRY_WARNING, signing_state

    authority = _venue(tmp_path)
    signing = load_console_signing(authority.directory, "v")
    assert signing is not None
    ends = signing.expires
    second = datetime.timedelta(seconds=1)
    said = {
        at: signing_state(signing, ends - before, "V")
        for at, before in (
            ("long", EXPIRY_WARNING + second),
            ("ending", EXPIRY_WARNING - second),
            ("ended", -second),
        )
    }
    assert said["long"] == {
        "state": "valid",
        "ends": ends.isoformat(timespec="seconds"),
        "says": "",
    }
    assert said["ending"]["state"] == "ending"
    assert "in 29 days" in str(said["ending"]["says"]), said["ending"]
    assert said["ended"]["state"] == "ended"
    assert "--dir V" in str(said["ended"]["says"])
    assert signing_state(None, ends, "V")["state"] == "none"
