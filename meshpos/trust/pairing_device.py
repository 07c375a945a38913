"""The device's side of pairing (sans-I/O): send the hello, prove the code, check the certificate it gets.

The protocol, the code and the MACs are in ``pairing``; the server's side is ``PairingServer`` there, and the
websocket side of both is ``enroll`` (docs/architecture.md (Security)).
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from cryptography import x509

from meshpos.errors import (
    EnrollmentRefused,
    PairingCodeExpired,
    PairingCodeInvalid,
    TrustError,
)
from meshpos.sync import ConsoleSignatureRefused
from meshpos.trust.certs import certificate_info, issued_by, same_key
from meshpos.trust.console_key import check_console_certificate
from meshpos.trust.names import check_device_id
from meshpos.trust.pairing import (
    EXPIRED_CODE,
    WRONG_CODE,
    b64e,
    decode,
    encode,
    finish_pake,
    mac_keys,
    mac_of,
    next_state,
    parse_code,
    spake_a,
    unb64,
)


class DeviceState(enum.Enum):
    START = "start"
    WAIT_PAKE = "wait pake"
    WAIT_CERT = "wait cert"
    DONE = "done"
    FAILED = "failed"


DEVICE_TRANSITIONS: dict[tuple[DeviceState, str], DeviceState] = {
    (DeviceState.START, "hello"): DeviceState.WAIT_PAKE,
    (DeviceState.WAIT_PAKE, "pake"): DeviceState.WAIT_CERT,
    (DeviceState.WAIT_CERT, "issued"): DeviceState.DONE,
    (DeviceState.WAIT_PAKE, "fail"): DeviceState.FAILED,
    (DeviceState.WAIT_CERT, "fail"): DeviceState.FAILED,
}
# the one message type the device accepts in each state (besides 'refused')
_EXPECTED = {DeviceState.WAIT_PAKE: "pake", DeviceState.WAIT_CERT: "issued"}


@dataclass(frozen=True, slots=True)
class Issued:
    cert_pem: str
    ca_pem: str
    venue_id: str
    role: str
    console_pem: str | None = None  # the venue console's certificate, when the venue has one


class PairingDevice:
    """The device side: :meth:`start`, then :meth:`receive` each server message until :attr:`result`."""

    def __init__(self, code: str, device_id: str, csr_pem: str) -> None:
        self.state = DeviceState.START
        self.result: Issued | None = None
        self._device = check_device_id(device_id)
        self._csr = csr_pem
        self._public_key = x509.load_pem_x509_csr(csr_pem.encode("ascii")).public_key()
        self._spake = spake_a(parse_code(code), device_id)
        self._keys = (b"", b"")

    def _move(self, trigger: str) -> None:
        self.state = next_state(DEVICE_TRANSITIONS, self.state, trigger)

    def start(self) -> str:
        self._move("hello")
        outbound = self._spake.start()
        return encode("hello", device=self._device, pake=b64e(outbound))

    def receive(self, data: str | bytes) -> str | None:
        """Handle one server message: the next message to send, or None when done. Raises on failure."""
        expected = _EXPECTED.get(self.state)
        if expected is None:
            raise TrustError(f"pairing device: no message expected in state {self.state.value!r}")
        try:
            return self._receive(expected, data)
        except TrustError:
            self._move("fail")
            raise

    def _receive(self, expected: str, data: str | bytes) -> str | None:
        try:
            kind, msg = decode(data)
        except EnrollmentRefused as exc:
            raise EnrollmentRefused(
                f"the pairing server sent a bad message: {exc.message}"
            ) from None
        if kind == "refused":
            if msg["code"] == "code":
                raise PairingCodeInvalid(WRONG_CODE)
            if msg["code"] == "expired":
                raise PairingCodeExpired(EXPIRED_CODE)
            raise EnrollmentRefused(f"the pairing server refused: {msg['reason']}")
        if kind != expected:
            raise EnrollmentRefused(f"the pairing server sent {kind!r} where {expected!r} was due")
        if kind == "pake":
            self._keys = mac_keys(finish_pake(self._spake, msg["pake"]))
            self._move("pake")
            mac = mac_of(self._keys[0], "csr", self._device, self._csr)
            return encode("csr", csr=self._csr, mac=b64e(mac))
        fields = (msg["cert"], msg["ca"], msg["venue"], msg["role"])
        console = msg.get("console")
        signed = fields if console is None else (*fields, console)
        good = mac_of(self._keys[1], "issued", self._device, *signed)
        if not hmac.compare_digest(unb64(msg["mac"]) or b"", good):
            raise EnrollmentRefused(
                "the pairing server's reply failed its integrity check; nothing saved"
            )
        self._check_certificate(*fields)
        if console is not None:
            try:
                check_console_certificate(console, msg["ca"], msg["venue"])
            except ConsoleSignatureRefused as exc:
                raise EnrollmentRefused(
                    f"the pairing server sent a console certificate that is not its venue's: {exc.message}"
                ) from None
        self.result = Issued(*fields, console)
        self._move("issued")
        return None

    def _check_certificate(self, cert_pem: str, ca_pem: str, venue: str, role: str) -> None:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
            ca = x509.load_pem_x509_certificate(ca_pem.encode("ascii"))
        except ValueError as exc:
            raise EnrollmentRefused(
                f"the pairing server sent an unreadable certificate: {exc}"
            ) from None
        info = certificate_info(cert)
        if not issued_by(cert, ca) or not same_key(self._public_key, cert.public_key()):
            raise EnrollmentRefused(
                "the issued certificate is not for this device's key from this CA"
            )
        if (info.device_id, info.venue_id, info.role) != (self._device, venue, role):
            raise EnrollmentRefused(
                f"the issued certificate names {info}, not device {self._device!r}"
            )
