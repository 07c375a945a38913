"""The venue certificate authority: one directory on the manager's machine that issues device certificates.

Layout (``meshpos venue init``)::

    venue.toml      venue id and name (written last: its presence means the venue is complete)
    ca.key          the CA's EC P-256 key, mode 0600
    ca.pem          the self-signed CA certificate every device trusts, and nothing else
    console-token   the venue's token for the console, mode 0600
    issued.json     device id -> role, serial, issued_at: a device id is issued once
    revoked.json    device id -> signed deny-list entry

TLS checks certificates offline, so revocation is a deny-list signed by this CA (see ``denylist``), never a CRL
that would lock out every device once it expired.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import secrets
import tomllib
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshpos.errors import EnrollmentRefused, TrustError
from meshpos.trust._files import PRIVATE, check_folder, locked, read_file, write_file
from meshpos.trust.certs import (
    BACKDATE,
    ROLE_URI,
    VENUE_URI,
    certificate_pem,
    load_certificate,
    load_private_key,
    new_private_key,
    private_key_pem,
    same_key,
)
from meshpos.trust.denylist import sign_revocation
from meshpos.trust.names import check_device_id, check_role, check_venue_id, device_hostname

log = logging.getLogger("meshpos.trust")

CA_VALIDITY = datetime.timedelta(days=20 * 365)
DEVICE_VALIDITY = datetime.timedelta(days=5 * 365)
MAX_NAME = 100

VENUE_FILE = "venue.toml"
CA_KEY = "ca.key"
CA_CERT = "ca.pem"
CONSOLE_TOKEN = "console-token"
ISSUED = "issued.json"
REVOKED = "revoked.json"
_HINT = " (is this a venue directory made by 'meshpos venue init'?)"


class VenueAuthority:
    """A loaded venue CA. Device registries live on disk and are re-read under a lock on every change."""

    def __init__(
        self,
        directory: Path,
        venue_id: str,
        name: str,
        key: ec.EllipticCurvePrivateKey,
        ca_pem: str,
    ) -> None:
        self.directory = directory
        self.venue_id = venue_id
        self.name = name
        self.ca_pem = ca_pem
        self._key = key
        self._ca = load_certificate(ca_pem, str(directory / CA_CERT))

    def __repr__(self) -> str:
        return f"VenueAuthority({self.venue_id!r}, {self.name!r}, {str(self.directory)!r})"

    @property
    def console_token(self) -> str:
        return read_file(self.directory / CONSOLE_TOKEN, "console token", _HINT).strip()

    def replace_console_token(self) -> str:
        """Write a new venue token for the relays (the old one is refused once the console restarts
        with ``--venue`` on this directory): what cuts a stolen register, which holds the token in its
        node.toml, off from the console. The new token."""
        token = _new_console_token()
        write_file(self.directory / CONSOLE_TOKEN, token + "\n", PRIVATE)
        log.warning("replaced the console token of venue %s in %s", self.venue_id, self.directory)
        return token

    def issued(self) -> dict[str, dict[str, str]]:
        """Every device id this venue issued: ``{device_id: {role, serial, issued_at}}``."""
        return _read_registry(self.directory / ISSUED)

    def revoked(self) -> dict[str, dict[str, Any]]:
        """Every signed deny-list entry this venue made: ``{device_id: entry}``."""
        return _read_registry(self.directory / REVOKED)

    def check_new_device(self, device_id: str, *, reissue: bool = False) -> None:
        """Refuse a device id that is revoked, or already issued (unless ``reissue``), ignoring case.

        Case is ignored because TLS host names are: ``Reg1`` and ``reg1`` would be one host.
        """
        check_device_id(device_id)
        lower = device_id.lower()
        for known in self.revoked():
            if known.lower() == lower:
                raise EnrollmentRefused(
                    f"device id {device_id!r} is revoked in venue {self.venue_id!r}; "
                    "enroll the device under a new id"
                )
        if reissue:
            return
        for known in self.issued():
            if known.lower() == lower:
                raise EnrollmentRefused(
                    f"device id {device_id!r} is already issued in venue {self.venue_id!r}; "
                    "choose another id, or re-issue it on purpose (pair --reissue)"
                )

    def issue(
        self,
        public_key_pem_or_csr: str | bytes,
        device_id: str,
        role: str,
        *,
        reissue: bool = False,
    ) -> str:
        """Issue a device certificate for an EC P-256 public key (a CSR proves the device holds it)."""
        check_role(role)
        public_key = _public_key_of(public_key_pem_or_csr)
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        host = device_hostname(device_id, self.venue_id)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
            .issuer_name(self._ca.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + DEVICE_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(host),
                        x509.UniformResourceIdentifier(ROLE_URI + role),
                        x509.UniformResourceIdentifier(VENUE_URI + self.venue_id),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        with locked(self.directory):
            self.check_new_device(device_id, reissue=reissue)
            registry = self.issued()
            registry[device_id] = {
                "role": role,
                "serial": f"{serial:x}",
                "issued_at": now.isoformat(timespec="seconds"),
            }
            _write_registry(self.directory / ISSUED, registry)
        log.info("issued a %s certificate to device %r (serial %x)", role, device_id, serial)
        return certificate_pem(cert)

    def revoke(self, device_id: str, reason: str = "") -> dict[str, str | int]:
        """Sign a deny-list entry for an issued device and record it in ``revoked.json``.

        Revoking twice returns the first entry, so every copy in the mesh stays the same.
        """
        check_device_id(device_id)
        with locked(self.directory):
            revoked = self.revoked()
            if device_id in revoked:
                entry: dict[str, str | int] = revoked[device_id]
                return entry
            if device_id not in self.issued():
                known = ", ".join(sorted(self.issued())) or "none"
                raise TrustError(
                    f"device {device_id!r} was never issued by venue {self.venue_id!r} (issued: {known})"
                )
            at_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
            entry = sign_revocation(self, device_id, at_ms, reason)
            revoked[device_id] = entry
            _write_registry(self.directory / REVOKED, revoked)
        log.warning("revoked device %r: %s", device_id, reason or "no reason given")
        return entry

    def derived_secret(self, label: str) -> bytes:
        """A secret for ``label`` that every process holding this CA key derives alike, and nobody
        without it (the console's relay nonces: trust/relay_proof.py); never the key itself."""
        private = self._key.private_numbers().private_value.to_bytes(32, "big")
        return hmac.new(private, f"meshpos-derived-v1\n{label}".encode(), hashlib.sha256).digest()

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 signature by the CA key (for deny-list entries)."""
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def init_venue(directory: Path, name: str, venue_id: str | None = None) -> VenueAuthority:
    """Create a new venue CA in ``directory`` (made 0700 if new); refuses to touch an existing venue."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise TrustError(f"venue name {name!r}: use 1-{MAX_NAME} printable characters")
    venue_id = check_venue_id(venue_id if venue_id is not None else str(uuid.uuid4()))
    check_folder(directory)  # a file there said "unexpected error: FileExistsError"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = [n for n in (VENUE_FILE, CA_KEY, CA_CERT, ISSUED) if (directory / n).exists()]
    if existing:
        raise TrustError(
            f"{directory}: already holds a venue ({', '.join(existing)}); refusing to overwrite it"
        )
    key = new_private_key()
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, venue_id),
            x509.NameAttribute(NameOID.COMMON_NAME, "meshpos venue CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # ca.key goes first and exclusively: a concurrent init of the same directory fails here.
    write_file(directory / CA_KEY, private_key_pem(key), PRIVATE, exclusive=True)
    write_file(directory / CA_CERT, certificate_pem(ca), exclusive=True)
    write_file(directory / CONSOLE_TOKEN, _new_console_token() + "\n", PRIVATE, exclusive=True)
    write_file(directory / ISSUED, "{}\n", exclusive=True)
    write_file(directory / REVOKED, "{}\n", exclusive=True)
    toml = f"venue_id = {json.dumps(venue_id)}\nname = {json.dumps(name, ensure_ascii=False)}\n"
    write_file(directory / VENUE_FILE, toml, exclusive=True)
    log.info("created venue %r (%s) in %s", name, venue_id, directory)
    return load_venue(directory)


def load_venue(directory: Path) -> VenueAuthority:
    """Load a venue made by :func:`init_venue`; every missing or corrupt file is named in the error."""
    toml_path = directory / VENUE_FILE
    try:
        meta = tomllib.loads(read_file(toml_path, "venue file", _HINT))
    except tomllib.TOMLDecodeError as exc:
        raise TrustError(f"{toml_path}: not valid TOML: {exc}") from None
    venue_id, name = meta.get("venue_id"), meta.get("name")
    if not isinstance(venue_id, str) or not isinstance(name, str):
        raise TrustError(f"{toml_path}: needs string settings venue_id and name")
    check_venue_id(venue_id)
    key_path, ca_path = directory / CA_KEY, directory / CA_CERT
    key = load_private_key(read_file(key_path, "CA key", _HINT), str(key_path))
    if key_path.stat().st_mode & 0o077:
        log.warning("%s: the CA key is readable by other users; chmod 600 it", key_path)
    ca_pem = read_file(ca_path, "CA certificate", _HINT)
    ca = load_certificate(ca_pem, str(ca_path))
    if not same_key(key.public_key(), ca.public_key()):
        raise TrustError(f"{key_path}: does not match the CA certificate {ca_path}")
    authority = VenueAuthority(directory, venue_id, name, key, ca_pem)
    authority.issued()  # fail now, with the file's name, rather than at the first enrollment
    authority.revoked()
    return authority


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _public_key_of(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"CERTIFICATE REQUEST" in data:
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError as exc:
            raise EnrollmentRefused(f"not a valid certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise EnrollmentRefused("certificate request signature is invalid")
        key: object = csr.public_key()
    else:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise EnrollmentRefused(
                f"not a valid PEM public key or certificate request: {exc}"
            ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise EnrollmentRefused("device key must be an EC P-256 key")
    return key


def _read_registry(path: Path) -> dict[str, Any]:
    text = read_file(path, "registry", _HINT)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrustError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise TrustError(f"{path}: must be a JSON object of device id -> object")
    return data


def _write_registry(path: Path, data: dict[str, Any]) -> None:
    write_file(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _new_console_token() -> str:
    return secrets.token_urlsafe(32)
