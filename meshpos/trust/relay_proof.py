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

**Changed** (issue 18, admit): the proof is fresh without trusting a register's clock (it may be hours
off the console's, Operations). The console's answer to a relay's probe carries a nonce it made
(``nonce: ...`` on the answer's second line: an N−1 relay reads the status only), bound to the venue and
the console's own time by an HMAC under a secret derived from the venue CA's key (the console keeps
nothing per nonce it hands out, and every console process started with the venue's directory takes
another's nonce: the probe and the dial may reach different ones, or a restarted one). The relay signs it into its upgrade's proof under a second domain
(``X-Meshpos-Relay-Nonce``); the console takes a nonce once, within :data:`NONCE_TTL_S` of making it.
Whoever saw a proof on a plain ``ws://`` line and holds the token cannot use it again. A proof without a
nonce (an N−1 relay, or one talking to an N−1 console, which issues none) is still checked, and
admitted while the venue has revoked nothing, as before; once it has, a nonce-less proof is refused at
the upgrade as replayable, as a missing one is. A probe admits nothing, so it checks the device but
needs no nonce (it is where the nonce comes from).

**Changed** (issue 18, nonces): each console process remembered only the nonces it took, so a proof
replayed within the TTL to another console process of the venue, or to the console restarted, passed.
The console's database now keeps the nonces taken (``ConsoleDB.take_relay_nonce``, for
:data:`NONCE_KEPT_S`), asked after this process's own set and after the whole proof held (only a
device of the venue adds a row); :func:`replayed_words` says which of the two refused it.

``revoked.json`` is read again only when it changed (:class:`RevokedFile`: its inode, size, mtime and
ctime are stat'ed at each check): it was parsed on every probe, every upgrade and every second per linked
relay.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

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
NONCE_HEADER = "X-Meshpos-Relay-Nonce"
NONCE_LINE = "nonce: "  # how the console's probe answer hands a relay its nonce (its second line)
NONCE_TTL_S = 30.0  # a nonce is taken this long after a console made it (the console's clock)
NONCE_AHEAD_S = 5.0  # how far ahead another console process's clock may be of this one's
MAX_USED_NONCES = 10_000  # nonces taken and not yet expired: only relays with a good proof add one
# how long the console database keeps a taken nonce, by its own clock: a process whose clock is up to
# NONCE_AHEAD_S behind the maker's takes a nonce until NONCE_TTL_S + NONCE_AHEAD_S after it was made
# (and it was taken after it was made); one NONCE_AHEAD_S more for the database's clock stepping
NONCE_KEPT_S = NONCE_TTL_S + 2 * NONCE_AHEAD_S
NONCE_PURGE_BATCH = (
    64  # expired rows each take deletes at most (a take adds one: the table stays bounded)
)
MAX_PROVEN = 256  # nonce-less proofs that held, remembered (each needs a device key to make)
_DOMAIN = b"meshpos-relay-device-v1\n"
_FRESH_DOMAIN = b"meshpos-relay-device-v2\n"  # the same, with the console's nonce
_NONCE = re.compile(r"^[A-Za-z0-9_-]{48}$")  # 36 bytes: time (8), random (12), HMAC (16)
# how every refusal of the relay's device (not of its token) begins, in the console's answer: the
# relay's log and ``meshpos doctor`` tell the operator to look at the device, not at console_token
DEVICE_REFUSED = "relay proof: "
_MAX_HEADER_CHARS = 4096  # a P-256 certificate is ~0.7 kB of DER


def revoked_words(device: str, venue_id: str) -> str:
    """Why a revoked relay is refused (at its admission, or its live link closed later)."""
    return f"{DEVICE_REFUSED}{device!r} is revoked (on venue {venue_id}'s deny-list)"


def replayed_words(elsewhere: bool = False) -> str:
    """Why a proof whose console nonce was taken already is refused: by this process (``elsewhere``
    False), or by another console process of the venue or this one before it restarted (the table
    of taken nonces in the console's database)."""
    where = " (by another console process of this venue, or before this one restarted)"
    return f"{DEVICE_REFUSED}the console nonce was used already{where if elsewhere else ''}: a replayed proof"


def refuses_the_device(reason: str) -> bool:
    """Whether the console's refusal ``reason`` is about the relay's device rather than its token."""
    return reason.startswith(DEVICE_REFUSED)


def _body(venue_id: str, token: str, nonce: str = "") -> bytes:
    """What a proof signs; ``nonce`` (checked against :data:`_NONCE` first, so ASCII) the console's."""
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if nonce:
        return _FRESH_DOMAIN + f"{venue_id}\n{digest}\n{nonce}".encode("ascii")
    return _DOMAIN + f"{venue_id}\n{digest}".encode("ascii")


def relay_proof(identity: DeviceIdentity, token: str, nonce: str = "") -> dict[str, str]:
    """The headers a relay sends the console with ``token``: its certificate and its signature, over
    the console's ``nonce`` when it gave one (a probe's answer: :func:`nonce_in_answer`)."""
    key = load_private_key(identity.key_pem, "device key")
    cert = load_certificate(identity.cert_pem, "device certificate")
    sig = key.sign(_body(identity.venue_id, token, nonce), ec.ECDSA(hashes.SHA256()))
    headers = {
        CERT_HEADER: base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        PROOF_HEADER: base64.b64encode(sig).decode(),
    }
    if nonce:
        headers[NONCE_HEADER] = nonce
    return headers


class RelayProof(dict[str, str]):
    """A relay's proof headers without a nonce (its probes'; a dial to an N−1 console), which can
    make the fresh one for a console's nonce (:meth:`fresh`): a relay's console link takes this
    where it took the plain headers (``ConsoleLinkFactory`` is unchanged)."""

    def __init__(
        self, identity: DeviceIdentity, token: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(relay_proof(identity, token))
        self._identity, self._token, self._clock = identity, token, clock
        self._offered: tuple[str, float] | None = None  # the last probe's nonce, and when it came

    def fresh(self, nonce: str) -> dict[str, str]:
        """The headers for one upgrade, over the console's ``nonce``."""
        return relay_proof(self._identity, self._token, nonce)

    def offer(self, nonce: str) -> None:
        """What the relay's own probe got (twice a second while it is not linked): a nonce its next
        dial signs instead of probing once more first (a round trip less when a relay takes over),
        or "" (the console gives none: N−1, or started without the venue's directory)."""
        self._offered = nonce, self._clock()

    def take(self) -> str | None:
        """The offered nonce, or "" for none, if the probe is young enough (None: probe first).
        Each offer is given out once (the console takes a nonce once)."""
        offered, self._offered = self._offered, None
        if offered is None or self._clock() - offered[1] > NONCE_TTL_S / 3:
            return None
        return offered[0]


def nonce_in_answer(body: bytes) -> str:
    """The nonce in a console's answer to a probe ("" from an N−1 console, or a malformed one)."""
    for line in body.decode("ascii", "replace").splitlines()[1:3]:
        if line.startswith(NONCE_LINE) and _NONCE.match(value := line[len(NONCE_LINE) :]):
            return value
    return ""


class RevokedFile:
    """A venue's ``revoked.json`` as the console checks relays against it: parsed again only when the
    file changed (its inode, size, modification and change times, stat'ed at every call), so a
    revocation counts from the next check while a probe flood or the per-second check of linked
    relays costs a ``stat``. The change time is the kernel's: a file rewritten by hand with its
    old size and a restored modification time (even on a reused inode) is still seen."""

    def __init__(self, path: Path, read: Callable[[], Mapping[str, object]]) -> None:
        """``read``: the authority's parse of it (``VenueAuthority.revoked``), a TrustError if bad."""
        self.path = path
        self._read = read
        self._stamp: tuple[int, int, int, int] | None = None
        self._entries: Mapping[str, object] = {}
        self.reads = 0  # how often it was parsed (the bench and the tests count them)

    def __call__(self) -> Mapping[str, object]:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            stamp = None  # the read below says what is wrong, every time
        if stamp is None or stamp != self._stamp:
            self._stamp = None  # a failed read leaves nothing cached
            self._entries = self._read()
            self.reads += 1
            self._stamp = stamp
        return self._entries


#: a proof's device, and when its certificate is valid from and until
_Proven = tuple[str, datetime.datetime, datetime.datetime]


class RelayAdmission:
    """The console's check of a relay's proof for one venue whose directory it was started with."""

    def __init__(
        self,
        venue_id: str,
        ca_pem: str,
        revoked: Callable[[], Mapping[str, object]],
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        clock: Callable[[], float] = time.time,
        secret: bytes = b"",
    ) -> None:
        """``revoked``: the venue's signed revocations by device id (a :class:`RevokedFile`);
        ``clock``: the console's own seconds that nonces age by (never a register's); ``secret``:
        what nonces are made with, the same in every console process of the venue
        (``VenueAuthority.derived_secret``; none: this process's alone)."""
        self.venue_id = venue_id
        self._ca = load_certificate(ca_pem, "venue CA")
        self._revoked = revoked
        self._now = now
        self._clock = clock
        self._secret = secret or secrets.token_bytes(32)
        # nonce -> when it expires (in insertion order: the oldest first)
        self._used: dict[str, float] = {}
        self._held: OrderedDict[tuple[str, str, bytes], _Proven] = OrderedDict()

    def _mac(self, stamp_and_random: bytes) -> bytes:
        message = self.venue_id.encode() + b"\n" + stamp_and_random
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:16]

    def issue_nonce(self) -> str:
        """A nonce for a relay's next upgrade (the probe's answer hands it over)."""
        made = int(self._clock() * 1000).to_bytes(8, "big") + secrets.token_bytes(12)
        return base64.urlsafe_b64encode(made + self._mac(made)).decode()

    def _nonce_refusal(self, nonce: str) -> str | None:
        """Why the console's nonce in a proof is not taken (before any signature is checked: cheap)."""
        if not _NONCE.match(nonce):
            return f"{DEVICE_REFUSED}the console nonce is malformed"
        raw = base64.urlsafe_b64decode(nonce)
        if not hmac.compare_digest(raw[20:], self._mac(raw[:20])):
            return (
                f"{DEVICE_REFUSED}the console nonce is not this console's (made up, or by a "
                "console started without this venue's directory)"
            )
        age = self._clock() - int.from_bytes(raw[:8], "big") / 1000
        if age > NONCE_TTL_S:
            return f"{DEVICE_REFUSED}the console nonce is over {NONCE_TTL_S:.0f} s old (replayed?)"
        if age < -NONCE_AHEAD_S:
            return (
                f"{DEVICE_REFUSED}the console nonce is from {-age:.0f} s ahead of this console's "
                "clock (another console machine's clock is off: set up NTP there)"
            )
        if nonce in self._used:
            return replayed_words()
        return None

    def _take(self, nonce: str) -> str | None:
        """Mark ``nonce`` used (its proof held); None, or why not (too many at once)."""
        now = self._clock()
        while self._used and next(iter(self._used.values())) < now:
            del self._used[next(iter(self._used))]
        if len(self._used) >= MAX_USED_NONCES:
            return f"{DEVICE_REFUSED}too many relay upgrades in {NONCE_TTL_S:.0f} s; try again"
        self._used[nonce] = now + NONCE_TTL_S
        return None

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

    def _proven(self, cert_b64: str, sig_b64: str, token: str, nonce: str) -> _Proven | str:
        """The device a certificate and signature prove, and its certificate's validity; or why
        they prove nothing. A nonce-less proof that held is remembered (:data:`MAX_PROVEN`): every
        register that is not the relay probes twice a second with the same one, and the answer is
        a function of the bytes (time and revocation are checked by the caller, every time)."""
        key = (cert_b64, sig_b64, hashlib.sha256(token.encode()).digest()) if not nonce else None
        if key is not None and (hit := self._held.get(key)) is not None:
            self._held.move_to_end(key)
            return hit
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
        public = cert.public_key()
        try:
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise InvalidSignature
            public.verify(sig, _body(self.venue_id, token, nonce), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            over = "this venue, token and console nonce" if nonce else "this venue and token"
            return f"{DEVICE_REFUSED}the signature is not {device!r}'s over {over}"
        proven = device, cert.not_valid_before_utc, cert.not_valid_after_utc
        if key is not None:
            self._held[key] = proven
            if len(self._held) > MAX_PROVEN:
                self._held.popitem(last=False)
        return proven

    def knocking(self, headers: Mapping[str, str], token: str) -> str:
        """The device a relay refused for its token proves it is ("": none proven), so the console
        can show *that device* as holding a wrong venue token (the register already says so).

        Only its name is taken, and only when its proof holds as an admission's would: a certificate
        of this venue's authority, valid now, not revoked, and its signature over this venue and the
        very token it presented (an old one, rotated away). Nothing else it sends is read. A proof
        seen on a plain ``ws://`` line can be sent again by whoever saw it, with the same old token:
        it then still names a device that did hold that token (never a device that did not)."""
        cert_b64, sig_b64 = headers.get(CERT_HEADER, ""), headers.get(PROOF_HEADER, "")
        if not cert_b64 or not sig_b64 or max(len(cert_b64), len(sig_b64)) > _MAX_HEADER_CHARS:
            return ""
        proven = self._proven(cert_b64, sig_b64, token, headers.get(NONCE_HEADER, ""))
        if isinstance(proven, str):
            return ""
        device, valid_from, valid_until = proven
        if not valid_from <= self._now() <= valid_until or device in self._revoked():
            return ""
        return device

    def refusal(
        self, headers: Mapping[str, str], token: str, *, upgrade: bool = False
    ) -> str | None:
        """None when the relay may come in; else why not, in words for the relay's operator.
        ``upgrade``: the relay's websocket upgrade (a fresh proof needed once the venue revoked any,
        and its nonce is taken), not its probe (which admits nothing)."""
        cert_b64, sig_b64 = headers.get(CERT_HEADER, ""), headers.get(PROOF_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
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
        if nonce and (why := self._nonce_refusal(nonce)) is not None:
            return why
        if upgrade and not nonce and revoked:
            return (
                f"{DEVICE_REFUSED}venue {self.venue_id} has revoked devices: a relay's proof must "
                "carry the console's nonce (a proof without one can be replayed), and this one has "
                "none (upgrade meshpos on it)"
            )
        proven = self._proven(cert_b64, sig_b64, token, nonce)
        if isinstance(proven, str):
            return proven
        device, valid_from, valid_until = proven
        if not valid_from <= self._now() <= valid_until:
            return f"{DEVICE_REFUSED}the certificate of {device!r} is not valid now"
        if device in revoked:
            return revoked_words(device, self.venue_id)
        return self._take(nonce) if upgrade and nonce else None
