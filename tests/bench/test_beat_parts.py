"""``python -m meshpos.bench.beat_parts``: a receipt's CPU in each device's synchronizer, by part. No
time is asserted (the figures are in docs/benchmarks.md, the fourteenth session's part ``recv``): the
run sells, every part is reported, the word checks and signatures are counted, the synchronizer is
left as it was, and bad arguments are refused with a message."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import beat_parts
from meshpos.sync._synchronizer import Synchronizer
from meshpos.trust.device_word import DeviceWordChecker


def test_a_small_venue_is_reported_by_part(capsys: pytest.CaptureFixture[str]) -> None:
    before = {name: getattr(Synchronizer, name) for name in beat_parts.PARTS}
    check = DeviceWordChecker.__call__
    # (seven: a venue of six is a full mesh since nineteenth session, where no word goes beyond the links)
    args = ["--json", "--nodes", "7", "--seconds", "4", "--warmup", "2"]
    assert beat_parts.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["receipts"] == 20  # 5/s for 4 simulated seconds
    assert set(report["parts_ms_per_receipt_per_node"]) == set(beat_parts.PARTS)
    assert report["checks_per_receipt_per_node"] > 0  # words passed on beyond the links, checked
    assert report["verified_per_receipt_per_node"] > 0
    assert report["signed_per_receipt_per_node"] > 0
    assert {name: getattr(Synchronizer, name) for name in beat_parts.PARTS} == before
    assert DeviceWordChecker.__call__ is check


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        beat_parts.main(["--nodes", "1"])
    assert exit_.value.code == 2
    assert "--nodes at least 2" in capsys.readouterr().err
