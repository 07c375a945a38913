"""``python -m meshpos.bench.long_shift``: the X after a sale on a shift open for days reads the live day
only, so its Python calls do not grow with the days (they did: every loaded day was read again); and
(shiftsum) the past days close with their parts kept, so the first X after a start does not grow either
(it read every day); (ownday, the twenty-first session) the shift's own day closes too; (reprint, the
twenty-second) a reprint after the Z loads no day. The calls are
counted, no time is asserted (docs/benchmarks.md, long shift)."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import long_shift


def _run(days: int, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    assert long_shift.main(["--json", "--days", str(days), "--sales", "6"]) == 0
    report: dict[str, int] = json.loads(capsys.readouterr().out)
    return report


def test_the_x_after_a_sale_costs_the_live_day(capsys: pytest.CaptureFixture[str]) -> None:
    two, eight = _run(2, capsys), _run(8, capsys)
    # (shiftsum) the past days close, their parts kept; (ownday) the shift's own day too, its
    # record kept: only today stays loaded
    assert (two["loaded_days"], eight["loaded_days"]) == (1, 1)
    assert (two["closed_days"], eight["closed_days"]) == (1, 7)
    assert eight["x_first_calls"] < two["x_first_calls"] * 1.2  # the first X reads no closed day
    assert eight["x_after_sale_calls"] < two["x_after_sale_calls"] * 1.2


def test_a_reprint_of_the_closed_shift_loads_no_day(capsys: pytest.CaptureFixture[str]) -> None:
    """(reprint, the twenty-second session) after the Z its own day and last day close too: the
    reprint reads their kept record and parts (8ab35f3 with this bench: 2 loads, calls growing with
    the sales of the days loaded)."""
    two, eight = _run(2, capsys), _run(8, capsys)
    assert (two["reprint_loads"], eight["reprint_loads"]) == (0, 0)
    # each closed day adds its kept part (a state vector compared), no read of its records
    assert eight["reprint_calls"] - two["reprint_calls"] < 6 * 100
