"""Found from the outside: ``meshpos venue init --dir PATH`` with a file at PATH (or on the way to it) said
``unexpected error: FileExistsError: [Errno 17] File exists`` (exit 1, the CLI's last resort). It now
says which path is a file and exits 2, and the file is left as it was. A real ``meshpos`` process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_file_where_the_venue_goes_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "venue"
    blocker.write_text("notes\n")
    for target in (blocker, blocker / "inner"):
        made = subprocess.run(
            [sys.executable, "-m", "meshpos", "venue", "init", "--dir", str(target), "--name", "Café"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 2, made.stderr
        assert made.stderr.startswith(f"meshpos: error: {target}: "), made.stderr
        assert f"{blocker} is a file, not a directory" in made.stderr
        assert "unexpected" not in made.stderr
        assert blocker.read_text() == "notes\n"
