"""Trust: the venue CA, device identities, mutual TLS, the deny-list and enrollment with a pairing code."""

from __future__ import annotations

from meshpos.trust._files import new_token, stored_token
from meshpos.trust.authority import VenueAuthority, init_venue, load_venue
from meshpos.trust.certs import PeerInfo, ca_fingerprint, peer_certificate_info
from meshpos.trust.denylist import DenyList, sign_revocation, verify_revocation
from meshpos.trust.enroll import enroll, serve_pairing
from meshpos.trust.identity import DeviceIdentity, load_identity, save_identity
from meshpos.trust.names import device_hostname
from meshpos.trust.pairing import EnrollmentResult, PairingCode
from meshpos.trust.tls import client_ssl_context, server_ssl_context, token_ssl_context

__all__ = [
    "DenyList",
    "DeviceIdentity",
    "EnrollmentResult",
    "PairingCode",
    "PeerInfo",
    "VenueAuthority",
    "ca_fingerprint",
    "client_ssl_context",
    "device_hostname",
    "enroll",
    "init_venue",
    "load_identity",
    "load_venue",
    "new_token",
    "peer_certificate_info",
    "save_identity",
    "serve_pairing",
    "server_ssl_context",
    "sign_revocation",
    "stored_token",
    "token_ssl_context",
    "verify_revocation",
]
