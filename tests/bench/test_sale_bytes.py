"""``python -m meshpos.bench.sale_bytes``: what the bench's sale writes, tap by tap. Its parts add up to
the bytes sent, and the sale writes no key with the value it already held (the detector is shown to
find one). No size is asserted: the figures are in docs/benchmarks.md (sale bytes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.bench import sale_bytes


def test_each_tap_is_accounted_for_and_the_sale_rewrites_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert sale_bytes.main(["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    taps = report["taps"]
    assert [t["tap"] for t in taps] == [
        "open order",
        "line 1",
        "line 2",
        "pay by card",  # the receipt number's mark rising
        "pay by card",  # the receipt and its payment
    ]
    for tap in taps:
        assert tap["keys_bytes"] + tap["values_bytes"] + tap["yjs_bytes"] == tap["update_bytes"]
        assert tap["update_bytes"] + tap["envelope_bytes"] == tap["message_bytes"]
        assert tap["written"], f"{tap['tap']} wrote nothing a reader sees"
    assert report["message_bytes_per_sale"] == sum(t["message_bytes"] for t in taps)
    assert report["unchanged_writes_per_sale"] == 0
    assert (
        report["id_chars_per_sale"] > 0
    )  # ids are found (the count is what the cuts are measured by)


def test_a_key_written_with_the_value_it_held_is_counted() -> None:
    doc: Doc[Any] = Doc()
    doc.get("m", type=Map)["x"] = "1"
    before = doc.get_update()
    state = doc.get_state()
    doc.get("m", type=Map)["x"] = "1"
    doc.get("m", type=Map)["y"] = "2"
    assert sale_bytes._unchanged_writes(before, ["m"], doc.get_update(state)) == 1
