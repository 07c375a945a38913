"""Reading certificates and keys, and the one rule for what a meshpos device certificate must say.

A device certificate carries its device id (CN and SAN DNS ``<device>.<venue>.invalid``), its role (SAN URI
``meshpos:role:<role>``) and its venue (SAN URI ``meshpos:venue:<venue>``). The TLS layer proves the venue
CA signed it; :func:`peer_certificate_info` then reads those fields and refuses a certificate that lacks them,
so authorisation never trusts anything the peer merely says.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshpos.errors import CertificateRefused, DeviceRevoked, TrustError
from meshpos.model.roles import NODE_ROLES
from meshpos.trust.names import device_hostname, is_device_id, is_venue_id

ROLE_URI = "meshpos:role:"
VENUE_URI = "meshpos:venue:"
# A device whose clock is behind must still accept a certificate issued just now (docs/architecture.md (Library facts)).
BACKDATE = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who the venue CA says a peer is."""

    device_id: str
    role: str
    venue_id: str


class RevocationCheck(Protocol):
    def is_revoked(self, device_id: str) -> bool: ...


def peer_certificate_info(
    der: bytes, *, venue_id: str | None = None, deny_list: RevocationCheck | None = None
) -> PeerInfo:
    """Read device, role and venue from a peer's certificate (``getpeercert(binary_form=True)``).

    Call it only on a certificate the TLS handshake verified against the venue CA. Raises
    :class:`CertificateRefused` naming what is missing or wrong, and :class:`DeviceRevoked` when
    ``deny_list`` lists the device.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, TypeError) as exc:
        raise CertificateRefused(f"peer certificate is not valid DER: {exc}") from None
    info = certificate_info(cert)
    if venue_id is not None and info.venue_id != venue_id:
        raise CertificateRefused(
            f"certificate of {info.device_id!r} is for venue {info.venue_id!r}, not {venue_id!r}"
        )
    if deny_list is not None and deny_list.is_revoked(info.device_id):
        raise DeviceRevoked(f"device {info.device_id!r} is revoked (on the venue deny-list)")
    return info


def certificate_info(cert: x509.Certificate) -> PeerInfo:
    """The :class:`PeerInfo` of a parsed certificate, or :class:`CertificateRefused` saying why not."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1 or not is_device_id(cns[0].value):
        raise CertificateRefused("certificate has no valid device id in its subject CN")
    device_id = str(cns[0].value)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CertificateRefused(
            f"certificate of {device_id!r} has no subjectAltName (role and venue)"
        ) from None
    except ValueError as exc:
        raise CertificateRefused(
            f"certificate of {device_id!r} has a malformed extension: {exc}"
        ) from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    roles = [u[len(ROLE_URI) :] for u in uris if u.startswith(ROLE_URI)]
    venues = [u[len(VENUE_URI) :] for u in uris if u.startswith(VENUE_URI)]
    if len(roles) != 1 or roles[0] not in NODE_ROLES:
        raise CertificateRefused(
            f"certificate of {device_id!r} needs exactly one role URI {ROLE_URI}<{'|'.join(NODE_ROLES)}>, "
            f"found {roles or 'none'}"
        )
    if len(venues) != 1 or not is_venue_id(venues[0]):
        raise CertificateRefused(
            f"certificate of {device_id!r} needs exactly one venue URI {VENUE_URI}<venue-id>, "
            f"found {venues or 'none'}"
        )
    expected = device_hostname(device_id, venues[0])
    if san.get_values_for_type(x509.DNSName) != [expected]:
        raise CertificateRefused(
            f"certificate of {device_id!r} must name exactly the host {expected!r} in its subjectAltName"
        )
    return PeerInfo(device_id, roles[0], venues[0])


def load_certificate(pem: str, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeError) as exc:
        raise TrustError(f"{where}: not a valid PEM certificate ({exc})") from None


def load_private_key(pem: str, where: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise TrustError(f"{where}: not a valid unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise TrustError(f"{where}: the key must be an EC P-256 key")
    return key


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def same_key(a: object, b: object) -> bool:
    """True if both are the same EC public key."""
    return (
        isinstance(a, ec.EllipticCurvePublicKey)
        and isinstance(b, ec.EllipticCurvePublicKey)
        and a.public_numbers() == b.public_numbers()
    )


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ca_fingerprint(ca_pem: str, where: str = "venue CA certificate") -> str:
    """sha256 of the CA's public key (SubjectPublicKeyInfo, DER), hex: what a venue *is*.

    Venue ids are chosen by people (two shops that each ran the README are both ``cafe-central``); the CA's
    key is not. The key, not the certificate, so a CA certificate re-issued on the same key is the same venue.
    """
    public = load_certificate(ca_pem, where).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()
