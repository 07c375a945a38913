"""TLS 1.3 contexts for node-to-node sockets: both sides show a venue certificate, and trust only the venue CA.

The server learns who connected from :func:`peer_certificate_info`; the client names the device it wants as
``server_hostname=device_hostname(device_id, venue_id)`` (the id comes from discovery, never the IP), so a
valid certificate of another device of the same venue is still refused.

``ssl`` loads keys only from files. The key is written, encrypted under a random password that only ever
lives in memory, into a private temp directory that is deleted right after loading: nothing readable stays in
/tmp, even if the process dies at the wrong moment.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from meshpos.trust.certs import load_private_key
from meshpos.trust.identity import DeviceIdentity


def server_ssl_context(
    identity: DeviceIdentity, *, certificate_optional: bool = False
) -> ssl.SSLContext:
    """Context for accepting node connections: a client certificate from the venue CA is required;
    ``certificate_optional``: one presented must still be the venue's, but a client may present none
    (a stock Yjs client with a bearer token: the server then refuses every other use, net.links)."""
    ctx = _context(identity, ssl.PROTOCOL_TLS_SERVER)
    if certificate_optional:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def token_ssl_context(identity: DeviceIdentity) -> ssl.SSLContext:
    """Context for the listener of stock Yjs clients with a bearer token (``yjs_port``): the node's
    certificate, and no client certificate asked for. A browser holds none, and Chromium drops a TLS
    1.3 handshake whose server asks for one even as optional; that listener admits tokens only
    (net.yjs), so no device is ever identified on it."""
    ctx = _context(identity, ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_ssl_context(identity: DeviceIdentity) -> ssl.SSLContext:
    """Context for connecting to a node; pass ``server_hostname=device_hostname(peer_id, venue_id)``."""
    ctx = _context(identity, ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = True
    return ctx


def _context(identity: DeviceIdentity, protocol: ssl._SSLMethod) -> ssl.SSLContext:
    ctx = ssl.SSLContext(protocol)  # unlike create_default_context, loads no system CAs
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(cadata=identity.ca_pem)  # str: PEM (bytes would mean DER)
    _load_own_certificate(ctx, identity)
    return ctx


def _load_own_certificate(ctx: ssl.SSLContext, identity: DeviceIdentity) -> None:
    password = secrets.token_urlsafe(32).encode("ascii")
    encrypted = load_private_key(identity.key_pem, "device key").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="meshpos-tls-") as tmp:  # mode 0700
        path = Path(tmp) / "chain.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(encrypted + identity.cert_pem.encode("ascii"))
        ctx.load_cert_chain(path, password=password)


def venue_probe_context(ca_pem: str) -> ssl.SSLContext:
    """Context for asking a device whether its certificate is of the venue CA in ``ca_pem`` (and
    nothing more: it presents no certificate of ours, checks no host name; net.discovery_probe)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(cadata=ca_pem)
    return ctx
