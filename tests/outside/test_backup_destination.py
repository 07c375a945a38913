"""Found from the outside: ``meshpos backup --out`` somewhere it cannot write (a path under a file, a
read-only or full disk) ended in "unexpected error: FileNotFoundError". It is one line naming the file,
exit code 2, and nothing is left behind."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from meshpos.harness.venue import make_device, make_venue


def backup(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``meshpos backup`` as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "meshpos", "backup", "--config", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_backup_it_cannot_write_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    config = asyncio.run(make_device(make_venue(tmp_path), tmp_path, "R1"))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup's folder would be\\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    out = blocker / "R1.backup"
    done = backup(tmp_path / "R1.toml", out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"meshpos: error: {out}: {blocker} is a file, not a folder (nothing was written)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert config.db_path.is_file()

    out = Path("/proc") / "R1.backup"  # a folder no one may create a file in, root included
    done = backup(tmp_path / "R1.toml", out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[0]
        .startswith(f"meshpos: error: cannot write the backup {out}: ")
    )
    assert "unexpected" not in done.stderr
