"""Found from the outside (fifth round), as a register whose clock battery died: its clock says three
years ago. Its own certificate, and every other device's and the console's, is not valid yet by that
clock, so every TLS link fails both ways ("certificate is not yet valid", in its log only). It keeps
selling, alone: gray, "1 receipt ... not at the console yet", and nothing on its page says why, so the
cashier and the manager look for a network fault. Its clock was compared with nothing (the console's
and the peers' clocks are read over those links: ops/clock.py), so ``clock`` was empty.

A device's own certificate says when it was issued: a clock before that is certainly behind, with no
link needed. The status's ``clock`` now says so (and, past its end, that the certificate expired).
A real ``meshpos node`` under libfaketime, 1,100 days behind, beside a register on time it names as
its peer: its clock problem is named; the one on time says nothing of its own clock.
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

from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_register_years_behind_says_its_clock_is_wrong(tmp_path: Path) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    on_time = make_device(authority, tmp_path, "R1", host=f"{prefix}.11")
    behind = make_device(authority, tmp_path, "R2", host=f"{prefix}.12")
    r1 = NodeProcess(on_time, tmp_path / "R1.log", ["--no-discovery"]).start()
    r2 = None
    try:
        r2 = NodeProcess(
            behind,
            tmp_path / "R2.log",
            ["--no-discovery", f"--peer=R1@{prefix}.11:{r1.port}"],
            prefix=["env", f"LD_PRELOAD={FAKETIME}", "FAKETIME=-1100d"],
        ).start()
        r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        r2.sell(CASHIER, ["espresso"])  # it still sells: the sale is kept, and said pending
        status = r2.status()
        assert status["colour"] == "gray", status
        clock = status["clock"]
        assert clock.startswith("this device's clock is at least 10"), status
        assert "days behind: it is before its certificate was issued" in clock, clock
        assert clock.endswith("set the clock and enable NTP (timedatectl set-ntp true)"), clock
        assert r1.status()["clock"] == ""
    finally:
        if r2 is not None:
            r2.kill()
        r1.kill()


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_register_whose_certificate_ends_within_a_month_says_so(tmp_path: Path) -> None:
    """Found from the outside (outside2, the twenty-first session), as a venue in its fifth year: a device's
    certificate lasts five years, and past its end no device or console links with it. The register said
    nothing about it until it had ended (then its ``clock`` said "certificate ended"); only ``meshpos
    doctor``, which a cashier never runs, warned 30 days ahead. Now its status says ``certificate``: "this
    device's certificate ends on <date>, in N days: ... enroll here before then", in ``meshpos status``
    (CERTIFICATE:) and as a banner on the register page (tests/web/test_register_clock_browser.py).

    A real ``meshpos node`` under libfaketime, 1,816 days after its enrollment (its certificate ends 1,825
    days after), beside one on time, which says nothing. On main ``certificate`` was not in the status."""
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
