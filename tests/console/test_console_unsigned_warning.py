"""A console that will not sign for a venue it serves says so at start (issue 18, review of the signed
console's word). The signing key is read from the venue's directory (``--venue DIR``), never stored in
the console's database: a console restarted without ``--venue`` still serves the venue from its
database, but signs nothing, and its registers that have seen a signed statement then show their data
"not at the console" for ever. Before, nothing said why. Real console processes on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from meshpos.harness.procs import console_argv
from meshpos.trust import init_venue
from meshpos.trust.console_key import issue_console_key

WARNING = "served without their directory"
KEYLESS = "without a console key"


def _start_log(tmp_path: Path, venues: list[Path]) -> str:
    """The console's stderr up to its "console pages at" line (it is ready then); then it stops."""
    argv = console_argv(
        f"sqlite:///{tmp_path / 'console.db'}", venues, tmp_path / "admin.token", 0.2
    )
    argv = [*argv, "--host", "127.0.0.1"]
    with subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            ready = json.loads(process.stdout.readline())
            assert ready["ready"] is True
            lines = []
            for line in process.stderr:
                lines.append(line)
                if "console pages at" in line:
                    return "".join(lines)
            raise AssertionError("the console ended before it was ready:\n" + "".join(lines))
        finally:
            process.terminate()
            process.wait(10)


def _lines(log: str, words: str) -> list[str]:
    return [line for line in log.splitlines() if words in line]


def test_a_console_restarted_without_the_venues_directory_says_it_signs_nothing_for_it(
    tmp_path: Path,
) -> None:
    signed = init_venue(tmp_path / "signed", "Cafe", "signed-venue")
    issue_console_key(signed)
    old = init_venue(tmp_path / "old", "Bistro", "old-venue")  # made before console keys

    first = _start_log(tmp_path, [signed.directory, old.directory])
    assert not _lines(first, WARNING)  # every venue's directory given
    (keyless,) = _lines(first, KEYLESS)
    assert "INFO" in keyless
    assert "old-venue" in keyless
    assert "signed-venue" not in keyless
    assert "meshpos venue console-key" in keyless

    again = _start_log(tmp_path, [])  # both served from the database, neither key loaded
    (warning,) = _lines(again, WARNING)
    assert "WARNING" in warning
    assert "2 registered venue(s)" in warning
    assert "signed-venue" in warning
    assert "old-venue" in warning
    assert "--venue DIR" in warning

    back = _start_log(tmp_path, [signed.directory])
    (warning,) = _lines(back, WARNING)
    assert "old-venue" in warning
    assert "signed-venue" not in warning


def test_a_console_that_signs_for_every_venue_it_serves_says_nothing_of_it(tmp_path: Path) -> None:
    signed = init_venue(tmp_path / "signed", "Cafe", "signed-venue")
    issue_console_key(signed)
    log = _start_log(tmp_path, [signed.directory])
    assert not _lines(log, WARNING)
    assert not _lines(log, KEYLESS)
