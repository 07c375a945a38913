"""Found from the outside: ``meshpos enroll --dir PATH`` with a PATH that cannot hold an identity (a file
there, a file on the way) ran the one-time exchange first and only then failed to save: the code was
used up, the venue recorded the device as issued, and the device said ``unexpected error:
FileExistsError: [Errno 17] File exists``. Now the destination is checked before the code is sent: the
error names the path and why, nothing is written, and the code still works with a good ``--dir``. Real
``meshpos pair`` and ``meshpos enroll`` processes on a loopback address."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..mesh.kit import make_venue


def _meshpos(*args: str) -> list[str]:
    return [sys.executable, "-m", "meshpos", *args]


def _pair(tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``meshpos pair`` for R1 of a new venue: the process, its code and its address."""
    make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
    pair = subprocess.Popen(
        _meshpos(
            "pair", "--venue", str(tmp_path / "venue"), "--role", "register", "--device", "R1",
            "--host", host, "--ttl", "60",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert pair.stdout is not None
    head = "".join(pair.stdout.readline() for _ in range(2))  # the code, then the address
    code = re.search(r"^pairing code: (\S+)$", head, re.M)
    url = re.search(r"^listening on (ws://\S+)$", head, re.M)
    assert code is not None, head
    assert url is not None, head
    return pair, code[1], url[1]


def _stop(pair: subprocess.Popen[str]) -> None:
    if pair.poll() is None:
        pair.kill()
        pair.wait()


def test_an_unusable_dir_is_refused_before_the_code_is_spent(tmp_path: Path) -> None:
    pair, code, url = _pair(tmp_path)
    try:
        blocker = tmp_path / "R1"
        blocker.write_text("not a directory\n")
        for target in (blocker, blocker / "identity"):
            refused = subprocess.run(
                _meshpos(
                    "enroll", "--code", code, "--server", url, "--device", "R1",
                    "--dir", str(target),
                ),
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr.startswith(f"meshpos: error: {target}: "), refused.stderr
            assert "unexpected" not in refused.stderr
            assert "Errno" not in refused.stderr
            assert str(blocker) in refused.stderr
            assert blocker.read_text() == "not a directory\n"
        assert pair.poll() is None  # the pairing server still waits: the code was not sent

        good = tmp_path / "R1-data" / "identity"
        enrolled = subprocess.run(
            _meshpos(
                "enroll", "--code", code, "--server", url, "--device", "R1", "--dir", str(good)
            ),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        assert (good / "device.key").is_file()
        assert pair.wait(30) == 0
    finally:
        _stop(pair)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs with one 4 kB page left: the venue CA's file fits, the certificate's does not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        with (mount / "filler").open("wb") as f:
            f.write(b"x" * (256 * 1024 - 4096))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_during_the_save_leaves_no_half_identity(
    tmp_path: Path, small_disk: Path
) -> None:
    pair, code, url = _pair(tmp_path)
    try:
        target = small_disk / "identity"
        failed = subprocess.run(
            _meshpos("enroll", "--code", code, "--server", url, "--device", "R1", "--dir", str(target)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert failed.returncode == 2, failed.stderr
        assert failed.stderr.startswith(f"meshpos: error: {target}: the venue issued R1"), (
            failed.stderr
        )
        assert "could not be saved here (No space left on device)" in failed.stderr
        assert "start meshpos pair again" in failed.stderr
        assert sorted(p.name for p in target.iterdir()) == []  # no half identity to refuse the next
        assert pair.wait(30) == 0  # the code was spent: the venue issued the certificate
    finally:
        _stop(pair)
