"""``meshpos bench leak`` with a small day: real nodes open the fixture, the day is closed through the
engine, every figure is printed with its type. No memory size is asserted (a benchmark measures it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from meshpos.bench.leak import TARGET_MB, add_leak_arguments, run_leak_bench
from meshpos.errors import MeshposError

FIGURES = {
    "sales": int,
    "fresh_rss_mb": float,
    "loaded_rss_mb": float,
    "closed_rss_mb": float,
    "close_s": float,
    "closed_vs_fresh_mb": float,
    "target_mb": int,
    "target_met": bool,
}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_leak_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_small_day_is_closed_and_every_figure_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_leak_bench(_args("--json", "--sales", "40", "--dir", str(tmp_path))) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == set(FIGURES)
    for name, kind in FIGURES.items():
        assert isinstance(report[name], kind), name
    assert report["sales"] == 40  # every receipt of the day was indexed when it closed
    assert report["target_mb"] == TARGET_MB
    for name in ("fresh_rss_mb", "loaded_rss_mb", "closed_rss_mb"):
        assert report[name] > 10, name  # a Python process, not a misread of /proc
    assert report["target_met"] == (report["closed_vs_fresh_mb"] <= TARGET_MB)
    assert list(tmp_path.iterdir()) == []  # the fixtures went with the run


@pytest.mark.parametrize("sales", ["0", "-1", "1000000"])
def test_nonsense_sizes_are_refused(sales: str) -> None:
    with pytest.raises(MeshposError, match="--sales"):
        run_leak_bench(_args("--sales", sales))
