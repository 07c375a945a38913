"""The tired cashier's pairing: a code that expired before it was typed in.

``meshpos enroll`` with an expired code met a closed port and said ``cannot reach the pairing server at
ws://...: [Errno 111] Connect call failed (...)``, which reads like a network fault. Now it says that
``meshpos pair`` is not running there any more, why that happens (the code's time, a wrong code) and
what to do; ``meshpos pair`` says until when its code works. Real processes on a loopback address.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

from .mesh.kit import make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=60
    )


def test_an_expired_code_says_pairing_ended_and_what_to_do(tmp_path: Path) -> None:
    make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.10"
    pair = meshpos(
        "pair", "--venue", str(tmp_path / "venue"), "--role", "register", "--host", host,
        "--ttl", "0.5",
    )  # fmt: skip
    assert pair.returncode == 2
    assert "expired" in pair.stderr
    code = re.search(r"^pairing code: (\S+)$", pair.stdout, re.M)
    url = re.search(r"^listening on (ws://\S+)$", pair.stdout, re.M)
    assert code is not None
    assert url is not None
    assert re.search(r"^the code works once, until \d\d:\d\d:\d\d", pair.stdout, re.M)
    identity = tmp_path / "R1" / "identity"
    late = meshpos(
        "enroll", "--code", code[1], "--server", url[1], "--device", "R1", "--dir", str(identity)
    )
    assert late.returncode == 2
    assert late.stderr.count("\n") == 1, late.stderr
    assert late.stderr.startswith(f"meshpos: error: nothing answers at {url[1]}: meshpos pair")
    assert "start pairing again" in late.stderr
    assert "Errno" not in late.stderr
    assert not identity.exists()
