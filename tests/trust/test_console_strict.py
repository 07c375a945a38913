"""Remembering that a node takes the console's word only as signed (issue 18, sticky:
trust/console_strict.py): "auto" turns into strict from the start once remembered; a node that cannot
write the file stays strict in memory (the synchronizer turned first) and logs why."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from meshpos.errors import EnrollmentRefused
from meshpos.trust import PairingCode, VenueAuthority, enroll
from meshpos.trust.certs import new_private_key
from meshpos.trust.console_key import CONSOLE_CERT, issue_console_key
from meshpos.trust.console_strict import STRICT_FILE, console_signed_mode
from meshpos.trust.identity import new_csr
from meshpos.trust.pairing import PairingServer, mac_of
from meshpos.trust.pairing_device import PairingDevice

from .helpers import WAIT, start_pairing

NOW = 1000.0


def test_true_and_false_are_as_set(tmp_path: Path) -> None:
    (tmp_path / STRICT_FILE).write_text("x")
    assert console_signed_mode(True, tmp_path, tmp_path) == (True, None)
    assert console_signed_mode(False, tmp_path, tmp_path) == (
        False,
        None,
    )  # the operator's word wins


def test_auto_remembers_and_is_strict_at_the_next_start(tmp_path: Path) -> None:
    mode, remember = console_signed_mode("auto", tmp_path, tmp_path)
    assert mode == "auto"
    assert remember is not None
    remember()
    assert (tmp_path / STRICT_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == [STRICT_FILE]  # no temp file left behind
    assert console_signed_mode("auto", tmp_path, tmp_path) == (True, None)


def test_a_node_that_cannot_remember_logs_it_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    _, remember = console_signed_mode("auto", blocked, tmp_path)
    assert remember is not None
    with caplog.at_level(logging.ERROR, logger="meshpos.trust"):
        remember()  # raises nothing: the node stays strict in memory
    assert "cannot remember" in caplog.text
    assert console_signed_mode("auto", blocked, tmp_path)[0] == "auto"


def test_auto_is_strict_from_the_start_when_enrolment_pinned_the_console(tmp_path: Path) -> None:
    identity = tmp_path / "identity"
    identity.mkdir()
    (identity / CONSOLE_CERT).write_text("(the console's certificate)")
    assert console_signed_mode("auto", tmp_path, identity) == (True, None)
    assert console_signed_mode(False, tmp_path, identity) == (False, None)


# --- the enrolment half: the console's certificate handed over in pairing ----------------------------


def _pair(venue: VenueAuthority, *, takes: bool) -> tuple[PairingDevice, dict[str, Any]]:
    """Pair by hand (sans I/O): the device, and the ``issued`` message as the server sent it."""
    console = venue.directory / CONSOLE_CERT
    server = PairingServer(
        PairingCode("1234567890", NOW + 300),
        venue,
        "register",
        reissue=True,  # (the same device id, paired again)
        console_pem=console.read_text() if console.exists() else None,
    )
    device = PairingDevice("1234567890", "reg1", new_csr(new_private_key(), "reg1"))
    pake = server.receive("c", device.start(), NOW, takes_console=takes).send
    csr = device.receive(pake)
    assert csr is not None
    issued = server.receive("c", csr, NOW).send
    return device, json.loads(issued)


def test_a_device_that_takes_it_gets_the_console_s_certificate_under_the_mac(
    venue: VenueAuthority,
) -> None:
    """Fails before: the ``issued`` message had no ``console`` field (and no way to add one)."""
    issue_console_key(venue)
    device, issued = _pair(venue, takes=True)
    assert issued["console"] == (venue.directory / CONSOLE_CERT).read_text()
    assert device.receive(json.dumps(issued)) is None
    assert device.result is not None
    assert device.result.console_pem == issued["console"]
    # changed on the way (another console certificate of the same CA): the MAC refuses it
    device, issued = _pair(venue, takes=True)
    other = issue_console_key(venue).read_text()
    with pytest.raises(EnrollmentRefused, match="integrity check"):
        device.receive(json.dumps({**issued, "console": other}))


def test_an_n_1_device_and_a_venue_without_a_console_key_get_the_message_they_know(
    venue: VenueAuthority,
) -> None:
    """A device that did not announce it (an N−1 one: its decoder refuses unknown fields) gets no
    ``console`` field; nor does any device of a venue whose console has no key."""
    device, issued = _pair(venue, takes=True)  # no console key yet
    assert "console" not in issued
    issue_console_key(venue)
    device, issued = _pair(venue, takes=False)
    assert "console" not in issued
    assert device.receive(json.dumps(issued)) is None
    assert device.result is not None
    assert device.result.console_pem is None


def test_a_device_refuses_a_console_certificate_that_is_not_its_venue_s(
    venue: VenueAuthority, other_venue: VenueAuthority
) -> None:
    """A pairing server handing over a certificate its CA did not issue for role console (here: the
    device's own, or another CA's console) fails the enrolment: nothing is saved."""
    issue_console_key(other_venue)
    for wrong in ("own", "other"):
        console = venue.directory / CONSOLE_CERT
        if wrong == "other":
            console.write_text((other_venue.directory / CONSOLE_CERT).read_text())
        device, issued = _pair(venue, takes=True) if wrong == "other" else _pair_own(venue)
        with pytest.raises(EnrollmentRefused, match="console certificate"):
            device.receive(json.dumps(issued))
        assert device.result is None


def _pair_own(venue: VenueAuthority) -> tuple[PairingDevice, dict[str, Any]]:
    """The server sends the device's own (register) certificate as the console's, MAC'd."""
    device, issued = _pair(venue, takes=False)
    server_key = device._keys[1]
    fields = (issued["cert"], issued["ca"], issued["venue"], issued["role"], issued["cert"])
    mac = base64.b64encode(mac_of(server_key, "issued", "reg1", *fields)).decode()
    return device, {**issued, "console": issued["cert"], "mac": mac}


async def test_enrolment_pins_the_console_and_the_node_is_strict_from_its_first_start(
    venue: VenueAuthority, tmp_path: Path
) -> None:
    """Over real websockets: ``enroll`` announces it takes the console's certificate, ``serve_pairing``
    hands it over, the device keeps it beside its identity, and a node on that identity starts strict."""
    issue_console_key(venue)
    pairing = await start_pairing(venue, "register")
    await enroll(pairing.url, pairing.code.display, "reg_1", tmp_path / "id")
    await asyncio.wait_for(pairing.task, WAIT)
    pinned = tmp_path / "id" / CONSOLE_CERT
    assert pinned.read_text() == (venue.directory / CONSOLE_CERT).read_text()
    assert console_signed_mode("auto", tmp_path / "data", tmp_path / "id") == (True, None)


@pytest.mark.parametrize("what", ["directory", "garbage", "dangling link", "link loop"])
def test_anything_at_the_marker_s_path_keeps_auto_strict(tmp_path: Path, what: str) -> None:
    """Pessimistic when in doubt (issue 18, outside). Fails before for the links: ``exists()`` read
    them as absent, and the node took an enrolled device's unsigned word again."""
    marker = tmp_path / STRICT_FILE
    if what == "directory":
        marker.mkdir()
    elif what == "garbage":
        marker.write_bytes(b"\xff\x00 not the marker")
    elif what == "dangling link":
        marker.symlink_to(tmp_path / "gone")
    else:
        marker.symlink_to(marker)
    assert console_signed_mode("auto", tmp_path, tmp_path / "id") == (True, None)
