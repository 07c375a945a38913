"""The console's signing key: issued by the venue CA for role ``console``, signing what it says of itself.

docs/architecture.md (Security). ``meshpos venue init`` makes it beside the CA (``console.key``, mode
0600, and ``console.pem``); ``meshpos venue console-key --dir DIR`` makes (or replaces) it for a venue
made before. The console reads it where it reads the venue's token (``meshpos console --venue DIR``).
Its certificate names role ``console``, which no device certificate may name (``certs.certificate_info``
refuses it), and has no TLS key usage: it signs statements, nothing else.

:class:`ConsoleSigning` signs a statement (``sync._signed``); :class:`ConsoleChecker` checks one on a
node: the certificate is the venue CA's, for role console and this venue, valid now, not on the
deny-list (``meshpos revoke console``), and the signature is over the body. Certificates are parsed
and signatures verified once per distinct statement (cached by their bytes); the deny-list is asked
every time.

**Changed** (the twenty-third session, epoch): it also signs, and checks, the console database's
epoch word (``sync._epoch``) under a third domain, so no statement's or tick's signature passes as one.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshpos.errors import MeshposError, TrustError
from meshpos.ops.clock import CERT_WARNING_DAYS
from meshpos.sync import (
    ConsoleSignatureRefused,
    SignedConsole,
    SignedTick,
    epoch_body,
    statement_body,
    tick_body,
    unbase64,
)
from meshpos.trust._files import PRIVATE, locked, read_file, write_file
from meshpos.trust.authority import (
    CA_CERT,
    CA_KEY,
    ISSUED,
    REVOKED,
    VenueAuthority,
    _read_registry,
    _write_registry,
)
from meshpos.trust.certs import (
    BACKDATE,
    ROLE_URI,
    VENUE_URI,
    certificate_pem,
    issued_by,
    load_certificate,
    load_private_key,
    new_private_key,
    private_key_pem,
)

log = logging.getLogger("meshpos.trust")

CONSOLE_KEY = "console.key"
CONSOLE_CERT = "console.pem"
CONSOLE_DEVICE = "console"  # its device id (CN, issued.json, the deny-list)
CONSOLE_ROLE = "console"
VALIDITY = datetime.timedelta(days=5 * 365)
_DOMAIN = b"meshpos-console-statement-v1\n"
#: a tick's (issue 18, tick): another domain, so a tick's signature never passes as a statement's
_TICK_DOMAIN = b"meshpos-console-tick-v1\n"
#: its database's epoch word's (the twenty-third session, epoch: ``sync._epoch``): a third domain
_EPOCH_DOMAIN = b"meshpos-console-epoch-v1\n"
_CHECKED = 16  # (certificate, signature, body) triples checked, kept
_REVOKED = (
    "the console is on the venue's deny-list ('meshpos revoke console'): every node refuses "
    "what any console key of this venue signs"
)


def issue_console_key(authority: VenueAuthority, validity: datetime.timedelta = VALIDITY) -> Path:
    """Make the console's key and certificate in the venue directory (replacing any before: the old
    certificate stays valid until revoked); the certificate's path. ``validity``: how long it is
    valid from now (tests make one ending soon, as the status's warning needs)."""
    ca_key = load_private_key(
        read_file(authority.directory / CA_KEY, "CA key"), str(authority.directory / CA_KEY)
    )
    ca = load_certificate(authority.ca_pem, "venue CA")
    key = new_private_key()
    now = datetime.datetime.now(datetime.UTC)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CONSOLE_DEVICE)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(ROLE_URI + CONSOLE_ROLE),
                    x509.UniformResourceIdentifier(VENUE_URI + authority.venue_id),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = authority.directory
    if CONSOLE_DEVICE in authority.revoked():  # (outside: it made a key every node refuses)
        raise TrustError(f"{directory}: {_REVOKED}; no new console key is made")
    with locked(directory):
        registry = _read_registry(directory / ISSUED)
        registry[CONSOLE_DEVICE] = {
            "role": CONSOLE_ROLE,
            "serial": f"{serial:x}",
            "issued_at": now.isoformat(timespec="seconds"),
        }
        _write_registry(directory / ISSUED, registry)
        (directory / CONSOLE_KEY).unlink(missing_ok=True)
        write_file(directory / CONSOLE_KEY, private_key_pem(key), PRIVATE, exclusive=True)
        write_file(directory / CONSOLE_CERT, certificate_pem(cert))
    log.info("issued the console's signing key of venue %r (serial %x)", authority.venue_id, serial)
    return directory / CONSOLE_CERT


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


#: how long before its certificate expires the console warns of it (its log at start, its Status tab,
#: the doctor): the devices' certificates' warning time (``ops/clock``), one fact
EXPIRY_WARNING = datetime.timedelta(days=CERT_WARNING_DAYS)


class ConsoleSigning:
    """Signs what the console says of one venue (a ``sync`` ``ConsoleSigner``)."""

    def __init__(
        self,
        venue_id: str,
        key_pem: str,
        cert_pem: str,
        key_path: Path | None = None,
        cert_path: Path | None = None,
    ) -> None:
        self.venue_id = venue_id
        self._key = load_private_key(key_pem, str(key_path or "console key"))
        cert = load_certificate(cert_pem, str(cert_path or "console certificate"))
        self._cert = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.expires = cert.not_valid_after_utc
        self._where = str(cert_path or "console certificate")
        self.now: Callable[[], datetime.datetime] = _now  # (tests move it)
        self._expired_said = False

    def __call__(self, content: dict[str, Any]) -> SignedConsole | None:
        """The statement signed; None once the certificate has expired (said once in the log):
        every node would refuse it and close its session with the console on every statement, so
        the console says nothing signed, and strict registers show their data not at the console
        (pessimistic) until a new key is made and the console restarted."""
        now = self.now()
        if now > self.expires:
            if not self._expired_said:
                self._expired_said = True
                log.error(
                    "%s: the console's certificate expired at %s: its statements of venue %s are "
                    "no longer signed, and its strict registers show their data not at the "
                    "console; make a new key with 'meshpos venue console-key' and restart the "
                    "console",
                    self._where,
                    self.expires.isoformat(timespec="seconds"),
                    self.venue_id,
                )
            return None
        return self.sign(content, now)

    def sign(self, content: dict[str, Any], now: datetime.datetime) -> SignedConsole:
        """The statement signed as of ``now``, whatever the certificate's dates."""
        at = int(now.timestamp() * 1000)
        body = statement_body({**content, "venue": self.venue_id, "at": at})
        sig = self._key.sign(_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        return SignedConsole(body, self._cert, base64.b64encode(sig).decode("ascii"))

    def tick(self, of: str) -> SignedTick | None:
        """A tick naming the statement whose digest is ``of`` (``sync._tick``), signed as of now
        under the tick domain; None once the certificate has expired (as :meth:`__call__`)."""
        now = self.now()
        if now > self.expires:
            return None
        body = tick_body(self.venue_id, int(now.timestamp() * 1000), of)
        sig = self._key.sign(_TICK_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        return SignedTick(body, base64.b64encode(sig).decode("ascii"))

    def epoch(self, epoch: int) -> SignedConsole | None:
        """The word that this console runs on the database of ``epoch`` (``sync._epoch``), signed
        as of now under the epoch domain, with the certificate (it travels on its own); None once
        the certificate has expired (as :meth:`__call__`)."""
        now = self.now()
        if now > self.expires:
            return None
        body = epoch_body(self.venue_id, int(now.timestamp() * 1000), epoch)
        sig = self._key.sign(_EPOCH_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        return SignedConsole(body, self._cert, base64.b64encode(sig).decode("ascii"))


def load_console_signing(directory: Path, venue_id: str) -> ConsoleSigning | None:
    """The console's signing key of the venue in ``directory``; None if it has neither key nor
    certificate (a venue made before them). **Changed** (issue 18, outside): a key or certificate
    that every node would refuse (missing its pair, not matching, expired, another venue's or CA's,
    not for role console) is a :class:`TrustError` naming the files, so the console does not start:
    it used to sign anyway, and every node closed its session with the console on every beat
    (``ConsoleSignatureRefused``), or, with the key gone, it ran unsigned and left strict registers
    "not at the console" for ever, silently. So is a revoked console: the deny-list names the
    console's device id, which every console key of the venue has, so every node refuses it."""
    key_path, cert_path = directory / CONSOLE_KEY, directory / CONSOLE_CERT
    if not key_path.exists() and not cert_path.exists():
        return None
    hint = f" (make a new pair with 'meshpos venue console-key --dir {directory}')"
    key = read_file(key_path, "console key", hint)
    cert = read_file(cert_path, "console certificate", hint)
    signing = ConsoleSigning(venue_id, key, cert, key_path, cert_path)
    if CONSOLE_DEVICE in _read_registry(directory / REVOKED):
        raise TrustError(
            f"{key_path}: {_REVOKED}; remove {key_path.name} and {cert_path.name} to run the "
            "console unsigned (strict registers then show their sales not at the console)"
        )
    try:
        check = ConsoleChecker(read_file(directory / CA_CERT, "venue CA certificate"), venue_id)
        check(signing.sign({"console": {}, "reports": {}}, signing.now()))
    except (MeshposError, ConsoleSignatureRefused) as exc:
        raise TrustError(
            f"{key_path}, {cert_path}: nodes would refuse what the console signs with them: "
            f"{exc.message}{hint}"
        ) from None
    left = signing.expires - signing.now()
    if left < EXPIRY_WARNING:
        log.warning(
            "%s: the console's certificate expires at %s (in %d days): after that its statements "
            "go unsigned; make a new key with 'meshpos venue console-key --dir %s' and restart",
            cert_path,
            signing.expires.isoformat(timespec="seconds"),
            left.days,
            directory,
        )
    return signing


class ConsoleChecker:
    """Checks a console statement on a node of ``venue_id`` (a ``sync`` ``ConsoleCheck``)."""

    def __init__(self, ca_pem: str, venue_id: str) -> None:
        self._ca = load_certificate(ca_pem, "venue CA")
        self.venue_id = venue_id
        #: the node's deny-list (set once the node has one: ``Revocations.is_revoked``)
        self.is_revoked: Callable[[str], bool] = lambda device: False
        # statement -> its signer's device id and when its certificate expires
        self._checked: dict[tuple[str, str, str], tuple[str, datetime.datetime]] = {}
        self.verified = 0  # signatures verified (each distinct statement or tick once)
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}  # certificate -> its key (ticks)
        self.now: Callable[[], datetime.datetime] = _now  # (tests move it)

    def __call__(self, signed: SignedConsole, domain: bytes = _DOMAIN) -> None:
        # (the domain too: one body's signature under one domain says nothing under another)
        key = (signed.cert, signed.sig, domain.decode("ascii") + signed.body)
        checked = self._checked.get(key)
        if checked is None:
            checked = self._verify(signed, domain)
            if len(self._checked) >= _CHECKED:
                del self._checked[next(iter(self._checked))]
            self._checked[key] = checked
        device, expires = checked
        # **Changed** (review): asked every time, as the deny-list is: a statement checked before its
        # certificate expired was passed on after (``_passing._still_good``), and every fresh peer
        # refused it and closed the honest link, after every relink
        if self.now() > expires:
            raise ConsoleSignatureRefused("console statement: certificate not valid now")
        if self.is_revoked(device):
            raise ConsoleSignatureRefused(
                f"console statement signed by {device!r}, revoked (on the venue deny-list)"
            )

    def tick(self, tick: SignedTick, of: SignedConsole) -> None:
        """Check ``tick`` (issue 18, tick) as a statement is checked: ``of``, the statement it
        names, is checked again (its certificate the venue CA's, for role console and this venue,
        valid now, not on the deny-list; cached), and the tick's signature is by that
        certificate's key under the tick domain. The caller checks the venue and the digest."""
        self(of)
        public = self._keys.get(of.cert)
        if public is None:
            key = x509.load_der_x509_certificate(unbase64(of.cert)).public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey):  # (checked with ``of`` already)
                raise ConsoleSignatureRefused("console tick: certificate holds no EC key")
            if len(self._keys) >= _CHECKED:
                del self._keys[next(iter(self._keys))]
            public = self._keys[of.cert] = key
        try:
            public.verify(
                unbase64(tick.sig),
                _TICK_DOMAIN + tick.body.encode("ascii"),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise ConsoleSignatureRefused("console tick: the signature does not match") from None
        self.verified += 1

    def epoch(self, word: SignedConsole) -> None:
        """Check a console's epoch word (``sync._epoch``) as a statement is checked, under the
        epoch domain (a statement's signature never passes as an epoch word's, nor the reverse)."""
        self(word, _EPOCH_DOMAIN)

    def _verify(self, signed: SignedConsole, domain: bytes) -> tuple[str, datetime.datetime]:
        try:
            cert = x509.load_der_x509_certificate(unbase64(signed.cert))
        except ValueError:
            raise ConsoleSignatureRefused("console statement: certificate is not DER") from None
        if not issued_by(cert, self._ca):
            raise ConsoleSignatureRefused(
                "console statement: certificate not issued by the venue CA"
            )
        now = self.now()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ConsoleSignatureRefused("console statement: certificate not valid now")
        device = _console_of(cert, self.venue_id)
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ConsoleSignatureRefused("console statement: certificate holds no EC key")
        try:
            public.verify(
                unbase64(signed.sig),
                domain + signed.body.encode("ascii"),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise ConsoleSignatureRefused(
                "console statement: the signature does not match"
            ) from None
        self.verified += 1
        return device, cert.not_valid_after_utc


def check_console_certificate(cert_pem: str, ca_pem: str, venue_id: str) -> None:
    """The enrolment half (issue 18, sticky): ``cert_pem`` is a certificate the venue CA issued for
    role console of ``venue_id``, or :class:`ConsoleSignatureRefused` saying why not. A device pins
    it only to be strict from its first start; statements are still checked against the CA."""
    try:
        cert = load_certificate(cert_pem, "console certificate")
    except MeshposError as exc:
        raise ConsoleSignatureRefused(exc.message) from None
    if not issued_by(cert, load_certificate(ca_pem, "venue CA")):
        raise ConsoleSignatureRefused("certificate not issued by the venue CA")
    _console_of(cert, venue_id)


def _console_of(cert: x509.Certificate, venue_id: str) -> str:
    """The device id of a certificate for role console of ``venue_id``, or refused saying why."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (x509.ExtensionNotFound, ValueError):
        raise ConsoleSignatureRefused("console statement: certificate names no role") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if [u for u in uris if u.startswith(ROLE_URI)] != [ROLE_URI + CONSOLE_ROLE]:
        raise ConsoleSignatureRefused("console statement: certificate is not for role console")
    if [u for u in uris if u.startswith(VENUE_URI)] != [VENUE_URI + venue_id]:
        raise ConsoleSignatureRefused("console statement: certificate is for another venue")
    if len(cns) != 1 or not isinstance(cns[0].value, str):
        raise ConsoleSignatureRefused("console statement: certificate names no device")
    return cns[0].value


def signing_state(
    signing: ConsoleSigning | None,
    now: datetime.datetime,
    directory: str = "<the venue's directory>",
) -> dict[str, str | None]:
    """What the console's Status tab and the doctor say of a venue's signing key: ``state`` (``none``,
    ``valid``, ``ending`` within ``EXPIRY_WARNING``, ``ended``), ``ends`` (ISO time; None: no key) and
    ``says`` (what to do; empty while valid). **Changed** (the twenty-second session): the key's end was
    said only in the console's log, at start and once when it came, so a manager learned of it from
    registers showing their sales "not at the console" (strict ones take only signed statements)."""
    if signing is None:
        return {
            "state": "none",
            "ends": None,
            "says": "the console signs nothing for this venue: strict registers show their sales "
            f"not at the console; make a key with 'meshpos venue console-key --dir {directory}' "
            "and restart the console",
        }
    ends = signing.expires.isoformat(timespec="seconds")
    again = (
        f"make a new key with 'meshpos venue console-key --dir {directory}' and restart the console"
    )
    if now > signing.expires:
        return {
            "state": "ended",
            "ends": ends,
            "says": f"the console's signing key ended on {ends}: what it says is not signed, so "
            f"strict registers show their sales not at the console; {again}",
        }
    left = signing.expires - now
    if left < EXPIRY_WARNING:
        return {
            "state": "ending",
            "ends": ends,
            "says": f"the console's signing key ends on {ends}, in {left.days} days: then strict "
            f"registers show their sales not at the console; {again} before then",
        }
    return {"state": "valid", "ends": ends, "says": ""}
