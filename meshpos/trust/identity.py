"""A device's own identity: its private key (never leaves the device), its certificate and the venue CA.

Layout of an identity directory (made 0700)::

    device.key   EC P-256 private key, mode 0600
    device.pem   the certificate the venue CA issued to this device
    ca.pem       the venue CA certificate: the only issuer this device trusts

Device id, role and venue are read from the certificate, so they can never disagree with what peers see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshpos.errors import CertificateRefused, ConfigError, TrustError
from meshpos.trust._files import PRIVATE, check_folder, read_file, write_file
from meshpos.trust.certs import (
    certificate_info,
    issued_by,
    load_certificate,
    load_private_key,
    same_key,
)
from meshpos.trust.names import check_device_id

KEY_FILE = "device.key"
CERT_FILE = "device.pem"
CA_FILE = "ca.pem"
_HINT = " (enroll this device first: meshpos enroll)"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Everything a node needs for mutual TLS. ``key_pem`` stays out of ``repr`` so logs never show it."""

    device_id: str
    role: str
    venue_id: str
    key_pem: str = field(repr=False)
    cert_pem: str
    ca_pem: str


def identity_from_pems(
    key_pem: str, cert_pem: str, ca_pem: str, directory: Path | None = None
) -> DeviceIdentity:
    """Check that the three PEMs belong together and build the identity from the certificate's fields."""
    key_name, cert_name, ca_name = (
        str(directory / n) if directory else n for n in (KEY_FILE, CERT_FILE, CA_FILE)
    )
    key = load_private_key(key_pem, key_name)
    cert = load_certificate(cert_pem, cert_name)
    ca = load_certificate(ca_pem, ca_name)
    if not same_key(key.public_key(), cert.public_key()):
        raise TrustError(f"{key_name}: does not match the certificate {cert_name}")
    if not issued_by(cert, ca):
        raise TrustError(f"{cert_name}: was not issued by the venue CA in {ca_name}")
    try:
        info = certificate_info(cert)
    except CertificateRefused as exc:
        raise TrustError(f"{cert_name}: {exc.message}") from None
    return DeviceIdentity(info.device_id, info.role, info.venue_id, key_pem, cert_pem, ca_pem)


IDENTITY_FILES = (KEY_FILE, CERT_FILE, CA_FILE)


def identity_exists(directory: Path) -> bool:
    return any((directory / name).exists() for name in IDENTITY_FILES)


def check_destination(directory: Path) -> None:
    """Refuse, naming the path and why, a ``directory`` an identity cannot be saved in (a file on the way,
    a folder this user cannot write), without writing anything: enrolment asks before it spends its
    one-time code, which a failed save afterwards would have used up for nothing."""
    if identity_exists(directory):
        raise TrustError(f"{directory}: already holds a device identity; refusing to overwrite it")
    check_folder(directory)


def save_identity(directory: Path, identity: DeviceIdentity, *, overwrite: bool = False) -> None:
    """Write the identity (key 0600, directory 0700); refuses to replace an existing one unless asked."""
    identity_from_pems(identity.key_pem, identity.cert_pem, identity.ca_pem)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not overwrite and identity_exists(directory):
        raise TrustError(f"{directory}: already holds a device identity; refusing to overwrite it")
    write_file(directory / CA_FILE, identity.ca_pem)
    write_file(directory / CERT_FILE, identity.cert_pem)
    write_file(directory / KEY_FILE, identity.key_pem, PRIVATE)


def load_identity(directory: Path) -> DeviceIdentity:
    """Load and cross-check an identity directory; errors name the file that is missing or wrong."""
    key = read_file(directory / KEY_FILE, "device key", _HINT)
    cert = read_file(directory / CERT_FILE, "device certificate", _HINT)
    ca = read_file(directory / CA_FILE, "venue CA certificate", _HINT)
    return identity_from_pems(key, cert, ca, directory)


def new_csr(key: ec.EllipticCurvePrivateKey, device_id: str) -> str:
    """A certificate request: proves to the venue that the device holds ``key`` (the key itself stays)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, check_device_id(device_id))])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def check_identity(
    identity: DeviceIdentity, node_id: str, role: str, venue_id: str, where: Path
) -> None:
    """A node's config must describe the device its certificate (in ``where``) names."""
    if identity.device_id != node_id:
        raise ConfigError(
            f"node_id {node_id!r} does not match the device certificate in "
            f"{where} ({identity.device_id!r})"
        )
    if identity.role != role:
        raise ConfigError(
            f"role {role!r} does not match the device certificate ({identity.role!r})"
        )
    if venue_id and venue_id != identity.venue_id:
        raise ConfigError(
            f"venue_id {venue_id!r} does not match the device certificate ({identity.venue_id!r})"
        )


def certified_window(identity: DeviceIdentity) -> tuple[float, float]:
    """When (epoch seconds, from and until) both the device's certificate and its venue CA are
    valid: outside it, by this device's clock, its TLS links fail both ways (the status says so:
    ``ops/clock.certificate_problem``)."""
    certs = [load_certificate(pem, "") for pem in (identity.cert_pem, identity.ca_pem)]
    start = max(c.not_valid_before_utc for c in certs).timestamp()
    return start, min(c.not_valid_after_utc for c in certs).timestamp()
