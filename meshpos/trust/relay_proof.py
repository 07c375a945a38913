"""Which device a relay is, proven to the console on its token probe and its upgrade (red, fifteenth session).

docs/architecture.md (Security). The console knew a relay by the venue token alone: on its ``ws://`` port
a relay shows no certificate, and the console never saw the deny-list, so a revoked register that kept
the token (a stolen one: it is in its ``node.toml``) went on uploading into the venue's reports until
the operator replaced the token and copied the new one to every honest register by hand.

Now a relay sends its device certificate and, made with its device key under a signing domain of its own
(a proof never passes as a TLS handshake's, a device word's or a console statement's), a signature over
the venue and a digest of the token it presents (:func:`relay_proof`: two headers, which an N−1 console
ignores). A console started with the venue's directory checks them (:class:`RelayAdmission`): issued by
the venue CA, of this venue, role register (relays are registers), valid now, the signature, and the
device not in the venue's ``revoked.json`` (the authority's own list, read again at every check: a
revocation counts from the next probe or dial, no restart; a relay linked already is closed within
a second, ``ConsoleServer``). A relay without a proof (an N−1 register)
is admitted as before while the venue has revoked nothing; once it has, it must prove it is not the
revoked one, so an N−1 relay is refused until it is upgraded (pessimistic: its registers keep their
sales and say the console is not reached, with the console's reason).

The proof holds no time: a register's clock may be hours off the console's (Operations), and a proof
that lapsed with the clock would cut an honest venue's uplink. So a proof is replayable by whoever saw
it *and* holds the token: over a ``wss://`` console nobody sees it; over plain ``ws://`` on a LAN the
token is as exposed (a new token makes every old proof worthless, as it makes the token).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import CertificateRefused
from meshpos.trust.certs import certificate_info, issued_by, load_certificate, load_private_key
from meshpos.trust.identity import DeviceIdentity

CERT_HEADER = "X-Meshpos-Relay-Cert"
PROOF_HEADER = "X-Meshpos-Relay-Proof"
RELAY_ROLE = "register"  # the role that relays (console.server's peer role for a relay)
_DOMAIN = b"meshpos-relay-device-v1\n"
# how every refusal of the relay's device (not of its token) begins, in the console's answer: the
# relay's log and ``meshpos doctor`` tell the operator to look at the device, not at console_token
DEVICE_REFUSED = "relay proof: "
_MAX_HEADER_CHARS = 4096  # a P-256 certificate is ~0.7 kB of DER


def revoked_words(device: str, venue_id: str) -> str:
    """Why a revoked relay is refused (at its admission, or its live link closed later)."""
    return f"{DEVICE_REFUSED}{device!r} is revoked (on venue {venue_id}'s deny-list)"


def refuses_the_device(reason: str) -> bool:
    """Whether the console's refusal ``reason`` is about the relay's device rather than its token."""
    return reason.startswith(DEVICE_REFUSED)


def _body(venue_id: str, token: str) -> bytes:
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    return _DOMAIN + f"{venue_id}\n{digest}".encode("ascii")


def relay_proof(identity: DeviceIdentity, token: str) -> dict[str, str]:
    """The headers a relay sends the console with ``token``: its certificate and its signature."""
    key = load_private_key(identity.key_pem, "device key")
    cert = load_certificate(identity.cert_pem, "device certificate")
    sig = key.sign(_body(identity.venue_id, token), ec.ECDSA(hashes.SHA256()))
    return {
        CERT_HEADER: base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        PROOF_HEADER: base64.b64encode(sig).decode(),
    }


class RelayAdmission:
    """The console's check of a relay's proof for one venue whose directory it was started with."""

    def __init__(
        self,
        venue_id: str,
        ca_pem: str,
        revoked: Callable[[], Mapping[str, object]],
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        """``revoked``: the venue's signed revocations by device id (``VenueAuthority.revoked``)."""
        self.venue_id = venue_id
        self._ca = load_certificate(ca_pem, "venue CA")
        self._revoked = revoked
        self._now = now

    def device(self, headers: Mapping[str, str]) -> str:
        """The device whose certificate an admitted relay sent ("" if none: an N−1 relay), so that
        the console can close its link once the device is revoked (the proof was checked already)."""
        try:
            der = base64.b64decode(headers.get(CERT_HEADER, ""), validate=True)
            return certificate_info(x509.load_der_x509_certificate(der)).device_id if der else ""
        except (ValueError, binascii.Error, CertificateRefused):
            return ""

    def is_revoked(self, device: str) -> bool:
        return device in self._revoked()

    def refusal(self, headers: Mapping[str, str], token: str) -> str | None:
        """None when the relay may come in; else why not, in words for the relay's operator."""
        cert_b64, sig_b64 = headers.get(CERT_HEADER, ""), headers.get(PROOF_HEADER, "")
        revoked = self._revoked()
        if not cert_b64 and not sig_b64:
            if not revoked:
                return None  # an N−1 relay, and nobody to keep out
            return (
                f"{DEVICE_REFUSED}venue {self.venue_id} has revoked devices "
                f"({', '.join(sorted(revoked))}): a relay must prove which device it is, and this "
                "one sent no proof (upgrade meshpos on it)"
            )
        if len(cert_b64) > _MAX_HEADER_CHARS or len(sig_b64) > _MAX_HEADER_CHARS:
            return f"{DEVICE_REFUSED}a header is too long"
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64, validate=True))
            sig = base64.b64decode(sig_b64, validate=True)
        except (ValueError, binascii.Error):
            return f"{DEVICE_REFUSED}the certificate or the signature is not base64 DER"
        if not issued_by(cert, self._ca):
            return f"{DEVICE_REFUSED}the certificate is not one of this venue's authority"
        try:
            info = certificate_info(cert)
        except CertificateRefused as exc:
            return f"{DEVICE_REFUSED}{exc.message}"
        device = info.device_id
        if info.venue_id != self.venue_id or info.role != RELAY_ROLE:
            return f"{DEVICE_REFUSED}{device!r} is a {info.role} of venue {info.venue_id}, not a relay here"
        if not cert.not_valid_before_utc <= self._now() <= cert.not_valid_after_utc:
            return f"{DEVICE_REFUSED}the certificate of {device!r} is not valid now"
        public = cert.public_key()
        try:
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise InvalidSignature
            public.verify(sig, _body(self.venue_id, token), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return f"{DEVICE_REFUSED}the signature is not {device!r}'s over this venue and token"
        if device in revoked:
            return revoked_words(device, self.venue_id)
        return None
