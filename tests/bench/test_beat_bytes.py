"""``python -m meshpos.bench.beat_bytes``: what selling adds to the heartbeats, field by field, with a
console taking every sale. No size is asserted (the figures are in docs/benchmarks.md (beat bytes)):
the run sells, the console's state reaches every register (nothing left pending), the fields that
move with the sales are reported, and bad arguments are refused with a message."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import beat_bytes


def test_a_small_venue_is_reported_field_by_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert beat_bytes.main(["--json", "--nodes", "6", "--seconds", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == 6
    assert report["receipts"] == 20  # 5/s for 4 simulated seconds
    assert report["relay"] is not None
    assert report["pending_left"] == 0  # every register learnt the console holds its sales
    fields = report["extra_bytes_per_receipt_by_field"]
    assert {"heldc", "console"} <= set(fields)  # attestations and the console's state passed on
    assert report["extra_heartbeat_bytes_per_receipt"] > 0


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert beat_bytes.main(["--nodes", "1"]) == 2
    assert "--nodes at least 2" in capsys.readouterr().err
    assert beat_bytes.main(["--nodes", "six"]) == 2
    assert "six" in capsys.readouterr().err
