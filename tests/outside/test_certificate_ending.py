"""Found from the outside (outside2, the twenty-first session), as a venue in its fifth year: a device's
certificate lasts five years, and past its end no device or console links with it. The register said
nothing about it until it had ended (then its ``clock`` said "certificate ended"); only ``meshpos
doctor``, which a cashier never runs, warned 30 days ahead. Now its status says ``certificate``: "this
device's certificate ends on <date>, in N days: ... enroll here before then", in ``meshpos status``
(CERTIFICATE:) and as a banner on the register page (tests/web/test_register_certificate_browser.py).

A real ``meshpos node`` under libfaketime, 1,816 days after its enrollment (its certificate ends 1,825
days after), beside one on time, which says nothing. On main ``certificate`` was not in the status.
"""

from __future__ import annotations

import glob
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..mesh.kit import NodeProcess, make_device, make_venue

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_register_whose_certificate_ends_within_a_month_says_so(tmp_path: Path) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    on_time = make_device(authority, tmp_path, "R1", host=f"{prefix}.11")
    late = make_device(authority, tmp_path, "R2", host=f"{prefix}.12")
    r1 = NodeProcess(on_time, tmp_path / "R1.log", ["--no-discovery"]).start()
    r2 = None
    try:
        r2 = NodeProcess(
            late,
            tmp_path / "R2.log",
            ["--no-discovery"],
            prefix=["env", f"LD_PRELOAD={FAKETIME}", "FAKETIME=+1816d"],
        ).start()
        said = r2.status()["certificate"]
        assert re.fullmatch(
            r"this device's certificate ends on \d{4}-\d\d-\d\d, in [89] days: then no device or "
            r"console links with it; on the back-office PC run meshpos pair --reissue for this "
            r"device and meshpos enroll here before then",
            said,
        ), said
        assert r2.status()["clock"] == ""  # its clock is inside the window: nothing wrong with it
        shown = subprocess.run(
            [sys.executable, "-m", "meshpos", "status", "--config", str(late)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert f"CERTIFICATE: {said}" in shown.stdout, shown.stdout
        assert r1.status()["certificate"] == ""
    finally:
        if r2 is not None:
            r2.kill()
        r1.kill()
