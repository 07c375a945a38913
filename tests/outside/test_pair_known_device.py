"""``meshpos pair`` for a device id the venue revoked or already issued (tenth outside round, the
twenty-third session).

A register was stolen; the owner revoked it (``meshpos revoke R2``) and, following habit rather than
README's step 5 (a new id), runs ``meshpos pair --device R2`` for the replacement. The command printed a
code and waited; the owner walked to the new device, typed the code, and only ``meshpos enroll`` there
said "device id 'R2' is revoked", while ``pair`` went on waiting and said nothing. The same for an id
already issued (a second register named like the first) without ``--reissue``. Now ``pair`` refuses at
once, before it shows a code, with the words the device got, exit code 2; ``--reissue`` still pairs an
issued id, never a revoked one. Real ``meshpos pair`` processes on a venue directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.harness.venue import enroll_directly, make_venue


def pair(venue: Path, device: str, *extra: str) -> tuple[int | None, str, str]:
    """``meshpos pair`` as the owner runs it: its exit code (None: still waiting with a code after
    20 s, then killed), standard output and error."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "meshpos", "pair", "--venue", str(venue), "--role", "register"),
            *("--device", device, "--host", "127.0.0.1", "--port", "0", "--ttl", "60", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=20)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:  # waiting for a device (main, for the refused ids)
        proc.kill()
        out, err = proc.communicate()
        return None, out, err


@pytest.mark.parametrize(
    ("device", "extra", "words"),
    [
        ("R2", (), "device id 'R2' is revoked in venue"),
        ("r2", ("--reissue",), "device id 'r2' is revoked in venue"),
        ("R1", (), "device id 'R1' is already issued in venue"),
        ("r1", (), "device id 'r1' is already issued in venue"),
    ],
    ids=["revoked", "revoked-reissue", "issued", "issued-other-case"],
)
def test_pairing_a_known_id_is_refused_before_a_code(
    tmp_path: Path, device: str, extra: tuple[str, ...], words: str
) -> None:
    authority = make_venue(tmp_path)
    enroll_directly(authority, "R1", "register", tmp_path / "R1")
    enroll_directly(authority, "R2", "register", tmp_path / "R2")
    authority.revoke("R2", "stolen")
    issued = (authority.directory / "issued.json").read_bytes()
    code, out, err = pair(authority.directory, device, *extra)
    assert code == 2, (code, out, err)  # main: None, a code shown and waiting for the device
    assert "pairing code" not in out, out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"meshpos: error: {words}"), err
    assert "unexpected" not in err, err
    assert (authority.directory / "issued.json").read_bytes() == issued


def test_reissuing_an_issued_id_still_shows_a_code(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    enroll_directly(authority, "R1", "register", tmp_path / "R1")
    code, out, err = pair(authority.directory, "R1", "--reissue", "--ttl", "1")
    assert "pairing code: " in out, out  # shown, then waited for the device until it expired
    assert code == 2, (code, out, err)
    assert "pairing code expired before any device used it" in err, err
