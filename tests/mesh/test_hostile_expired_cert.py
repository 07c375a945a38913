"""A device whose certificate the venue's CA signed, with the right names and role, but which expired
(or is not valid yet), dials a node's sync port: refused at the TLS handshake, counted, one log line
naming why, nothing of the node changed, and an honest peer still links and syncs afterwards."""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from meshpos.config import load_config
from meshpos.harness.wait import until
from meshpos.net.wsconn import LinkRefused
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.trust import DeviceIdentity, VenueAuthority
from meshpos.trust.certs import certificate_pem, load_private_key, new_private_key, private_key_pem

from ..trust.helpers import device_san
from .attacker import WAIT, Attacker
from .kit import make_device, make_venue
from .test_security import HOST, NOW, link, sell, state


def _identity(authority: VenueAuthority, device_id: str, days: tuple[int, int]) -> DeviceIdentity:
    """A certificate of the venue's CA for ``device_id`` valid from ``days[0]`` to ``days[1]`` days
    from now (real time: TLS checks it against the system clock)."""
    ca_key = load_private_key((authority.directory / "ca.key").read_text(), "ca.key")
    ca = x509.load_pem_x509_certificate(authority.ca_pem.encode())
    key = new_private_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(
            x509.SubjectAlternativeName(device_san(device_id, authority.venue_id)), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return DeviceIdentity(
        device_id,
        "register",
        authority.venue_id,
        private_key_pem(key),
        certificate_pem(cert),
        authority.ca_pem,
    )


@pytest.fixture
async def nodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[VenueAuthority, Node, Node]]:
    caplog.set_level(logging.INFO, logger="meshpos")
    authority = make_venue(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for name in ("R1", "R2"):
            path = make_device(authority, tmp_path, name, heartbeat_interval=0.2)
            started.append(
                await stack.enter_async_context(
                    make_node(load_config(path, env={}), discovery=False, clock=lambda: NOW)
                )
            )
        yield authority, started[0], started[1]


@pytest.mark.parametrize(("days", "why"), [((-60, -1), "expired"), ((1, 60), "not yet valid")])
async def test_a_certificate_out_of_its_validity_is_refused_at_tls_and_changes_nothing(
    nodes: tuple[VenueAuthority, Node, Node],
    caplog: pytest.LogCaptureFixture,
    days: tuple[int, int],
    why: str,
) -> None:
    authority, r1, r2 = nodes
    await sell(r1)
    before = state(r1)
    identity = _identity(authority, "R9", days)
    with pytest.raises(LinkRefused):
        await Attacker.dial(identity, "R1", HOST, r1.port)
    await until(lambda: r1.status().refusals.get("tls") == 1, WAIT, "the refusal counted", on=[r1])
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("meshpos.net")]
    assert any("tls" in line and why in line for line in lines), lines
    assert not any(r.exc_info for r in caplog.records)
    assert r1.status().peers == {}
    assert state(r1) == before
    await link(r2, r1)  # an honest peer is still served
