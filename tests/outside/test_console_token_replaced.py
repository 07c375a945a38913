"""Found from the outside: README's "a register was stolen: revoke it" left the console open to it. The
console knows relays by the venue token alone (the stolen register holds it in its node.toml; the
console never sees the deny-list), and the token could not be changed: a console restarted on a venue
directory whose ``console-token`` was replaced kept the token it registered first, silently, so the old
one worked for ever. Now ``meshpos venue console-token --dir venue --new`` writes a new one, and the
console takes the directory's token at each start (one warning line when it changed): the old token is
refused, the new one taken. Real ``meshpos`` processes; the relay port's token probe, as a relay asks."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ..mesh.kit import ConsoleProcess, make_venue


def _probe(console: ConsoleProcess, venue_id: str, token: str) -> tuple[int, str]:
    """What the console's relay port answers a relay's token probe (no websocket upgrade)."""
    relay = urlsplit(str(console.ready["console"]))
    request = urllib.request.Request(
        f"http://{relay.netloc}/v1/venues/{venue_id}/sync",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_a_new_venue_token_refuses_the_old_one_after_a_restart(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    old = authority.console_token
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        assert _probe(console, authority.venue_id, old)[0] == 200
    finally:
        console.stop()

    made = subprocess.run(
        [sys.executable, "-m", "meshpos", "venue", "console-token", "--dir",
         str(authority.directory), "--new"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    new = authority.console_token
    assert new != old
    assert "restart meshpos console" in made.stdout
    assert (authority.directory / "console-token").stat().st_mode & 0o077 == 0

    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        status, body = _probe(console, authority.venue_id, old)
        assert (status, "wrong venue token" in body) == (401, True), (status, body)
        assert _probe(console, authority.venue_id, new)[0] == 200
        log = (tmp_path / "console" / "console.log").read_text()
        assert log.count("the console token changed") == 1, log
    finally:
        console.stop()
