"""``python -m meshpos.bench.busy_taps``: a seller's tap with other registers' sales applied between its
taps. Its report has every figure, and the counts that do not move with the machine's load hold: with
a peer's sale before every tap the seller never reads its order's text (main: 3 a sale) and parses its
order once a sale, after opening it (a line it adds grows the kept parse: issue 18, seller). No time is asserted: the figures are in docs/benchmarks.md (busy
taps)."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import busy_taps


def test_a_busy_sellers_taps_read_no_order_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert busy_taps.main(["--json", "--sales", "6", "--peers", "2", "--tables", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["order_text_reads_per_sale"] == 0
    assert report["order_parses_per_sale"] == 1
    for figure in ("tap_calls", "apply_calls", "reread_calls", "tap_us_median", "reread_us_median"):
        assert report[figure] > 0, figure
