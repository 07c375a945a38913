"""Pairing over real websockets on loopback: enrollment, a wrong code, expiry, hostile clients."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from meshpos.errors import EnrollmentRefused, PairingCodeExpired, PairingCodeInvalid, TrustError
from meshpos.trust import VenueAuthority, enroll, load_identity, serve_pairing
from meshpos.trust.certs import new_private_key
from meshpos.trust.identity import new_csr
from meshpos.trust.pairing import MAX_MESSAGE
from meshpos.trust.pairing_device import PairingDevice

from .helpers import WAIT, files_in, issue_identity, start_pairing, wrong_code


async def test_device_enrolls_and_saves_a_working_identity(
    venue: VenueAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[str | bytes] = []  # the server's messages the device handled
    handle = PairingDevice.receive

    def counted(device: PairingDevice, data: str | bytes) -> str | None:
        received.append(data)
        return handle(device, data)

    monkeypatch.setattr(PairingDevice, "receive", counted)
    pairing = await start_pairing(venue, "kds")
    identity = await enroll(pairing.url, pairing.code.display, "kds_1", tmp_path / "id")
    result = await asyncio.wait_for(pairing.task, WAIT)
    assert (identity.device_id, identity.role, identity.venue_id) == ("kds_1", "kds", "venue-1")
    assert load_identity(tmp_path / "id") == identity
    cert = x509.load_pem_x509_certificate(identity.cert_pem.encode())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(venue.ca_pem.encode()))
    assert (result.device_id, result.role, result.serial) == (
        "kds_1",
        "kds",
        f"{cert.serial_number:x}",
    )
    assert venue.issued()["kds_1"]["role"] == "kds"
    # what keeps enrolment quick (speed itself is measured, not asserted): a P-256 key, made in
    # a millisecond (an RSA key takes up to seconds), and two round trips on one connection
    # (hello -> the PAKE's answer, the device's reply -> its certificate), with no wait between
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey), key
    assert key.curve.name == "secp256r1"
    assert len(received) == 2, received


async def test_pairing_binds_to_the_given_loopback_address(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    pairing = await start_pairing(venue, host="127.0.0.2")
    with socket.create_connection(("127.0.0.2", int(pairing.url.rsplit(":", 1)[1]))):
        pass
    await enroll(pairing.url, pairing.code.digits, "reg1", tmp_path / "id")
    assert (await pairing.task).device_id == "reg1"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", ""])
async def test_pairing_refuses_wildcard_addresses(venue: VenueAuthority, host: str) -> None:
    with pytest.raises(TrustError, match="never a wildcard"):
        await serve_pairing(venue, "register", host, 0)


async def test_wrong_code_fails_both_sides_and_burns_the_code(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    pairing = await start_pairing(venue)
    with pytest.raises(PairingCodeInvalid, match=r"^pairing code rejected; ask for a new code$"):
        await enroll(pairing.url, wrong_code(pairing.code), "reg1", tmp_path / "id")
    with pytest.raises(PairingCodeInvalid, match="wrong pairing code; the code is used up"):
        await asyncio.wait_for(pairing.task, WAIT)
    assert files_in(tmp_path / "id") == []
    assert venue.issued() == {}
    with pytest.raises(
        EnrollmentRefused, match=r"nothing answers at .*: meshpos pair is not running there"
    ):
        await enroll(pairing.url, pairing.code.display, "reg1", tmp_path / "id")
    assert files_in(tmp_path / "id") == []


async def test_expired_code_ends_the_server(venue: VenueAuthority, tmp_path: Path) -> None:
    pairing = await start_pairing(venue, ttl=0.05)
    with pytest.raises(PairingCodeExpired, match="expired before any device used it"):
        await asyncio.wait_for(pairing.task, WAIT)
    with pytest.raises(
        EnrollmentRefused, match=r"nothing answers at .*: meshpos pair is not running there"
    ):
        await enroll(pairing.url, pairing.code.display, "reg1", tmp_path / "id")


async def test_hostile_messages_are_refused_and_the_code_stays_usable(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    pairing = await start_pairing(venue)
    refusals = []
    messages: list[str | bytes] = [
        "not json",
        json.dumps({"v": 2, "type": "hello"}),
        json.dumps({"v": 1, "type": "csr", "csr": "-----BEGIN x", "mac": "AAAA"}),
        b'{"v":1,"type":"hello"}',
        "x" * (MAX_MESSAGE + 1),
    ]
    for message in messages:
        async with connect(pairing.url, proxy=None) as ws:
            await ws.send(message)
            refusals.append(json.loads(await ws.recv()))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    assert [r["code"] for r in refusals] == ["malformed"] * 5
    assert "too large" in refusals[-1]["reason"]
    assert "version 2" in refusals[1]["reason"]
    async with connect(
        pairing.url, proxy=None
    ) as ws:  # above websockets' own limit: closed with 1009
        await ws.send("x" * (5 * MAX_MESSAGE))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
    assert not pairing.task.done()
    identity = await enroll(pairing.url, pairing.code.display, "reg1", tmp_path / "id")
    assert identity.device_id == "reg1"
    assert (await pairing.task).device_id == "reg1"


async def test_garbage_after_the_pake_spends_the_code(venue: VenueAuthority) -> None:
    pairing = await start_pairing(venue)
    device = PairingDevice(pairing.code.digits, "reg1", new_csr(new_private_key(), "reg1"))
    async with connect(pairing.url, proxy=None) as ws:
        await ws.send(device.start())
        assert json.loads(await ws.recv())["type"] == "pake"
        await ws.send("garbage")
        assert json.loads(await ws.recv())["code"] == "malformed"
    with pytest.raises(EnrollmentRefused, match="broke the protocol"):
        await asyncio.wait_for(pairing.task, WAIT)


async def test_one_attempt_at_a_time_and_leaving_spends_the_code(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    pairing = await start_pairing(venue)
    device = PairingDevice(pairing.code.digits, "reg1", new_csr(new_private_key(), "reg1"))
    async with connect(pairing.url, proxy=None) as ws:
        await ws.send(device.start())
        await ws.recv()
        with pytest.raises(EnrollmentRefused, match="in use or used up"):
            await enroll(pairing.url, pairing.code.display, "reg2", tmp_path / "id")
    with pytest.raises(EnrollmentRefused, match="left in the middle of pairing"):
        await asyncio.wait_for(pairing.task, WAIT)
    assert files_in(tmp_path / "id") == []


async def test_silent_attempt_times_out_and_spends_the_code(venue: VenueAuthority) -> None:
    pairing = await start_pairing(venue, message_timeout=0.2)
    device = PairingDevice(pairing.code.digits, "reg1", new_csr(new_private_key(), "reg1"))
    async with connect(pairing.url, proxy=None) as ws:
        await ws.send(device.start())
        await ws.recv()
        with pytest.raises(EnrollmentRefused, match="left in the middle"):
            await asyncio.wait_for(pairing.task, WAIT)


async def test_duplicate_device_id_is_refused_without_spending_the_code(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    issue_identity(venue, "reg1")
    pairing = await start_pairing(venue)
    for device in ("reg1", "REG1"):
        with pytest.raises(EnrollmentRefused, match="already issued"):
            await enroll(pairing.url, pairing.code.display, device, tmp_path / "id")
    assert files_in(tmp_path / "id") == []
    await enroll(pairing.url, pairing.code.display, "reg2", tmp_path / "id")
    assert (await pairing.task).device_id == "reg2"


async def test_reissue_allows_a_known_device_id(venue: VenueAuthority, tmp_path: Path) -> None:
    issue_identity(venue, "reg1")
    pairing = await start_pairing(venue, reissue=True)
    await enroll(pairing.url, pairing.code.display, "reg1", tmp_path / "id")
    assert (await pairing.task).device_id == "reg1"


async def test_enroll_refuses_before_connecting(venue: VenueAuthority, tmp_path: Path) -> None:
    (tmp_path / "id").mkdir()
    (tmp_path / "id" / "device.key").write_text("existing")
    with pytest.raises(TrustError, match="already holds a device identity"):
        await enroll("ws://127.0.0.1:9", "1234-5678-90", "reg1", tmp_path / "id")
    with pytest.raises(PairingCodeInvalid, match="must be 10 digits"):
        await enroll("ws://127.0.0.1:9", "12345", "reg1", tmp_path / "new")
    with pytest.raises(TrustError, match="must be a ws://host:port URL"):
        await enroll("wss://127.0.0.1:9", "1234-5678-90", "reg1", tmp_path / "new")
    with pytest.raises(TrustError, match="device id"):
        await enroll("ws://127.0.0.1:9", "1234-5678-90", "bad id", tmp_path / "new")
    assert not (tmp_path / "new").exists()


async def test_enroll_reports_an_unreachable_or_silent_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    with pytest.raises(
        EnrollmentRefused, match=r"nothing answers at .*: meshpos pair is not running there"
    ):
        await enroll(f"ws://127.0.0.1:{free_port}", "1234-5678-90", "reg1", tmp_path / "id")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(EnrollmentRefused, match=r"no answer .* within 0\.2 s"):
            await enroll(
                f"ws://127.0.0.1:{port}", "1234-5678-90", "reg1", tmp_path / "id", timeout=0.2
            )
    assert files_in(tmp_path / "id") == []
