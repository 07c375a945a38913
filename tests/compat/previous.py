"""The previous release (N−1, ``compat/previous_release``) of meshpos, built from git history into a
virtualenv of its own and cached between runs under pytest's cache directory (docs/architecture.md (Wire),
compatibility rules).

The commit is exported with ``git archive`` (no checkout, no worktree to clean up) and installed with pip
(not editable: the virtualenv holds the whole release). Its processes run from the cache directory, where
no ``meshpos`` package lies: ``python -m meshpos`` would otherwise import this checkout's from the
working directory, and a node starts itself again with the same command line (engine/memory.py).
A clone without the commit skips (and CI, where a skip fails, has full history).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "compat" / "previous_release"
BUILD_TIMEOUT = 600.0  # seconds for pip, generous: 8 helpers may share the machine


def recorded_commit() -> str:
    """The commit ``compat/previous_release`` names (its one line that is not a comment)."""
    lines = [line.strip() for line in RECORD.read_text().splitlines()]
    (commit,) = [line for line in lines if line and not line.startswith("#")]
    return commit


@dataclass(frozen=True)
class Release:
    """A built previous release: ``python`` runs its interpreter from its home (see the module)."""

    commit: str
    home: Path

    @property
    def python(self) -> list[str]:
        return ["env", "-C", str(self.home), str(self.home / "venv" / "bin" / "python")]

    def check_runs(self, process: asyncio.subprocess.Process | None) -> None:
        """The process is this release's interpreter, run from its home (see the module)."""
        assert process is not None
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert argv[0].decode() == self.python[-1], argv
        assert Path(f"/proc/{process.pid}/cwd").resolve() == self.home.resolve()

    def run(self, code: str, *args: str, stdin: str = "") -> str:
        """Run ``code`` with the release's meshpos; its standard output (raises on failure, with stderr)."""
        done = subprocess.run(
            [*self.python, "-c", code, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"{self.commit[:7]} failed: {done.stderr[-3000:]}")
        return done.stdout


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time (two pytest processes on one checkout)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=120)


def build(cache: Path) -> Release:
    """The recorded release, built under ``cache`` unless already there."""
    commit = recorded_commit()
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {commit} (compat/previous_release) is not in this clone's history")
    release = Release(commit, cache / commit[:12])
    ready = release.home / "ready"
    with _locked(cache / f"{commit[:12]}.lock"):
        if ready.exists() and ready.read_text() == commit:
            return release
        shutil.rmtree(release.home, ignore_errors=True)
        source = release.home / "src"
        source.mkdir(parents=True)
        archive = _git("archive", "--format=tar", commit)
        assert archive.returncode == 0, archive.stderr.decode(errors="replace")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(source, filter="data")
        venv = release.home / "venv"
        for argv in (
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)],
        ):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            assert done.returncode == 0, f"{argv[:4]} failed: {done.stderr[-3000:]}"
        where = release.run("import meshpos; print(meshpos.__file__)").strip()
        assert Path(where).is_relative_to(venv), f"the release imports meshpos from {where}"
        ready.write_text(commit)
    return release
