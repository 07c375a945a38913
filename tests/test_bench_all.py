"""``meshpos bench all --quick`` runs every benchmark with its peer and reports them together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_all_reports_every_benchmark_with_its_peer(tmp_path: Path) -> None:
    markdown = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshpos",
            "bench",
            "all",
            "--quick",
            "--json",
            "--markdown",
            str(markdown),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert {"store", "mesh", "upload", "machine", "command"} <= report.keys()
    assert report["store"]["ratio_vs_peer"] > 0
    assert report["mesh"]["receipts"] > 0
    assert report["upload"]["sqlite"]["receipts"] == 300
    assert "## mesh" in markdown.read_text()
