"""Revocation as a deny-list of entries signed by the venue CA, carried through the mesh in a CRDT document.

Any node may relay an entry, so each one is checked against the CA before it counts; a node can neither
forge nor alter one. Entries read back from pycrdt hold ``at`` as a float (pycrdt turns integers into
floats), so integral floats are accepted and normalised to int.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import TrustError
from meshpos.trust.names import check_device_id, is_device_id

Entry = dict[str, str | int]

_DOMAIN = b"meshpos-revocation-v1\n"
_FIELDS = frozenset({"device", "at", "reason", "sig"})
MAX_REASON = 200
_MAX_SIG = 200  # base64 of a DER ECDSA P-256 signature is at most 96 characters
_MAX_AT = 2**53  # stays exact through JavaScript and pycrdt's floats


class Signer(Protocol):
    """What signs an entry: the venue authority (``VenueAuthority``), which itself signs through this module,
    so the deny-list names only the one method it needs instead of importing it back."""

    def sign(self, data: bytes) -> bytes: ...


def _canonical(device: str, at: int, reason: str) -> bytes:
    return _DOMAIN + json.dumps([device, at, reason], separators=(",", ":")).encode("ascii")


def sign_revocation(authority: Signer, device_id: str, at_ms: int, reason: str) -> Entry:
    """A JSON-serialisable deny-list entry ``{device, at, reason, sig}`` signed by the venue CA."""
    check_device_id(device_id)
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not 0 <= at_ms < _MAX_AT:
        raise TrustError(f"revocation time {at_ms!r}: must be milliseconds since the epoch")
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise TrustError(f"revocation reason: use at most {MAX_REASON} printable characters")
    sig = authority.sign(_canonical(device_id, at_ms, reason))
    return {
        "device": device_id,
        "at": at_ms,
        "reason": reason,
        "sig": base64.b64encode(sig).decode("ascii"),
    }


def _normalise(public_key: ec.EllipticCurvePublicKey, entry: object) -> Entry | None:
    """The entry with ``at`` as int if it is well formed and signed by ``public_key``, else None."""
    if not isinstance(entry, Mapping) or set(entry) != _FIELDS:
        return None
    device, at, reason, sig = entry["device"], entry["at"], entry["reason"], entry["sig"]
    if isinstance(at, float) and at.is_integer():
        at = int(at)
    if (
        not is_device_id(device)
        or isinstance(at, bool)
        or not isinstance(at, int)
        or not 0 <= at < _MAX_AT
        or not isinstance(reason, str)
        or len(reason) > MAX_REASON
        or not isinstance(sig, str)
        or len(sig) > _MAX_SIG
    ):
        return None
    try:
        raw = base64.b64decode(sig, validate=True)
        public_key.verify(raw, _canonical(device, at, reason), ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature, UnicodeError):
        return None
    return {"device": device, "at": at, "reason": reason, "sig": sig}


def _ca_public_key(ca_pem: str | bytes) -> ec.EllipticCurvePublicKey | None:
    try:
        data = ca_pem.encode("ascii") if isinstance(ca_pem, str) else ca_pem
        key = x509.load_pem_x509_certificate(data).public_key()
    except (ValueError, TypeError, UnicodeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def verify_revocation(ca_pem: str | bytes, entry: object) -> bool:
    """True only for an untampered entry signed by this CA; never raises, whatever ``entry`` is."""
    key = _ca_public_key(ca_pem)
    return key is not None and _normalise(key, entry) is not None


class DenyList:
    """The revoked devices of one venue, built from entries of any origin; only CA-signed ones count.

    When one device has several valid entries (revoked twice), the smallest ``(at, reason, sig)`` wins, so
    every node keeps the same entry whatever order they arrive in.
    """

    def __init__(self, ca_pem: str | bytes) -> None:
        key = _ca_public_key(ca_pem)
        if key is None:
            raise TrustError(
                "deny-list: the venue CA certificate is not a valid EC PEM certificate"
            )
        self._key = key
        self._entries: dict[str, Entry] = {}

    def add(self, entry: object) -> bool:
        """Accept a valid entry (True) or ignore an invalid one (False); never raises on bad input."""
        valid = _normalise(self._key, entry)
        if valid is None:
            return False
        device = str(valid["device"]).lower()  # TLS host names ignore case, so revocation does too
        old = self._entries.get(device)
        if old is None or _order(valid) < _order(old):
            self._entries[device] = valid
        return True

    def is_revoked(self, device_id: str) -> bool:
        return device_id.lower() in self._entries

    def entries(self) -> list[Entry]:
        return [self._entries[d] for d in sorted(self._entries)]


def _order(entry: Entry) -> tuple[int, str, str]:
    return (int(entry["at"]), str(entry["reason"]), str(entry["sig"]))
