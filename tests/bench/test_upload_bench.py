"""``meshpos bench upload`` with a tiny backlog: the upload and both failovers are measured (no speed
asserted: speed is the benchmark's to report)."""

from __future__ import annotations

import argparse
import json

import pytest

from meshpos.bench.upload import add_upload_arguments, run_upload_bench


def test_a_tiny_run_reports_the_upload_and_both_failovers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_upload_arguments(parser)
    args = parser.parse_args(["--json", "--receipts", "50", "--no-postgres"])
    assert run_upload_bench(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["sqlite"]["lost"] == report["sqlite"]["duplicated"] == 0
    # the silent relay (SIGSTOP) and the dead one (SIGKILL): each a venue of its own, each re-elected
    assert "freezing relay" in captured.err
    assert "killing relay" in captured.err
    for key in ("failover_s", "failover_closed_s"):
        assert 0 < report[key] < 60
        assert report["targets"][f"{key}_max"] > 0
