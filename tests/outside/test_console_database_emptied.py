"""Found from the outside (eleventh round, hostile files): a console whose ``console.db`` was emptied (a
copy that failed half-way, ``> console.db`` typed in the wrong window, a disk full at the wrong moment)
or deleted started as a new, empty console: its reports, audit and alarms of every past month were gone
with nothing said, and the registers began sending a new console what they still held, dropping the
rest. A register refuses exactly this (``meshpos node --init-database``); the console did not. Now a
missing or empty file where a console database was (its ``console.db.lock`` stays beside it) is refused
at start naming both, nothing made; ``meshpos console --init-database`` begins an empty one on purpose,
and is refused where a database is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..mesh.kit import ConsoleProcess, make_venue


def console(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["--db", f"sqlite:///{root / 'console.db'}", "--port", "0", "--api-port", "0"]
    argv += ["--token-file", str(root / "console-admin.token"), *extra]
    return subprocess.run(
        [sys.executable, "-m", "meshpos", "console", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_a_console_database_emptied_or_deleted_is_refused_until_begun_on_purpose(
    tmp_path: Path, damage: str
) -> None:
    authority = make_venue(tmp_path)
    root = tmp_path / "console"
    root.mkdir()
    first = ConsoleProcess(root, [authority.directory]).start()
    first.stop()
    db = root / "console.db"
    assert db.stat().st_size > 0
    if damage == "emptied":
        db.write_bytes(b"")
    else:
        db.unlink()

    refused = console(root, "--venue", str(authority.directory))
    said = refused.stdout + refused.stderr
    assert refused.returncode == 2, said
    assert str(db) in said, said
    assert "console.db.lock" in said, said
    assert "--init-database" in said, said
    assert db.exists() == (damage == "emptied")
    assert not db.exists() or db.stat().st_size == 0  # nothing made in its place

    again = ConsoleProcess(root, [authority.directory], args=["--init-database"]).start()
    try:
        assert authority.venue_id in again.call("GET", "/api/venues")
    finally:
        again.stop()
    twice = console(root, "--venue", str(authority.directory), "--init-database")
    assert twice.returncode == 2, twice.stdout + twice.stderr
    assert "already holds a database" in twice.stderr, twice.stderr


def test_init_database_on_a_postgresql_url_is_refused_not_ignored(tmp_path: Path) -> None:
    """A server's database is made by its owner (createdb): the flag would mean nothing there."""
    url = "postgresql://meshpos@127.0.0.1:1/v"
    argv = ["console", "--db", url, "--port", "0", "--api-port", "0", "--init-database"]
    argv += ["--token-file", str(tmp_path / "t.token")]
    run = subprocess.run(
        [sys.executable, "-m", "meshpos", *argv], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "--init-database is for a SQLite console database only" in run.stderr, run.stderr
