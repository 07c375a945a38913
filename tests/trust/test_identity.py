"""Device identity directories: round trip, modes, and errors that name the file at fault."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from meshpos.errors import TrustError
from meshpos.trust import DeviceIdentity, VenueAuthority, load_identity, save_identity

from .helpers import issue_identity, self_signed_identity


def test_save_and_load_round_trip_with_private_modes(venue: VenueAuthority, tmp_path: Path) -> None:
    identity = issue_identity(venue, "reg1", "register")
    directory = tmp_path / "id"
    save_identity(directory, identity)
    assert load_identity(directory) == identity
    assert (identity.device_id, identity.role, identity.venue_id) == ("reg1", "register", "venue-1")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "device.key").stat().st_mode) == 0o600


def test_repr_never_shows_the_private_key(venue: VenueAuthority) -> None:
    identity = issue_identity(venue, "reg1")
    assert "PRIVATE KEY" not in repr(identity)
    assert "PRIVATE KEY" in identity.key_pem


def test_save_refuses_to_overwrite(venue: VenueAuthority, tmp_path: Path) -> None:
    save_identity(tmp_path / "id", issue_identity(venue, "reg1"))
    second = issue_identity(venue, "reg2")
    with pytest.raises(TrustError, match="already holds a device identity"):
        save_identity(tmp_path / "id", second)
    save_identity(tmp_path / "id", second, overwrite=True)
    assert load_identity(tmp_path / "id").device_id == "reg2"


def test_save_refuses_an_inconsistent_identity(venue: VenueAuthority, tmp_path: Path) -> None:
    a, b = issue_identity(venue, "reg1"), issue_identity(venue, "reg2")
    mixed = DeviceIdentity(a.device_id, a.role, a.venue_id, b.key_pem, a.cert_pem, a.ca_pem)
    with pytest.raises(TrustError, match="does not match the certificate"):
        save_identity(tmp_path / "id", mixed)
    assert not (tmp_path / "id" / "device.key").exists()


def test_missing_identity_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        TrustError, match=r"id/device\.key: device key not found \(enroll this device"
    ):
        load_identity(tmp_path / "id")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("device.key", r"device\.key: not a valid unencrypted PEM private key"),
        ("device.pem", r"device\.pem: not a valid PEM certificate"),
        ("ca.pem", r"ca\.pem: not a valid PEM certificate"),
    ],
)
def test_corrupt_files_are_named(
    venue: VenueAuthority, tmp_path: Path, damage: str, message: str
) -> None:
    save_identity(tmp_path / "id", issue_identity(venue, "reg1"))
    (tmp_path / "id" / damage).write_text("-----BEGIN NONSENSE-----\n")
    with pytest.raises(TrustError, match=message):
        load_identity(tmp_path / "id")


def test_key_of_another_device_is_refused(venue: VenueAuthority, tmp_path: Path) -> None:
    save_identity(tmp_path / "a", issue_identity(venue, "reg1"))
    save_identity(tmp_path / "b", issue_identity(venue, "reg2"))
    (tmp_path / "a" / "device.key").write_bytes((tmp_path / "b" / "device.key").read_bytes())
    with pytest.raises(TrustError, match=r"a/device\.key: does not match the certificate"):
        load_identity(tmp_path / "a")


def test_certificate_of_another_ca_is_refused(
    venue: VenueAuthority, other_venue: VenueAuthority, tmp_path: Path
) -> None:
    save_identity(tmp_path / "a", issue_identity(venue, "reg1"))
    (tmp_path / "a" / "ca.pem").write_text(other_venue.ca_pem)
    with pytest.raises(TrustError, match=r"device\.pem: was not issued by the venue CA"):
        load_identity(tmp_path / "a")


def test_self_signed_certificate_is_refused(venue: VenueAuthority, tmp_path: Path) -> None:
    fake = self_signed_identity("reg1", venue)
    with pytest.raises(TrustError, match="not issued by the venue CA"):
        save_identity(tmp_path / "id", fake)
