"""The per-device arithmetic of ``bench mesh --nodes 6,20,50`` (bench/mesh_scale.py) on given figures."""

from __future__ import annotations

from typing import Any

import pytest

from meshpos.bench.mesh_drive import busy_fraction, busy_jiffies
from meshpos.bench.mesh_scale import SATURATED, node_counts, per_node, scale_report, scale_table
from meshpos.errors import MeshposError


def test_sizes_are_one_number_or_a_list() -> None:
    assert node_counts("6") == [6]
    assert node_counts("6,20,50") == [6, 20, 50]
    for bad in ("1", "6,,20", "6,6", "x"):
        with pytest.raises(MeshposError, match="--nodes"):
            node_counts(bad)


def _phase(**changes: Any) -> dict[str, Any]:
    phase = {
        "phase_s": 10.0,
        "phase_cpu_s": 3.0,
        "machine_busy": 0.5,
        "achieved_rate": 100.0,
        "offered_rate": 100.0,
    }
    return {**phase, **changes}


def test_a_receipt_costs_each_node_its_share_net_of_idling() -> None:
    # 6 nodes idling at 10 ms/s each spend 0.6 s of the 10 s phase: 2.4 s for 1,000 receipts
    figures = per_node(_phase(), {"idle_cpu_ms_per_s_per_node": 10.0}, nodes=6, receipts=1000)
    assert figures["cpu_ms_per_receipt_per_node"] == pytest.approx(2.4 / 6)
    assert figures["idle_cpu_ms_per_s_per_node"] == 10.0
    assert figures["saturated"] is False
    # idling measured higher than the phase itself (a noisy machine): never negative
    noisy = per_node(_phase(), {"idle_cpu_ms_per_s_per_node": 100.0}, nodes=6, receipts=1000)
    assert noisy["cpu_ms_per_receipt_per_node"] == 0


def test_the_bench_s_own_probe_is_no_receipt_s_cost() -> None:
    # the registers' loop-lag probe runs only while they sell: measured idle with it on (8 ms/s per
    # node here), it is taken off like the idling: 6 x 18 ms/s x 10 s = 1.08 s of the 3 s phase
    idle = {"idle_cpu_ms_per_s_per_node": 10.0, "probe_cpu_ms_per_s_per_node": 8.0}
    figures = per_node(_phase(), idle, nodes=6, receipts=1000)
    assert figures["cpu_ms_per_receipt_per_node"] == pytest.approx(1.92 / 6)
    assert figures["probe_cpu_ms_per_s_per_node"] == 8.0
    assert (
        figures["idle_cpu_ms_per_s_per_node"] == 10.0
    )  # the idle figure stays the probe's-free one


@pytest.mark.parametrize(
    ("changes", "saturated"),
    [
        ({"machine_busy": SATURATED}, True),
        ({"machine_busy": SATURATED - 0.01}, False),
        ({"achieved_rate": 90.0}, True),  # the registers could not keep up with the offered rate
        ({"machine_busy": None}, False),  # no /proc/stat: said by the rate alone
    ],
)
def test_saturation_is_the_machine_busy_or_the_rate_missed(
    changes: dict[str, Any], saturated: bool
) -> None:
    idle = {"idle_cpu_ms_per_s_per_node": 1.0}
    assert per_node(_phase(**changes), idle, nodes=2, receipts=10)["saturated"] is saturated


def test_the_machine_busy_fraction_from_proc_stat() -> None:
    assert busy_fraction((100, 1000), (400, 1400)) == 0.75
    assert busy_fraction(None, (1, 2)) is None
    assert busy_fraction((5, 10), (5, 10)) is None  # no time passed
    now = busy_jiffies()
    assert now is not None  # this machine is Linux
    assert 0 <= now[0] <= now[1]


def _run(nodes: int, **figures: Any) -> dict[str, Any]:
    return {
        "nodes": nodes,
        "rate": 5.0,
        "seconds": 10.0,
        "machine": {"cpu_count": 2},
        "load_average_at_start": 1.0,
        "idle_cpu_ms_per_s_per_node": 3.0,
        "cpu_ms_per_receipt_per_node": 0.5,
        "links_per_node_max": 4,
        "saturated": False,
        **figures,
    }


def test_a_report_of_several_sizes_keeps_a_failed_size_with_its_error() -> None:
    runs = [
        _run(6),
        _run(20, saturated=True),
        {"nodes": 50, "error": "R02 did not answer", "machine": {}},
    ]
    report = scale_report(runs)
    assert report["nodes"] == [6, 20, 50]
    assert report["per_node"]["links_per_node_max"] == {"6": 4, "20": 4, "50": None}
    assert report["failed"] == {"50": "R02 did not answer"}
    table = scale_table(runs)
    assert "50 nodes failed: R02 did not answer" in table
    assert "saturated at 20 nodes" in table
