"""``python -m meshpos.bench.kitchen_board``: a kitchen board read walks the day's events once, whatever
the number of tickets (it walked them once per ticket: a day of 1,000 tickets cost ~16 s of CPU on the
node's loop per read, and every register page reads it at each kitchen change). The count is exact; no
time is asserted (docs/benchmarks.md, kitchen board)."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import kitchen_board


def test_a_board_read_walks_the_days_events_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert kitchen_board.main(["--json", "--tickets", "20", "60"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["tickets"], r["events_touched_per_read"]) for r in runs] == [(20, 60), (60, 180)]
