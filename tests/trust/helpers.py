"""Shared helpers for the trust tests: identities issued without the network, TLS and pairing harnesses."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshpos.trust import (
    DeviceIdentity,
    EnrollmentResult,
    PairingCode,
    PeerInfo,
    VenueAuthority,
    device_hostname,
    peer_certificate_info,
    serve_pairing,
    server_ssl_context,
)
from meshpos.trust.certs import certificate_pem, new_private_key, private_key_pem
from meshpos.trust.identity import identity_from_pems, new_csr

WAIT = 10.0  # a guard against hangs, never a synchronisation delay


def issue_identity(
    authority: VenueAuthority, device_id: str, role: str = "register"
) -> DeviceIdentity:
    key = new_private_key()
    cert = authority.issue(new_csr(key, device_id), device_id, role)
    return identity_from_pems(private_key_pem(key), cert, authority.ca_pem)


def build_cert(
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    cn: str = "reg1",
    san: list[x509.GeneralName] | None = None,
    issuer: x509.Name | None = None,
) -> x509.Certificate:
    """A leaf certificate with whatever names a test wants (self-signed when ``signer is key``)."""
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


def device_san(device_id: str, venue_id: str, role: str = "register") -> list[x509.GeneralName]:
    return [
        x509.DNSName(device_hostname(device_id, venue_id)),
        x509.UniformResourceIdentifier(f"meshpos:role:{role}"),
        x509.UniformResourceIdentifier(f"meshpos:venue:{venue_id}"),
    ]


def self_signed_identity(device_id: str, venue: VenueAuthority) -> DeviceIdentity:
    """Looks like a device of ``venue`` (same names) but no CA signed it; it trusts the real CA."""
    key = new_private_key()
    cert = build_cert(key, key, cn=device_id, san=device_san(device_id, venue.venue_id))
    return DeviceIdentity(
        device_id,
        "register",
        venue.venue_id,
        private_key_pem(key),
        certificate_pem(cert),
        venue.ca_pem,
    )


@dataclass
class Exchange:
    server: PeerInfo | BaseException  # what the server saw: the client's PeerInfo or why it failed
    client: str | BaseException  # the server's reply line, or why the client failed
    tls_version: str | None = None


async def tls_exchange(
    server_identity: DeviceIdentity,
    client_ctx: ssl.SSLContext,
    *,
    expect_device: str | None = None,
    venue_id: str | None = None,
) -> Exchange:
    """One mutual-TLS connection over loopback: the server checks the client, the client checks the name."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[PeerInfo | BaseException] = loop.create_future()
    server_ctx = server_ssl_context(server_identity)
    venue = venue_id or server_identity.venue_id

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(server_ctx)
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            info = peer_certificate_info(der, venue_id=venue)
            await reader.readline()
            writer.write(f"hello {info.device_id}\n".encode())
            await writer.drain()
            seen.set_result(info)
        except Exception as exc:
            seen.set_result(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    version = None
    try:
        client: str | BaseException
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=client_ctx,
                server_hostname=device_hostname(expect_device or server_identity.device_id, venue),
            )
            version = writer.get_extra_info("ssl_object").version()
            writer.write(b"ping\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), WAIT)
            client = line.decode() if line else ConnectionError("closed without a reply")
            writer.close()
        except (OSError, ssl.SSLError) as exc:
            client = exc
        return Exchange(await asyncio.wait_for(seen, WAIT), client, version)
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Pairing:
    task: asyncio.Task[EnrollmentResult]
    url: str
    code: PairingCode


async def start_pairing(
    authority: VenueAuthority, role: str = "register", host: str = "127.0.0.1", **kwargs: Any
) -> Pairing:
    """Start serve_pairing and return once it listens (on_ready), or raise what it failed with."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[tuple[int, PairingCode]] = loop.create_future()
    task = asyncio.create_task(
        serve_pairing(
            authority, role, host, 0, on_ready=lambda p, c: ready.set_result((p, c)), **kwargs
        )
    )
    either: list[asyncio.Future[Any]] = [ready, task]
    await asyncio.wait(either, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await task  # raises why it never became ready
    port, code = ready.result()
    return Pairing(task, f"ws://{host}:{port}", code)


def wrong_code(code: PairingCode) -> str:
    return f"{(int(code.digits) + 1) % 10**10:010d}"


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def expired_pem(authority: VenueAuthority, cert_pem: str) -> str:
    """``cert_pem`` issued again by the venue CA with its subject, key and extensions, valid until
    yesterday (a device whose certificate lapsed: the doctor's and the console's refusals)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=1))
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return certificate_pem(builder.sign(authority._key, hashes.SHA256()))  # the CA's own key
