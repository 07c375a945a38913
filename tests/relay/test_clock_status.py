"""A register whose clock is hours off says so while it sells, with real processes: a console and a
register run under libfaketime 3 hours behind (one on time says nothing: tests/relay/test_status_truth.py).

Before, only ``meshpos doctor`` compared the clock, when someone ran it: a register with a dead clock
battery filed every sale under the wrong business day in the console's reports, and its page said
nothing. Now each probe of the console's uplink reads the console's ``Date`` header
(``relay/link.probe_console``) and the status names the difference past two minutes
(``NodeStatus.clock``, shown on the register page: ``web/static/common.js``).
"""

from __future__ import annotations

import glob
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)


@pytest.mark.slow
@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_register_hours_behind_the_console_says_so(
    tmp_path: Path,
) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    rng = random.Random()
    config = make_device(
        authority,
        tmp_path,
        "R1",
        host=f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}.11",
        console_url=f"ws://127.0.0.1:{console.port}",
        console_token=authority.console_token,
    )
    # libfaketime preloaded through env, which execs: the faketime program forks, and a kill -9 of
    # it left the node running
    behind = ["env", f"LD_PRELOAD={FAKETIME}", "FAKETIME=-3h"]
    r1 = NodeProcess(config, tmp_path / "R1.log", prefix=behind)
    try:
        r1.start()
        wait_for(
            lambda: r1.status().get("clock_skew_s") is not None,
            30,
            "R1 compared its clock with the console's",
            on=[r1.events],
        )
        status = r1.status()
        print(f"\nR1: {status['clock']!r} ({status['clock_skew_s']} s)")
        assert 3 * 3600 - 60 < status["clock_skew_s"] < 3 * 3600 + 60
        assert status["clock"].startswith("this device's clock is 3 h behind the console's")
        assert "receipts and shifts carry wrong times" in status["clock"]
        shown = subprocess.run(
            [sys.executable, "-m", "meshpos", "status", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "CLOCK: this device's clock is 3 h behind the console's" in shown.stdout
    finally:
        r1.kill()
        console.stop()
