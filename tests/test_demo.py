"""``meshpos demo`` end to end: a short business day with an outage, a killed register and a relay failover
must reconcile with 0 lost, 0 duplicated and matching totals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_short_demo_day_reconciles(tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meshpos", "demo", "--duration", "24", "--rate", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    print(json.dumps(report, indent=1))
    assert report["receipts_created"] > 20
    assert report["receipts_at_console"] == report["receipts_created"]
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["totals_match"] is True
    assert report["all_registers_synced"] is True
    assert len(report["faults"]) == 6
    assert "pages:" in done.stderr  # the addresses of the pages are shown
