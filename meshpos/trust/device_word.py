"""A device's own word signed with its device key, and checked on another node (issue 18, sign).

docs/architecture.md (Security). What a device attests it holds (``sync._held_signed``) is signed
with the key of its TLS certificate, under a signing domain of its own (a word's signature never
passes as a TLS handshake's or a console statement's), so a node beyond its links can tell the
device said it. :class:`DeviceWordChecker` checks one: the certificate is the venue CA's, of this
venue, for a device role (``certs.certificate_info``: never the console's), valid now, not on the
deny-list, and the signature is over the body. Certificates are parsed and their issuer checked
once per distinct certificate, signatures once per distinct word (both cached by their bytes); the
deny-list and the dates are asked every time.

**Changed** (nineteenth session, robust): a refusal names the kind of word (``sync.word_kind``: attestation,
gone notice, said fields), no longer "signed attestation" for all three.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import CertificateRefused
from meshpos.sync import HeldSignatureRefused, SignedHeld, SignerNotValidNow, unbase64, word_kind
from meshpos.trust.certs import (
    certificate_info,
    issued_by,
    load_certificate,
    load_private_key,
)
from meshpos.trust.identity import DeviceIdentity

_DOMAIN = b"meshpos-device-held-v1\n"
_CERTS = 1024  # distinct certificates kept (a venue's devices, with room for re-enrolments)
_WORDS = 4096  # distinct words checked, kept (a few beats of every device's word)


class DeviceWordSigner:
    """Signs this device's word with its key (a ``sync`` ``HeldSigner``)."""

    def __init__(self, identity: DeviceIdentity) -> None:
        self._key = load_private_key(identity.key_pem, "device key")
        cert = load_certificate(identity.cert_pem, "device certificate")
        self._cert = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.signed = 0  # words signed (each distinct content once)

    def __call__(self, body: str) -> SignedHeld:
        sig = self._key.sign(_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        self.signed += 1
        return SignedHeld(body, self._cert, base64.b64encode(sig).decode("ascii"))


class DeviceWordChecker:
    """Checks a device's word on a node of ``venue_id`` (a ``sync`` ``HeldCheck``): its signer's id."""

    def __init__(self, ca_pem: str, venue_id: str) -> None:
        self._ca = load_certificate(ca_pem, "venue CA")
        self.venue_id = venue_id
        #: the node's deny-list (set once the node has one: ``Revocations.is_revoked``)
        self.is_revoked: Callable[[str], bool] = lambda device: False
        # certificate -> (device id, valid from, valid to, key)
        self._certs: dict[
            str, tuple[str, datetime.datetime, datetime.datetime, ec.EllipticCurvePublicKey]
        ] = {}
        self._words: dict[SignedHeld, str] = {}  # words checked -> the signer's device id
        self.verified = 0  # signatures verified (each distinct word once)
        self.now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)

    def __call__(self, word: SignedHeld) -> str:
        kind = word_kind(word.body)
        device, valid_from, valid_to, public = self._certificate(word.cert, kind)
        if not valid_from <= self.now() <= valid_to:
            raise SignerNotValidNow(f"{kind} of {device!r}: certificate not valid now")
        if self.is_revoked(device):
            raise SignerNotValidNow(f"{kind} of {device!r}, revoked (on the venue deny-list)")
        if word in self._words:
            return device
        try:
            public.verify(
                _unbase64(word.sig, kind),
                _DOMAIN + word.body.encode("ascii"),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise HeldSignatureRefused(
                f"{kind} of {device!r}: the signature does not match"
            ) from None
        self.verified += 1
        if len(self._words) >= _WORDS:
            del self._words[next(iter(self._words))]
        self._words[word] = device
        return device

    def _certificate(
        self, cert_b64: str, kind: str
    ) -> tuple[str, datetime.datetime, datetime.datetime, ec.EllipticCurvePublicKey]:
        known = self._certs.get(cert_b64)
        if known is not None:
            return known
        try:
            cert = x509.load_der_x509_certificate(_unbase64(cert_b64, kind))
        except ValueError:
            raise HeldSignatureRefused(f"{kind}: certificate is not DER") from None
        if not issued_by(cert, self._ca):
            raise HeldSignatureRefused(f"{kind}: certificate not issued by the venue CA")
        try:
            info = certificate_info(cert)
        except CertificateRefused as exc:
            raise HeldSignatureRefused(f"{kind}: {exc.message}") from None
        if info.venue_id != self.venue_id:
            raise HeldSignatureRefused(
                f"{kind} of {info.device_id!r}: certificate is for another venue"
            )
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise HeldSignatureRefused(f"{kind}: certificate holds no EC key")
        known = (info.device_id, cert.not_valid_before_utc, cert.not_valid_after_utc, public)
        if len(self._certs) >= _CERTS:
            del self._certs[next(iter(self._certs))]
        self._certs[cert_b64] = known
        return known


def _unbase64(value: str, kind: str) -> bytes:
    return unbase64(value, HeldSignatureRefused, kind)
