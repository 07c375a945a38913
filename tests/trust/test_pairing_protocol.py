"""The sans-I/O pairing protocol: codes, the message codec, both state tables, driven by hand (no sockets)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography import x509

from meshpos.errors import (
    EnrollmentRefused,
    LocalProtocolError,
    PairingCodeExpired,
    PairingCodeInvalid,
    TrustError,
)
from meshpos.trust import PairingCode, VenueAuthority
from meshpos.trust.certs import new_private_key
from meshpos.trust.identity import new_csr
from meshpos.trust.pairing import (
    MAX_MESSAGE,
    PairingServer,
    ServerState,
    decode,
    encode,
    parse_code,
)
from meshpos.trust.pairing_device import DeviceState, PairingDevice

NOW = 1000.0
CONN, OTHER = "conn-1", "conn-2"


def device_for(code: str, device_id: str = "reg1") -> PairingDevice:
    return PairingDevice(code, device_id, new_csr(new_private_key(), device_id))


def server_for(venue: VenueAuthority, role: str = "register", **kwargs: Any) -> PairingServer:
    return PairingServer(PairingCode("1234567890", NOW + 300), venue, role, **kwargs)


def run(server: PairingServer, device: PairingDevice, conn: str = CONN, now: float = NOW) -> None:
    """Shuttle messages until the exchange ends; the device's error (if any) propagates."""
    message: str | None = device.start()
    while message is not None:
        reply = server.receive(conn, message, now)
        message = device.receive(reply.send)
        if reply.close:
            assert message is None
            return


# --- codes ----------------------------------------------------------------------------------------


def test_codes_are_ten_digits_shown_in_groups() -> None:
    code = PairingCode.generate(NOW, 300)
    assert len(code.digits) == 10
    assert code.digits.isdigit()
    assert code.display == f"{code.digits[:4]}-{code.digits[4:8]}-{code.digits[8:]}"
    assert code.digits not in repr(code)
    assert not code.expired(NOW + 299.9)
    assert code.expired(NOW + 300)
    assert len({PairingCode.generate(NOW).digits for _ in range(50)}) == 50


@pytest.mark.parametrize("text", ["1234-5678-90", "1234 5678 90", "1234567890"])
def test_typed_codes_are_parsed(text: str) -> None:
    assert parse_code(text) == "1234567890"


@pytest.mark.parametrize("text", ["", "1234-5678-9", "1234-5678-901", "abcd-efgh-ij", "١٢٣٤٥٦٧٨٩٠"])
def test_bad_codes_are_refused_clearly(text: str) -> None:
    with pytest.raises(PairingCodeInvalid, match="must be 10 digits, like 1234-5678-90"):
        parse_code(text)


# --- codec ----------------------------------------------------------------------------------------

PAKE = base64.b64encode(b"A" + bytes(32)).decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("x" * (MAX_MESSAGE + 1), "too large"),
        ("{", "not valid JSON"),
        ("[" * 10_000, "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"type":"hello"}', "unsupported pairing protocol version None"),
        ('{"v":2,"type":"hello"}', "unsupported pairing protocol version 2"),
        ('{"v":true,"type":"hello"}', "unsupported pairing protocol version True"),
        ('{"v":1,"type":"hi"}', "unknown pairing message type 'hi'"),
        ('{"v":1,"type":"hello","device":"reg1"}', r"missing \['pake'\]"),
        (
            f'{{"v":1,"type":"hello","device":"reg1","pake":"{PAKE}","x":1}}',
            r"unknown fields \['x'\]",
        ),
        (
            f'{{"v":1,"type":"hello","device":"bad id","pake":"{PAKE}"}}',
            "'device' is not a valid device",
        ),
        (f'{{"v":1,"type":"hello","device":7,"pake":"{PAKE}"}}', "'device' is not a valid device"),
        ('{"v":1,"type":"hello","device":"reg1","pake":"AAAA"}', "'pake' is not a valid pake"),
        ('{"v":1,"type":"hello","device":"reg1","pake":"!!"}', "'pake' is not a valid pake"),
        ('{"v":1,"type":"csr","csr":"hello","mac":"AAAA"}', "'csr' is not a valid pem"),
        ('{"v":1,"type":"refused","code":"why","reason":"x"}', "'code' is not a valid refusal"),
        ('{"v":1,"type":"refused","code":"code","reason":"a\\u0000b"}', "'reason' is not a valid"),
    ],
)
def test_malformed_messages_are_refused_clearly(data: str | bytes, message: str) -> None:
    with pytest.raises(EnrollmentRefused, match=message):
        decode(data)


def test_encode_decode_round_trip() -> None:
    text = encode("hello", device="reg1", pake=PAKE)
    assert decode(text) == ("hello", {"device": "reg1", "pake": PAKE})
    assert decode(text.encode()) == decode(text)
    with pytest.raises(ValueError, match="fields must be"):
        encode("hello", device="reg1")


# --- both state machines --------------------------------------------------------------------------


def test_successful_pairing(venue: VenueAuthority) -> None:
    server = server_for(venue, "kds")
    device = device_for("1234-5678-90", "kds_1")
    run(server, device)
    assert device.state is DeviceState.DONE
    assert server.state is ServerState.DONE
    assert device.result is not None
    assert (device.result.role, device.result.venue_id) == ("kds", "venue-1")
    assert device.result.ca_pem == venue.ca_pem
    result = server.outcome()
    assert (result.device_id, result.role, result.venue_id) == ("kds_1", "kds", "venue-1")
    cert = x509.load_pem_x509_certificate(device.result.cert_pem.encode())
    assert f"{cert.serial_number:x}" == result.serial
    assert venue.issued()["kds_1"]["role"] == "kds"


def test_wrong_code_burns_the_code(venue: VenueAuthority) -> None:
    server = server_for(venue)
    with pytest.raises(PairingCodeInvalid, match="pairing code rejected; ask for a new code"):
        run(server, device_for("1234-5678-91"))
    assert server.state is ServerState.FAILED
    with pytest.raises(PairingCodeInvalid, match="wrong pairing code; the code is used up"):
        server.outcome()
    with pytest.raises(EnrollmentRefused, match="in use or used up"):
        run(server, device_for("1234-5678-90"), conn=OTHER)
    assert venue.issued() == {}


def test_expired_code_is_refused_to_the_device(venue: VenueAuthority) -> None:
    server = server_for(venue)
    with pytest.raises(PairingCodeExpired, match="pairing code expired; ask for a new code"):
        run(server, device_for("1234-5678-90"), now=NOW + 300)
    assert server.state is ServerState.EXPIRED
    with pytest.raises(PairingCodeExpired):
        server.outcome()


def test_expire_waits_for_a_running_attempt(venue: VenueAuthority) -> None:
    server = server_for(venue)
    device = device_for("1234-5678-90")
    reply = server.receive(CONN, device.start(), NOW)
    assert not server.expire(NOW + 301)  # the attempt started in time and may finish
    csr = device.receive(reply.send)
    assert csr is not None
    assert server.receive(CONN, csr, NOW + 302).close
    assert server.state is ServerState.DONE
    assert server_for(venue).expire(NOW + 300)


def test_a_second_device_is_refused_while_one_attempt_runs(venue: VenueAuthority) -> None:
    server = server_for(venue)
    server.receive(CONN, device_for("1234-5678-90").start(), NOW)
    with pytest.raises(EnrollmentRefused, match="in use"):
        run(server, device_for("1234-5678-90", "reg2"), conn=OTHER)
    server.connection_lost(OTHER)
    assert server.state is ServerState.ATTEMPT
    server.connection_lost(CONN)
    assert server.finished
    assert server.state.value == "failed"
    with pytest.raises(EnrollmentRefused, match="left in the middle of pairing"):
        server.outcome()


def test_malformed_first_messages_leave_the_code_valid(venue: VenueAuthority) -> None:
    server = server_for(venue)
    good_hello = json.loads(device_for("1234-5678-90").start())
    bad_pake = base64.b64encode(b"B" + bytes(32)).decode()  # the server's own side: refused
    for data in ["junk", encode("pake", pake=PAKE), json.dumps({**good_hello, "pake": bad_pake})]:
        reply = server.receive(OTHER, data, NOW)
        assert reply.close
        assert decode(reply.send)[1]["code"] == "malformed"
    assert server.state is ServerState.OPEN
    run(server, device_for("1234-5678-90"))
    assert server.outcome().device_id == "reg1"


def test_malformed_second_message_fails_the_attempt(venue: VenueAuthority) -> None:
    server = server_for(venue)
    server.receive(CONN, device_for("1234-5678-90").start(), NOW)
    reply = server.receive(CONN, encode("hello", device="reg1", pake=PAKE), NOW)
    assert reply.close
    assert server.state is ServerState.FAILED
    with pytest.raises(EnrollmentRefused, match="broke the protocol: expected a 'csr'"):
        server.outcome()


def test_device_ids_are_checked_before_the_code_is_spent(venue: VenueAuthority) -> None:
    venue.issue(new_csr(new_private_key(), "reg1"), "reg1", "register")
    server = server_for(venue, device_id="kds_1")
    with pytest.raises(EnrollmentRefused, match="this code is for device 'kds_1'"):
        run(server, device_for("1234-5678-90", "reg9"))
    server = server_for(venue)
    with pytest.raises(EnrollmentRefused, match="'REG1' is already issued"):
        run(server, device_for("1234-5678-90", "REG1"))
    assert server.state is ServerState.OPEN
    run(server, device_for("1234-5678-90", "reg2"))
    assert server.outcome().device_id == "reg2"


def _intercept_issued(venue: VenueAuthority) -> tuple[PairingDevice, dict[str, Any]]:
    server, device = server_for(venue), device_for("1234-5678-90")
    pake = server.receive(CONN, device.start(), NOW).send
    csr = device.receive(pake)
    assert csr is not None
    return device, json.loads(server.receive(CONN, csr, NOW).send)


@pytest.mark.parametrize("field", ["cert", "ca", "venue", "role"])
def test_device_refuses_a_tampered_reply(venue: VenueAuthority, field: str) -> None:
    device, issued = _intercept_issued(venue)
    swap = {"cert": issued["ca"], "ca": issued["cert"], "venue": "venue-2", "role": "kds"}
    with pytest.raises(EnrollmentRefused, match="failed its integrity check"):
        device.receive(json.dumps({**issued, field: swap[field]}))
    assert device.state is DeviceState.FAILED
    assert device.result is None


def test_device_refuses_out_of_order_messages(venue: VenueAuthority) -> None:
    _, issued = _intercept_issued(venue)
    fresh = device_for("1234-5678-90")
    fresh.start()
    with pytest.raises(EnrollmentRefused, match="sent 'issued' where 'pake' was due"):
        fresh.receive(json.dumps(issued))
    with pytest.raises(TrustError, match="no message expected in state 'failed'"):
        fresh.receive(json.dumps(issued))
    junk = device_for("1234-5678-90")
    junk.start()
    with pytest.raises(EnrollmentRefused, match="the pairing server sent a bad message"):
        junk.receive("junk")


def test_state_tables_refuse_illegal_moves() -> None:
    device = device_for("1234-5678-90")
    device.start()
    with pytest.raises(LocalProtocolError, match="'hello' is not allowed"):
        device.start()
