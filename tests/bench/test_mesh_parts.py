"""``python -m meshpos.bench.mesh_parts`` with a tiny day: every figure printed with a sane type, and
the receiver really took every update (its tally counts each sale's receipt). No speed is asserted."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import mesh_parts


def test_the_parts_bench_prints_each_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert mesh_parts.main(["--sales", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sales"] == 6
    assert report["updates_per_sale"] == 5  # the four steps, and the receipt number's mark
    assert report["allocator"] in ("malloc", "pymalloc", "debug", "pymalloc_debug", "malloc_debug")
    figures = (
        "receive_us_per_update",
        "sale_ms",
        "link_us_per_message",
        "link_us_per_message_batched",
    )
    for figure in figures:
        assert isinstance(report[figure], float)
        assert report[figure] > 0


def test_the_receiver_takes_every_sale() -> None:
    assert mesh_parts.received_receipts(6) == 6
