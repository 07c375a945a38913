"""Sans-I/O pairing: a device proves it knows a one-time code, and gets a certificate for its own key.

Why a PAKE: a 10-digit code is far too weak to derive keys from directly (anyone who saw the exchange could
try every code offline). SPAKE2 gives an attacker exactly one guess per attempt, and an attempt burns the code.

Messages (JSON objects, ``"v": 1``, no other fields than listed, at most :data:`MAX_MESSAGE` bytes)::

    device -> server  hello   {device, pake}       SPAKE2 side A; device id bound into the PAKE
    server -> device  pake    {pake}               SPAKE2 side B; from here the code is spent
    device -> server  csr     {csr, mac}           mac = HMAC(device key, csr): proves the code
    server -> device  issued  {cert, ca, venue, role, mac}   mac = HMAC(server key, ...): proves the code
    either way        refused {code, reason}       unauthenticated; never saves anything

Both MAC keys come from the SPAKE2 key through HKDF-SHA256 with distinct labels. The server state is per code
(one attempt, ever); a malformed first message reveals nothing, so it only closes that connection. Time enters
only as ``now`` arguments; the device's side is ``pairing_device``, the websocket side of both ``enroll``.

**Changed** (the twenty-third session, part ``outside``): a server made for one device id
(``pair --device``) refuses at once an id the venue revoked or already issued (unless ``reissue``),
before any code is shown; a server for any device checks each hello's id as before.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B

from meshpos.digits import ascii_digits
from meshpos.errors import (
    EnrollmentRefused,
    LocalProtocolError,
    MeshposError,
    PairingCodeExpired,
    PairingCodeInvalid,
    TrustError,
)
from meshpos.model.roles import NODE_ROLES
from meshpos.trust.names import check_device_id, is_device_id, is_venue_id

VERSION = 1
MAX_MESSAGE = 16 * 1024
CODE_DIGITS = 10
DEFAULT_TTL = 300.0
MAX_TTL = 86_400.0  # a day: a code that waits longer is one more secret lying about
_PAKE_LEN = 33  # side byte + one Ed25519 group element
_MAC_LEN = 32
_MAX_PEM = 8 * 1024
_MAX_REASON = 300
_ID_A_PREFIX = b"meshpos-pairing-device:"
_ID_B = b"meshpos-pairing-venue"
WRONG_CODE = "pairing code rejected; ask for a new code"
EXPIRED_CODE = "pairing code expired; ask for a new code"


# --- the code -------------------------------------------------------------------------------------


def parse_code(text: str) -> str:
    """The digits of a code as people type it (``1234-5678-90``, spaces and dashes ignored)."""
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) != CODE_DIGITS or not ascii_digits(digits):
        raise PairingCodeInvalid(
            f"pairing code {text!r}: must be {CODE_DIGITS} digits, like 1234-5678-90"
        )
    return digits


@dataclass(frozen=True, slots=True)
class PairingCode:
    """A one-time code; ``expires_at`` is on the same clock as the ``now`` given to the server."""

    digits: str
    expires_at: float

    def __post_init__(self) -> None:
        parse_code(self.digits)

    @classmethod
    def generate(cls, now: float, ttl: float = DEFAULT_TTL) -> PairingCode:
        return cls(f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}", now + ttl)

    @classmethod
    def parse(cls, text: str, now: float, ttl: float = DEFAULT_TTL) -> PairingCode:
        return cls(parse_code(text), now + ttl)

    @property
    def display(self) -> str:
        d = self.digits
        return f"{d[:4]}-{d[4:8]}-{d[8:]}"

    def __repr__(self) -> str:  # the code is a secret: keep it out of logs
        return f"PairingCode(expires_at={self.expires_at})"

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


# --- messages -------------------------------------------------------------------------------------

# field kinds: "device", "venue", "role", "pake", "mac", "pem", "reason", "refusal"
SCHEMAS: dict[str, dict[str, str]] = {
    "hello": {"device": "device", "pake": "pake"},
    "pake": {"pake": "pake"},
    "csr": {"csr": "pem", "mac": "mac"},
    "issued": {"cert": "pem", "ca": "pem", "venue": "venue", "role": "role", "mac": "mac"},
    "refused": {"code": "refusal", "reason": "reason"},
}
#: fields a message may carry beyond its schema (**Changed** (issue 18, sticky): the console's
#: certificate, sent only to a device that announced it takes it, ``TAKES_CONSOLE``)
OPTIONAL: dict[str, dict[str, str]] = {"issued": {"console": "pem"}}
#: the device's websocket handshake header announcing it takes the console's certificate: an N−1
#: pairing server ignores it (its messages stay as they were); an N−1 device sends none and gets
#: the ``issued`` message it knows
TAKES_CONSOLE = ("X-Meshpos-Pairing", "console1")
# why a server refused; "code" and "expired" mean the device should ask for a new code
REFUSALS = frozenset({"code", "expired", "busy", "device", "malformed", "failed"})


def encode(kind: str, **fields: str) -> str:
    if not set(SCHEMAS[kind]) <= set(fields) <= set(SCHEMAS[kind]) | set(OPTIONAL.get(kind, {})):
        raise ValueError(f"{kind}: fields must be {sorted(SCHEMAS[kind])}")
    return json.dumps({"v": VERSION, "type": kind, **fields}, separators=(",", ":"))


def decode(data: str | bytes) -> tuple[str, dict[str, str]]:
    """``(type, fields)`` of a valid message; :class:`EnrollmentRefused` saying what is wrong otherwise."""
    if len(data) > MAX_MESSAGE:
        raise EnrollmentRefused(f"pairing message too large ({len(data)} > {MAX_MESSAGE} bytes)")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeError, RecursionError):
        raise EnrollmentRefused("pairing message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise EnrollmentRefused("pairing message must be a JSON object")
    version = obj.pop("v", None)
    if version != VERSION or isinstance(version, bool):
        raise EnrollmentRefused(
            f"unsupported pairing protocol version {version!r} (this meshpos speaks {VERSION})"
        )
    kind = obj.pop("type", None)
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise EnrollmentRefused(f"unknown pairing message type {kind!r}")
    schema = {**SCHEMAS[kind], **{f: k for f, k in OPTIONAL.get(kind, {}).items() if f in obj}}
    if set(obj) != set(schema):
        extra, missing = sorted(set(obj) - set(schema)), sorted(set(schema) - set(obj))
        raise EnrollmentRefused(
            f"pairing message {kind!r}: unknown fields {extra}, missing {missing}"
        )
    for name, value in obj.items():
        if not isinstance(value, str) or not _valid(schema[name], value):
            raise EnrollmentRefused(
                f"pairing message {kind!r}: field {name!r} is not a valid {schema[name]}"
            )
    return kind, obj


def _valid(kind: str, value: str) -> bool:
    if kind == "device":
        return is_device_id(value)
    if kind == "venue":
        return is_venue_id(value)
    if kind == "role":
        return value in NODE_ROLES
    if kind == "refusal":
        return value in REFUSALS
    if kind == "reason":
        return len(value) <= _MAX_REASON and value.isprintable()
    if kind == "pem":
        return len(value) <= _MAX_PEM and value.isascii() and value.startswith("-----BEGIN ")
    size = {"pake": _PAKE_LEN, "mac": _MAC_LEN}[kind]
    return len(value) <= 2 * size and len(unb64(value) or b"") == size


def unb64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def refused(code: str, reason: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in reason[:_MAX_REASON])
    return encode("refused", code=code, reason=printable)


# --- keys and MACs --------------------------------------------------------------------------------


def mac_keys(pake_key: bytes) -> tuple[bytes, bytes]:
    """(device MAC key, server MAC key): distinct, so one side's MAC is never valid for the other."""

    def derive(label: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=b"meshpos pairing v1 " + label).derive(
            pake_key
        )

    return derive(b"device confirm"), derive(b"server confirm")


def mac_of(key: bytes, *fields: str) -> bytes:
    """HMAC-SHA256 over length-prefixed fields (no two field lists encode alike)."""
    data = b"".join(struct.pack(">I", len(b)) + b for b in (f.encode() for f in fields))
    return hmac.new(key, data, hashlib.sha256).digest()


def spake_a(digits: str, device_id: str) -> SPAKE2_A:
    return SPAKE2_A(digits.encode("ascii"), idA=_ID_A_PREFIX + device_id.encode("ascii"), idB=_ID_B)


def spake_b(digits: str, device_id: str) -> SPAKE2_B:
    return SPAKE2_B(digits.encode("ascii"), idA=_ID_A_PREFIX + device_id.encode("ascii"), idB=_ID_B)


def finish_pake(spake: SPAKE2_A | SPAKE2_B, message: str) -> bytes:
    try:
        key: bytes = spake.finish(base64.b64decode(message))
    except Exception as exc:  # spake2 raises several unrelated types for a bad element
        raise EnrollmentRefused(
            f"pairing message carries an invalid PAKE value ({exc!r})"
        ) from None
    return key


_S = TypeVar("_S", bound=enum.Enum)


def next_state(table: dict[tuple[_S, str], _S], state: _S, trigger: str) -> _S:
    try:
        return table[(state, trigger)]
    except KeyError:
        raise LocalProtocolError(f"pairing: {trigger!r} is not allowed in state {state}") from None


# --- server ---------------------------------------------------------------------------------------


class Issuer(Protocol):
    """What the server needs from the venue (``VenueAuthority`` is one)."""

    @property
    def venue_id(self) -> str: ...

    @property
    def ca_pem(self) -> str: ...

    def check_new_device(self, device_id: str, *, reissue: bool = False) -> None: ...

    def issue(
        self,
        public_key_pem_or_csr: str | bytes,
        device_id: str,
        role: str,
        *,
        reissue: bool = False,
    ) -> str: ...


class ServerState(enum.Enum):
    OPEN = "open"  # waiting for a device's hello
    ATTEMPT = "attempt"  # one device holds the only attempt this code allows
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


SERVER_TRANSITIONS: dict[tuple[ServerState, str], ServerState] = {
    (ServerState.OPEN, "hello"): ServerState.ATTEMPT,
    (ServerState.OPEN, "expire"): ServerState.EXPIRED,
    (ServerState.ATTEMPT, "confirmed"): ServerState.DONE,
    (ServerState.ATTEMPT, "fail"): ServerState.FAILED,
}
FINISHED = frozenset({ServerState.DONE, ServerState.FAILED, ServerState.EXPIRED})


@dataclass(frozen=True, slots=True)
class Reply:
    send: str
    close: bool


@dataclass(frozen=True, slots=True)
class EnrollmentResult:
    device_id: str
    role: str
    venue_id: str
    serial: str  # hex
    cert_pem: str


class PairingServer:
    """The venue side of one pairing code, over any number of connections (``conn`` tells them apart)."""

    def __init__(
        self,
        code: PairingCode,
        issuer: Issuer,
        role: str,
        *,
        device_id: str | None = None,
        reissue: bool = False,
        console_pem: str | None = None,
    ) -> None:
        if role not in NODE_ROLES:
            raise TrustError(f"role {role!r}: must be one of {', '.join(NODE_ROLES)}")
        self.code = code
        self.role = role
        self.state = ServerState.OPEN
        self.result: EnrollmentResult | None = None
        self.error: TrustError | None = None
        self._issuer = issuer
        self._only_device = None if device_id is None else check_device_id(device_id)
        if device_id is not None:
            # refused before a code is shown: ``pair --device R2`` for a revoked (or issued) R2
            # printed a code and waited, and the operator learned it only from the device, after
            # walking to it and typing the code (outside, tenth round)
            issuer.check_new_device(device_id, reissue=reissue)
        self._reissue = reissue
        #: the console's certificate (``console_key``), for a device that takes it (``receive``)
        self._console_pem = console_pem
        self._takes_console = False
        self._conn: Hashable | None = None  # the connection holding the attempt
        self._device = ""
        self._keys = (b"", b"")

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def _move(self, trigger: str) -> None:
        self.state = next_state(SERVER_TRANSITIONS, self.state, trigger)

    def receive(
        self, conn: Hashable, data: str | bytes, now: float, *, takes_console: bool = False
    ) -> Reply:
        """Handle one message from ``conn``; the reply is always sent, then the connection closed if asked.
        ``takes_console``: the device announced it takes the console's certificate (``TAKES_CONSOLE``)."""
        if conn == self._conn and self.state is ServerState.ATTEMPT:
            return self._second(data)
        try:
            reply = self._first(conn, data, now)
            if self._conn == conn:
                self._takes_console = takes_console
            return reply
        except EnrollmentRefused as exc:  # before the PAKE: nothing learned, the code stays valid
            return Reply(refused("malformed", exc.message), close=True)

    def _first(self, conn: Hashable, data: str | bytes, now: float) -> Reply:
        if self.state is ServerState.OPEN and self.code.expired(now):
            self.expire(now)
        if self.state is ServerState.EXPIRED:
            return Reply(refused("expired", EXPIRED_CODE), close=True)
        if self.state is not ServerState.OPEN:
            return Reply(refused("busy", "this pairing code is in use or used up"), close=True)
        kind, msg = decode(data)
        if kind != "hello":
            raise EnrollmentRefused(f"expected a 'hello' pairing message, got {kind!r}")
        device = msg["device"]
        if self._only_device is not None and device != self._only_device:
            return Reply(refused("device", f"this code is for device {self._only_device!r}"), True)
        try:
            self._issuer.check_new_device(device, reissue=self._reissue)
        except MeshposError as exc:
            return Reply(refused("device", exc.message), close=True)
        spake = spake_b(self.code.digits, device)
        outbound = spake.start()
        key = finish_pake(spake, msg["pake"])
        self._move(
            "hello"
        )  # the server's PAKE message allows one guess: the code is spent from here
        self._conn, self._device, self._keys = conn, device, mac_keys(key)
        return Reply(encode("pake", pake=b64e(outbound)), close=False)

    def _second(self, data: str | bytes) -> Reply:
        try:
            kind, msg = decode(data)
            if kind != "csr":
                raise EnrollmentRefused(f"expected a 'csr' pairing message, got {kind!r}")
        except EnrollmentRefused as exc:
            self._fail(
                EnrollmentRefused(f"device {self._device!r} broke the protocol: {exc.message}")
            )
            return Reply(refused("malformed", exc.message), close=True)
        device_key, server_key = self._keys
        if not hmac.compare_digest(
            unb64(msg["mac"]) or b"", mac_of(device_key, "csr", self._device, msg["csr"])
        ):
            self._fail(
                PairingCodeInvalid(
                    f"device {self._device!r} gave a wrong pairing code; the code is used up, "
                    "start pairing again for a new one"
                )
            )
            return Reply(refused("code", WRONG_CODE), close=True)
        try:
            cert_pem = self._issuer.issue(
                msg["csr"], self._device, self.role, reissue=self._reissue
            )
        except MeshposError as exc:
            self._fail(EnrollmentRefused(f"device {self._device!r}: {exc.message}"))
            return Reply(refused("failed", exc.message), close=True)
        venue, ca = self._issuer.venue_id, self._issuer.ca_pem
        fields = {"cert": cert_pem, "ca": ca, "venue": venue, "role": self.role}
        if self._takes_console and self._console_pem is not None:
            fields["console"] = self._console_pem  # (under the MAC too)
        mac = mac_of(server_key, "issued", self._device, *fields.values())
        serial = f"{x509.load_pem_x509_certificate(cert_pem.encode()).serial_number:x}"
        self.result = EnrollmentResult(self._device, self.role, venue, serial, cert_pem)
        self._move("confirmed")
        return Reply(encode("issued", **fields, mac=b64e(mac)), close=True)

    def connection_lost(self, conn: Hashable) -> None:
        """The attempt's connection ended early (closed, timed out): the code is spent."""
        if conn == self._conn and self.state is ServerState.ATTEMPT:
            self._fail(
                EnrollmentRefused(
                    f"device {self._device!r} left in the middle of pairing; the code is used up, "
                    "start pairing again for a new one"
                )
            )

    def expire(self, now: float) -> bool:
        """Expire the code if no attempt is running (True if the server is now finished)."""
        if self.state is ServerState.OPEN and self.code.expired(now):
            self._move("expire")
            self.error = PairingCodeExpired(
                "pairing code expired before any device used it; start pairing again for a new code"
            )
        return self.finished

    def _fail(self, error: TrustError) -> None:
        self.error = error
        self._move("fail")

    def outcome(self) -> EnrollmentResult:
        """The result of a finished server, or its error raised."""
        if self.result is not None:
            return self.result
        raise self.error or TrustError(f"pairing has not finished (state {self.state.value})")
