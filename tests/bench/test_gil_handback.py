"""``python -m meshpos.bench.gil_handback``: a tap's commit timed on the store's thread while a thread
spins Python, per switch interval (issue 18, tail)."""

from __future__ import annotations

import json
import sys

import pytest

from meshpos.bench import gil_handback
from meshpos.store.connection import Transaction


def test_it_times_unsynced_and_fsynced_commits_per_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = sys.getswitchinterval()
    assert gil_handback.main(["--json", "--commits", "3", "--intervals-ms", "2,1"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("unsynced_2ms", "fsync_2ms", "unsynced_1ms", "fsync_1ms"):
        p50, p99 = report[f"on_thread_{key}_p50_p99_ms"]
        assert 0 < p50 <= p99
    assert sys.getswitchinterval() == before  # the process's own, given back
    assert Transaction.watch is None


@pytest.mark.parametrize(
    "argv", [["--commits", "0"], ["--intervals-ms", "5,x"], ["--intervals-ms", "0"]]
)
def test_nonsense_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        gil_handback.main(argv)
    assert exited.value.code == 2
