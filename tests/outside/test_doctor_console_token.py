"""Found from the outside: ``meshpos doctor --console`` with a damaged admin token file (binary bytes,
as a disk error or a wrong ``--token-file`` leaves) ended in "unexpected error: UnicodeDecodeError"
instead of its report. It is one problem line naming the file, the exit code says a problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("content", [b"\xd2\x00\xff" * 40, b"", b"short\n"])
def test_a_damaged_admin_token_file_is_one_problem_line(tmp_path: Path, content: bytes) -> None:
    token = tmp_path / "console-admin.token"
    token.write_bytes(content)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshpos",
            "doctor",
            "--console",
            "--db",
            f"sqlite:///{tmp_path / 'console.db'}",
            "--host",
            "127.0.0.1",
            "--token-file",
            str(token),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unexpected error" not in done.stdout + done.stderr
    problems = [ln for ln in done.stdout.splitlines() if ln.startswith("PROBLEM")]
    assert any("admin token" in ln and str(token) in ln for ln in problems), done.stdout
