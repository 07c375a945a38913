"""A register whose clock is hours off says so with no console to compare with: its peers' clocks, read
from the ``Date`` headers of each mesh link's upgrade (both ways), are the reference when most of them
agree (ops/clock.py ``peers_problem``). Real processes: three registers, no console, R3 under libfaketime
3 hours behind.

Before, a venue without a console (or without internet) compared clocks only when someone ran
``meshpos doctor``: a register with a dead clock battery filed its sales under the wrong business day
and its page said nothing. Those on time say nothing of their own clock, and show R3's reading.
"""

from __future__ import annotations

import glob
import os
import random
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for

from .kit import NodeProcess, make_device, make_venue

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)
HOURS_S = 3 * 3600


@pytest.mark.slow
@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_the_register_hours_behind_its_peers_says_so_and_they_do_not(tmp_path: Path) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    names = ["R1", "R2", "R3"]
    hosts = {name: f"{prefix}.{i}" for i, name in enumerate(names, start=11)}
    configs = {name: make_device(authority, tmp_path, name, host=hosts[name]) for name in names}
    # libfaketime preloaded through env, which execs (see tests/relay/test_clock_status.py)
    behind = ["env", f"LD_PRELOAD={FAKETIME}", "FAKETIME=-3h"]
    nodes: dict[str, NodeProcess] = {}
    try:
        for name in names:
            peers = [f"--peer={n}@{hosts[n]}:{nodes[n].port}" for n in nodes]
            nodes[name] = NodeProcess(
                configs[name],
                tmp_path / f"{name}.log",
                ["--no-discovery", *peers],
                prefix=behind if name == "R3" else [],
            ).start()
        for name, node in nodes.items():
            wait_for(
                lambda: len(node.status()["peer_clocks"]) == 2,  # noqa: B023  (used before the loop moves on)
                30,
                f"{name} read both peers' clocks",
                on=[node.events],
            )
        r3 = nodes["R3"].status()
        print(f"\nR3: {r3['clock']!r} {r3['peer_clocks']}")
        assert all(HOURS_S - 60 < skew < HOURS_S + 60 for skew in r3["peer_clocks"].values())
        assert r3["clock"].startswith("this device's clock is 3 h behind R1's and R2's: ")
        assert "receipts and shifts carry wrong times" in r3["clock"]
        assert r3["clock_skew_s"] is None  # (no console compared)
        for name in ("R1", "R2"):
            status = nodes[name].status()
            other = "R2" if name == "R1" else "R1"
            assert status["clock"] == "", status["clock"]
            assert -HOURS_S - 60 < status["peer_clocks"]["R3"] < -HOURS_S + 60
            assert abs(status["peer_clocks"][other]) < 5
    finally:
        for node in nodes.values():
            node.kill()
