"""A header sent twice at the console's relay port is refused by name (outside, second round).

The console read the relay's headers with ``headers.get``, which raises on a header sent twice (the
websockets ``Headers`` mapping keeps every value): a client sending ``Authorization``, a relay proof
header or ``X-Meshpos-Features`` twice got no answer at all, the connection dropped, and the console
logged a traceback per request (``Unhandled exception in client_connected_cb``), unlimited, for anyone
who can reach the port. A misconfigured proxy in front of a relay does this. Now each is a 400 naming
the header, logged as the console's other refusals are (rate-limited), and an honest relay still comes
in afterwards.

One real console process with its venue directory (so relays must prove which device they are), and
requests as any client can send them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.sync._features import FEATURES_HEADER
from meshpos.trust.relay_proof import CERT_HEADER, NONCE_HEADER, PROOF_HEADER, relay_proof

from ..mesh.kit import ConsoleProcess, make_venue
from ..trust.helpers import issue_identity
from .test_revoked_relay import knock


@pytest.mark.slow
def test_a_header_sent_twice_is_refused_by_name_and_the_console_logs_no_traceback(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    token = authority.console_token
    honest = issue_identity(authority, "R2")
    issue_identity(authority, "R1")
    authority.revoke("R1", "stolen")  # so a relay must prove which device it is
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        port = console.port
        path = f"/v1/venues/{authority.venue_id}/sync"
        auth = ("Authorization", f"Bearer {token}")

        def nonce() -> str:
            status, body = knock(port, path, [auth, *relay_proof(honest, token).items()])
            assert status == 200, body
            return body.partition("\nnonce: ")[2].strip()

        for name, upgrade in [
            ("Authorization", False),
            (CERT_HEADER, True),
            (PROOF_HEADER, True),
            (NONCE_HEADER, True),
            (FEATURES_HEADER, False),
        ]:
            sent = [auth, *relay_proof(honest, token, nonce()).items()]
            first = dict(sent).get(name, "x")
            sent.append((name, "AAAA" if first != "AAAA" else "BBBB"))
            if name == FEATURES_HEADER:
                sent += [(name, "features1")]
            status, body = knock(port, path, sent, upgrade=upgrade)
            assert status == 400, (name, status, body)  # main: no answer, connection dropped
            assert f"header {name} sent more than once" in body, (name, body)

        # the honest relay still comes in
        status, body = knock(
            port, path, [auth, *relay_proof(honest, token, nonce()).items()], upgrade=True
        )
        assert status == 101, body
        log = (tmp_path / "console" / "console.log").read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        console.stop()
