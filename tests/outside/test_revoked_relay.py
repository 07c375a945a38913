"""A revoked register relayed to the console (red, fifteenth session).

``meshpos revoke R1`` signs a deny-list entry and keeps it in the venue directory (``revoked.json``);
every mesh node that learns it refuses R1's TLS links. The console did not: it knew a relay by the
venue token alone (on its ``ws://`` port a relay presents no certificate, and its hello's node id is
the relay's own word), and it never checked a deny-list, not even the one in the venue directory it
was started with. So a stolen register, which holds the token in its ``node.toml``, relayed its own
sales (made-up ones too) into the venue's reports, and as a register it may deliver the ``catalog``
too (``sync/_rules.py`` ``FORWARD_RULES``; deletions carry no author), until the operator replaced the
token (``meshpos venue console-token --new``) and copied it to every honest register by hand.

Now a relay proves which device it is on its probe and its upgrade, and a console started with the
venue's directory refuses a revoked one (trust/relay_proof.py). Real processes: the venue revokes R1,
the console starts on that directory, then R1 and R2 (not linked to each other, so each relays for
itself) each sell one receipt: R2's reaches the console's reports, R1's does not, and R1 says why.
Then R2, linked as its own relay, is revoked: the console closes its link, R2 says why, and its next
sale stays off the reports.

Issue 18 (admit), from the outside: whoever knocks on the console's relay port with the venue token
(a stolen register keeps it) and proofs that do not hold, a replayed one among them, gets a 403 naming
what was wrong, and a flood of them (a few hundred, varied so that no two refusals read alike) leaves
a bounded number of log lines.
"""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from meshpos.doctor.report import EXIT_PROBLEM, PROBLEM, WARNING
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust import DeviceIdentity, VenueAuthority, init_venue
from meshpos.trust.relay_proof import relay_proof

from ..doctor.test_doctor_processes import doctor, finding
from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue
from ..trust.helpers import expired_pem, issue_identity


@pytest.mark.slow
def test_a_revoked_register_cannot_upload_its_sales_and_an_honest_one_can(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    placeholder = (
        "ws://127.0.0.1:9"  # the console's port is known once it runs, after the revocation
    )
    configs = [
        make_device(
            authority,
            tmp_path,
            name,
            host="127.0.0.1",
            console_url=placeholder,
            console_token=authority.console_token,
            heartbeat_interval=0.5,
        )
        for name in ("R1", "R2")
    ]
    authority.revoke("R1", "stolen")
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    nodes: list[NodeProcess] = []
    try:
        for config in configs:
            config.write_text(
                config.read_text().replace(placeholder, str(console.ready["console"]))
            )
            nodes.append(
                NodeProcess(
                    config, tmp_path / f"{config.stem}.log", args=["--no-discovery"]
                ).start()
            )
        receipts = []
        for node in nodes:
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
            receipts.append(node.sell(CASHIER, ["espresso"])["id"])
        revoked = nodes[0]  # (R2, nodes[1], is the honest one)

        def at_console() -> set[str]:
            found = console.call("GET", f"/api/venues/{authority.venue_id}/receipts")
            return {r["id"] for r in found} & set(receipts)

        def refused() -> bool:
            return "'R1' is revoked" in json.dumps(revoked.status())

        wait_for(
            lambda: receipts[1] in at_console() and refused(),
            30,
            "R2's receipt at the console, and R1 told it is refused as revoked",
            on=[n.events for n in nodes],
            every=0.5,
        )
        assert at_console() == {receipts[1]}, "a revoked register's sale reached the reports"
        log = tmp_path / "console" / "console.log"
        assert "'R1' is revoked" in log.read_text(), log.read_text()[-2000:]
        # the operator's doctor says the device is refused, not the token (it said "set console_token")
        code, report = doctor(configs[0])
        console_check = finding(report, "console")
        assert (code, console_check["level"]) == (EXIT_PROBLEM, PROBLEM), report
        assert "refuses this device as relay" in console_check["message"], console_check
        assert "'R1' is revoked" in console_check["message"], console_check
        assert "deny-list" in console_check["fix"], console_check
        assert "console_token" not in console_check["fix"], console_check

        # R2, the live relay of its own, is revoked: the console closes its link within a second
        honest = nodes[1]
        authority.revoke("R2", "stolen while relaying")
        wait_for(
            lambda: "'R2' is revoked" in json.dumps(honest.status()),
            30,
            "R2 told its link was closed as revoked",
            on=[honest.events],
            every=0.5,
        )
        receipts.append(honest.sell(CASHIER, ["espresso"])["id"])
        assert not honest.status()["uplink"], honest.status()
        assert at_console() == {receipts[1]}, "a sale after the revocation reached the reports"
        assert "'R2' is revoked" in log.read_text(), log.read_text()[-2000:]
    finally:
        for node in nodes:
            node.kill()
        console.stop()


def knock(
    port: int,
    path: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    upgrade: bool = False,
) -> tuple[int, str]:
    """One request to the console's relay port as any client can send it: its status and body (a
    101 is the websocket admitted; the connection is then dropped). ``headers`` as pairs may repeat
    a name (tests/outside/test_repeated_relay_headers.py); status 0: dropped without an answer."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if upgrade:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}"]
        lines.append("Sec-WebSocket-Version: 13")
    else:
        lines.append("Connection: close")
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lines += [f"{name}: {value}" for name, value in pairs]
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in answer or not answer.startswith(b"HTTP/1.1 101"):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    if not answer:
        return 0, ""
    head, _, body = answer.partition(b"\r\n\r\n")
    # (after a 101 the body is the console's first websocket frames, binary when they came in the
    # same read: a fresh clone's run once failed decoding them)
    return int(head.split(b" ")[1]), body.decode(errors="replace")


def expired(authority: VenueAuthority, device: str) -> DeviceIdentity:
    """An identity whose certificate the venue CA issued, valid until yesterday."""
    issued = issue_identity(authority, device)
    return DeviceIdentity(
        issued.device_id,
        issued.role,
        issued.venue_id,
        issued.key_pem,
        expired_pem(authority, issued.cert_pem),
        issued.ca_pem,
    )


@pytest.mark.slow
def test_the_console_refuses_forged_replayed_and_flooded_proofs_by_name(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    token = authority.console_token
    honest = issue_identity(authority, "R2")
    issue_identity(authority, "R1")
    authority.revoke("R1", "stolen")  # so a relay must prove which device it is
    elsewhere = init_venue(tmp_path / "other", "Same id, other CA", authority.venue_id)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        port = console.port
        path = f"/v1/venues/{authority.venue_id}/sync"
        auth = {"Authorization": f"Bearer {token}"}

        def nonce() -> str:
            """What a probe hands over (the honest relay's probe proof: anyone on ws:// saw it)."""
            status, body = knock(port, path, {**auth, **relay_proof(honest, token)})
            assert status == 200, body
            given = body.partition("\nnonce: ")[2].strip()
            assert given, f"the probe's answer holds no nonce: {body!r}"
            return given

        # the honest relay: its probe hands it the console's nonce, its upgrade signs it
        fresh = {**auth, **relay_proof(honest, token, nonce())}
        status, body = knock(port, path, fresh, upgrade=True)
        assert status == 101, body

        # seen on the ws:// line and sent again, or the nonce-less proof a probe carries; and
        # devices that are not this venue's relays, each with a nonce of its own
        for headers, words in [
            (fresh, "a replayed proof"),
            ({**auth, **relay_proof(honest, token)}, "must carry the console's nonce"),
            (
                {**auth, **relay_proof(expired(authority, "R3"), token, nonce())},
                "the certificate of 'R3' is not valid now",
            ),
            (
                {**auth, **relay_proof(issue_identity(authority, "K1", "kds"), token, nonce())},
                "'K1' is a kds of venue",
            ),
            (
                {**auth, **relay_proof(issue_identity(elsewhere, "R2"), token, nonce())},
                "not one of this venue's authority",
            ),
        ]:
            status, body = knock(port, path, headers, upgrade=True)
            assert (status, words in body) == (403, True), (words, status, body)
            assert body.startswith("relay proof: "), body

        # a flood: a few hundred knocks with bad proofs, every refusal worded differently (the
        # path's venue is the knocker's to choose), answered one by one and logged a few times only
        log = tmp_path / "console" / "console.log"
        lines_before = log.read_text().count("refused 127.0.0.1")
        junk = {"X-Meshpos-Relay-Cert": "AAAA", "X-Meshpos-Relay-Proof": "AAAA"}
        for i in range(300):
            venue = authority.venue_id if i % 2 else f"flood-{i}"
            status, body = knock(port, f"/v1/venues/{venue}/sync", {**auth, **junk})  # probes
            assert status == 403, body
            assert ("not base64 DER" if i % 2 else f"not flood-{i}") in body, body
        status, body = knock(port, path, {**auth, **relay_proof(honest, token)})
        assert status == 200, body  # and the honest relay is still answered
        summary = console.call("GET", f"/api/venues/{authority.venue_id}/status")
        assert summary["relay_admission"] == "device proof", summary
        logged = log.read_text().count("refused 127.0.0.1") - lines_before
        assert logged <= 25, f"{logged} refusal lines logged for 300 knocks"
    finally:
        console.stop()


@pytest.mark.slow
def test_a_console_without_the_venue_directory_says_its_relays_come_in_by_the_token_alone(
    tmp_path: Path,
) -> None:
    """Restarted without ``--venue DIR`` (a new unit file, a hand start), the console still serves
    the registered venue and checks no relay's device: a revoked register that kept the token uploads.
    The operator sees it in the console's start log and in a register's ``meshpos doctor``."""
    authority = make_venue(tmp_path)
    config = make_device(
        authority,
        tmp_path,
        "R1",
        host="127.0.0.1",
        console_url="ws://127.0.0.1:9",
        console_token=authority.console_token,
    )
    (tmp_path / "console").mkdir()
    ConsoleProcess(tmp_path / "console", [authority.directory]).start().stop()  # registers it
    console = ConsoleProcess(tmp_path / "console", []).start()
    try:
        log = (tmp_path / "console" / "console.log").read_text()
        assert "admit their relays BY THE TOKEN ALONE" in log, log[-2000:]
        assert authority.venue_id in log.split("BY THE TOKEN ALONE")[1][:200], log[-2000:]
        status = console.call("GET", f"/api/venues/{authority.venue_id}/status")
        assert status["relay_admission"] == "token alone", status
        config.write_text(
            config.read_text().replace("ws://127.0.0.1:9", str(console.ready["console"]))
        )
        _, report = doctor(config)
        console_check = finding(report, "console")
        assert console_check["level"] == WARNING, console_check
        assert "does not check which device relays" in console_check["message"], console_check
        assert "--venue DIR" in console_check["fix"], console_check
    finally:
        console.stop()
