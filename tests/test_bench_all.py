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


def test_a_report_is_never_written_over_figures_kept_by_hand(tmp_path: Path) -> None:
    kept = tmp_path / "benchmarks.md"
    kept.write_text("# Benchmarks\n\nfigures measured by hand\n")
    done = subprocess.run(
        [sys.executable, "-m", "meshpos", "bench", "all", "--quick", "--markdown", str(kept)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "was not written by bench all" in done.stderr
    assert "bench all: running" not in done.stderr  # refused before any benchmark ran
    assert kept.read_text() == "# Benchmarks\n\nfigures measured by hand\n"
