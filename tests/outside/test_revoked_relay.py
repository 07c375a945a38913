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
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshpos.doctor.report import EXIT_PROBLEM, PROBLEM
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..doctor.test_doctor_processes import doctor, finding
from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue


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
