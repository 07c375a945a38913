"""``meshpos bench history-mesh`` with tiny sizes: real registers link, sell, and both joiners (the one
with closed days and the fresh one) catch up with every receipt; every figure is printed with a sane
type. No speed is asserted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from meshpos.bench.history_mesh import MESH, add_history_mesh_arguments, run_history_mesh_bench

JOINER_FIGURES = ("start_s", "catchup_s", "catchup_cpu_ms", "rss_mb", "idle_cpu_ms_per_s")


def test_a_tiny_run_links_sells_and_both_joiners_catch_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_history_mesh_arguments(parser)
    args = parser.parse_args(
        [
            *("--json", "--days", "2", "--receipts-per-day", "20", "--busy-s", "3"),
            *("--rate", "5", "--idle-s", "0.3", "--dir", str(tmp_path)),
        ]
    )
    assert run_history_mesh_bench(args) == 0
    report = json.loads(capsys.readouterr().out)
    busy = report["busy"]
    assert busy["receipts"] > 0
    assert busy["failed_sales"] == 0
    assert set(busy["rss_end_mb"]) == set(MESH)
    assert all(mb > 10 for mb in busy["rss_end_mb"].values())  # a Python process's RSS
    for joiner in ("fresh_joiner", "history_joiner"):
        figures = report[joiner]
        assert figures["catchup_s"] is not None, (joiner, figures)  # it holds every receipt
        for key in JOINER_FIGURES:
            assert isinstance(figures[key], float | int), (joiner, key)
            assert figures[key] >= 0, (joiner, key)
        assert set(figures["mesh_idle_cpu_ms_per_s"]) == set(MESH)
    assert set(report["ratios_history_vs_fresh"]) == set(JOINER_FIGURES)
    assert report["fixture"]["days"] == 2
    assert len(report["machine"]["load_avg_before"]) == 3
