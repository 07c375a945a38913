"""Found from the outside (third round), typing every subcommand with the arguments a tired owner or a
copy-paste slip gives: each of these ended in ``meshpos: unexpected error: ValueError ...`` (exit 1,
"run with --debug"), or was taken and did something else than asked:

* ``meshpos chaos --duration nan`` (or ``1e400``): ``unexpected error: ValueError`` / ``OverflowError``;
* ``meshpos demo --duration nan``: ran a whole venue and reported a day of no length with exit 0;
* ``meshpos enroll --server ws://[::1`` or ``ws://127.0.0.1:99999``: ``unexpected error: ValueError``
  (the port out of range was a dial failure to port 99999 on revoke's ``--node``);
* ``meshpos enroll --timeout nan`` (or ``0``, ``-1``): taken, then "no answer ... within nan s";
* ``meshpos revoke R9 --node http://[::1``: ``unexpected error: ValueError``;
* ``meshpos node --peer R2@127.0.0.1:²`` (a superscript two, which ``str.isdigit`` calls a digit):
  ``unexpected error: ValueError``;
* an ``api.url`` in the data dir damaged to ``http://[::1`` or ``http://127.0.0.1:abc``: ``meshpos
  status`` and ``meshpos clear-cache`` said ``unexpected error``.

Each is now one line naming the flag or the file, exit 2, with nothing started and nothing written. Real
``meshpos`` processes, run side by side (each ends at once: a start that does not is a failure).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..mesh.kit import make_device, make_venue

Case = tuple[list[str], str]  # the arguments, words the one line must hold


def _refused(args: list[str], words: str, cwd: Path) -> str:
    """Why ``meshpos ARGS`` was not refused in one line with exit code 2, or "" if it was."""
    command = subprocess.Popen(
        [sys.executable, "-m", "meshpos", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        start_new_session=True,  # a start that was not refused is ended with all it started
    )  # fmt: skip
    try:
        _, err = command.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(command.pid, signal.SIGKILL)
        command.communicate()
        return f"{args}: still running after 60 s"
    err = err.strip()
    if command.returncode != 2 or "unexpected" in err or "Traceback" in err or words not in err:
        return f"{args}: exit {command.returncode}, {err[-400:]!r} (wanted {words!r})"
    if len(err.splitlines()) != 1:
        return f"{args}: more than one line: {err[-400:]!r}"
    return ""


def test_bad_arguments_are_one_line_naming_them(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")  # R1.toml, data dir R1/, not running
    token = tmp_path / "api.token"
    token.write_text("0123456789abcdef0123\n")
    broken = make_device(authority, tmp_path, "R2")
    (tmp_path / "R2" / "api.url").write_text("http://[::1\n")
    letters = make_device(authority, tmp_path, "R3")
    (tmp_path / "R3" / "api.url").write_text("http://127.0.0.1:abc\n")
    enroll = ["enroll", "--code", "1234-5678-90", "--device", "R9", "--dir", "R9"]
    cases: list[Case] = [
        (["chaos", "--duration", "nan", "--schedule-only", "--seed", "1"], "--duration"),
        (["demo", "--duration", "nan", "--dir", str(tmp_path / "demo")], "--duration"),
        ([*enroll, "--server", "ws://[::1"], "pairing server 'ws://[::1'"),
        ([*enroll, "--server", "ws://127.0.0.1:99999"], "pairing server"),
        ([*enroll, "--server", "ws://127.0.0.1:9", "--timeout", "nan"], "--timeout"),
        (
            [
                "revoke",
                "R1",
                "--venue",
                "venue",
                "--node",
                "http://[::1",
                "--token-file",
                str(token),
            ],
            "--node 'http://[::1'",
        ),
        (
            [
                "revoke",
                "R1",
                "--venue",
                "venue",
                "--node",
                "http://127.0.0.1:99999",
                "--token-file",
                str(token),
            ],
            "--node 'http://127.0.0.1:99999'",
        ),
        (["node", "--config", str(config), "--peer", "R2@127.0.0.1:\u00b2"], "--peer"),
        (["status", "--config", str(broken)], "api.url"),
        (["status", "--config", str(letters)], "api.url"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda case: _refused(case[0], case[1], tmp_path), cases))
    assert not any(found), "\n".join(f for f in found if f)
    assert not (tmp_path / "R9").exists()  # enroll wrote nothing
    assert not (tmp_path / "demo").exists() or not any((tmp_path / "demo").iterdir())
    assert not (tmp_path / "R1" / "api.url").exists()  # the node did not start
    assert "R1" not in (tmp_path / "venue" / "revoked.json").read_text()  # nothing revoked
