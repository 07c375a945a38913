"""Open rule (the twentieth session), as the operator after replacing a venue's console token
(``meshpos venue console-token --new``, README: a register was stolen): a register not yet given the new
token knocks with the old one. It says "wrong venue token" itself, but the console's sync status listed
it only as not reachable (or not at all, before its first sale there), so the operator could not tell it
from one that is switched off. Now the console shows that device ``refused: "wrong venue token"``, named
by its proof (its certificate of this venue and its signature over the token it presented), and takes
nothing else from it: not reachable, no pending count. A knock naming a device whose proof does not hold
(another device's certificate with a made-up signature) names nobody. Real ``meshpos`` processes.

On main the console's status has no such field and does not list R1 at all (the wait times out).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from meshpos.harness.wait import wait_for
from meshpos.trust.certs import new_private_key
from meshpos.trust.relay_proof import CERT_HEADER, PROOF_HEADER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue


def _knock(console: ConsoleProcess, venue_id: str, headers: dict[str, str]) -> int:
    relay = urlsplit(str(console.ready["console"]))
    request = urllib.request.Request(
        f"http://{relay.netloc}/v1/venues/{venue_id}/sync", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_register_with_the_old_token_is_shown_so(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    old = authority.console_token
    made = subprocess.run(
        [sys.executable, "-m", "meshpos", "venue", "console-token", "--dir",
         str(authority.directory), "--new"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert authority.console_token != old
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    status_path = f"/api/venues/{authority.venue_id}/status"
    node = None
    try:
        # R2's certificate with a signature that is not its own, and the old token: names nobody
        public = (
            new_private_key()
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        der = authority.issue(public, "R2", "register").split("-----")[2].replace("\n", "")
        forged = {
            "Authorization": f"Bearer {old}",
            CERT_HEADER: der,
            PROOF_HEADER: base64.b64encode(b"\x30" * 70).decode(),
        }
        assert _knock(console, authority.venue_id, forged) == 401
        assert "R2" not in console.call("GET", status_path)["registers"]

        config = make_device(
            authority,
            tmp_path,
            "R1",
            console_url=str(console.ready["console"]),
            console_token=old,
            heartbeat_interval=0.5,
        )
        node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()

        def shown() -> bool:
            return "R1" in console.call("GET", status_path)["registers"]

        wait_for(shown, 30, "the console lists R1 (its knocks with the old token)", every=0.1)
        r1 = console.call("GET", status_path)["registers"]["R1"]
        assert r1["refused"] == "wrong venue token", r1
        assert (r1["reachable"], r1["pending"], r1["pending_told"]) == (False, None, None), r1
        assert "wrong venue token" in (tmp_path / "R1.log").read_text()
        assert "R2" not in console.call("GET", status_path)["registers"]
    finally:
        if node is not None:
            node.kill()
        console.stop()
