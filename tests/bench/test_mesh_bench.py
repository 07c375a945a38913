"""``meshpos bench mesh`` with tiny parameters: every figure is printed and makes sense (no speed asserted)."""

from __future__ import annotations

import argparse
import json
import math
import os
import pstats
from pathlib import Path

import pytest

from meshpos.allocator import object_allocator_env
from meshpos.bench.mesh import add_mesh_arguments, run_mesh_bench
from meshpos.bench.tail_probe import HOPS, PHASES
from meshpos.errors import MeshposError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mesh_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_tiny_run_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--json", "--nodes", "3", "--rate", "20", "--seconds", "1", "--loop-figures")
    args.catchup_receipts = 30
    assert run_mesh_bench(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "bench mesh: ours" in captured.err
    assert "bench mesh: peer" in captured.err

    assert result["nodes"] == 3
    assert result["receipts"] == 20
    assert result["rate"] == 20
    for side in ("", "peer_"):
        p50, p99 = result[f"{side}propagation_p50_ms"], result[f"{side}propagation_p99_ms"]
        assert 0 <= p50 <= p99 <= result[f"{side}propagation_max_ms"]
        assert result[f"{side}wire_bytes_per_receipt"] > 500  # a receipt is hundreds of bytes
        assert result[f"{side}cpu_ms_per_receipt"] > 0
        assert result[f"{side}achieved_rate"] > 0
        assert 0 < result[f"{side}catchup_s"] < 120
        assert result[f"{side}catchup_wire_mb"] > 0
        assert 0 <= result[f"{side}loop_lag_p99_ms"] <= result[f"{side}loop_lag_max_ms"]
        assert result[f"{side}loop_cpu_ms_per_receipt"] > 0
    assert result["wire_messages_per_receipt"] >= 2  # at least one message to each other node
    assert result["commits_per_receipt"] >= 1  # the seller's steps, at least
    assert "peer_commits_per_receipt" not in result  # the peer keeps no store
    assert result["allocator"] == object_allocator_env(os.environ).get("PYTHONMALLOC", "pymalloc")
    by_kind = result["wire_bytes_per_receipt_by_kind"]
    assert by_kind["update"] > 0
    assert math.isclose(sum(by_kind.values()), result["wire_bytes_per_receipt"], rel_tol=0.01)
    for side in ("", "peer_"):  # the per-device figures (bench/mesh_scale.py)
        assert result[f"{side}idle_cpu_ms_per_s_per_node"] > 0
        assert result[f"{side}cpu_ms_per_receipt_per_node"] >= 0
        assert result[f"{side}links_per_node_max"] >= 1
        assert result[f"{side}saturated"] in (True, False)
        assert result[f"{side}machine_busy"] is None or 0 <= result[f"{side}machine_busy"] <= 1
    assert result["links_per_node_max"] <= 2  # three nodes: at most the two others
    for loop in result["loop_per_register"]:  # each register's sale phase (bench/mesh_meter.py)
        assert len(loop["gc_collections"]) == 3  # by generation
        assert 0 < loop["tap_p50_ms"] <= loop["tap_p99_ms"] <= loop["tap_max_ms"]
        assert 0 < loop["commit_p50_ms"] <= loop["commit_p99_ms"] <= loop["commit_max_ms"]
        assert isinstance(loop["slow_callbacks"], int)  # --loop-figures
        assert loop["round_cpu_p50_ms"] <= loop["round_cpu_p99_ms"] <= loop["round_cpu_max_ms"]
        split, taps = map(int, loop["tap_phase_split"].split("/"))  # (bench/tail_probe.py)
        assert taps >= 4  # a sale's four taps
        assert 0 < split <= taps  # most of them split into phases
        for phase in PHASES:
            assert 0 <= loop[f"tap_phase_{phase}_ms"][0] <= loop[f"tap_phase_{phase}_ms"][1]
        assert set(loop["tap_slow_sales_by_phase_ms"]) == set(PHASES)
        assert loop["socket_writes"] > 0
        assert all(n >= 0 for n in loop["tap_context_switches"])  # (voluntary, involuntary)
    assert result["propagation_phase_split"] == 20  # every receipt's hops were stamped
    for hop in HOPS:
        assert result[f"propagation_phase_{hop}_ms"][0] <= result[f"propagation_phase_{hop}_ms"][1]
    assert len(result["loop_per_register"]) == 3
    assert result["catchup_receipts"] == 30
    assert result["catchup_start_s"] <= result["catchup_s"]
    assert result["catchup_cpu_ms"] > 0  # the restarted node's process did start and catch up
    assert result["catchup_loaded_receipts"] == 20 + 3  # the measured sales and the warm-up
    if result["propagation_p99_ms"] > 0:  # (printed to 3 significant digits: 62.7 for 62.71)
        assert math.isclose(
            result["ratio_vs_peer"],
            result["peer_propagation_p99_ms"] / result["propagation_p99_ms"],
            rel_tol=0.005,
            abs_tol=0.01,
        )
    assert (
        set(result["targets"]) == set(result["targets_met"]) == {"propagation_p99_ms", "catchup_s"}
    )
    assert result["machine"]["cpu_count"] >= 1
    assert result["machine"]["python"].count(".") == 2


def test_the_table_without_json_and_without_the_peer_and_profiled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = _args("--nodes", "2", "--rate", "10", "--seconds", "0.5", "--catchup-receipts", "5")
    args.no_peer = True
    args.profile = str(tmp_path / "profiles")
    assert run_mesh_bench(args) == 0
    out = capsys.readouterr().out
    assert "propagation p99 ms" in out
    assert "2 nodes, 5 receipts" in out
    # each register profiled its warm-up sale, the idle mesh and its measured sales: one file each
    # (``<pid>-1``, ``-2``, ``-3``), readable
    profiles = sorted((tmp_path / "profiles").glob("[0-9]*.prof"))
    assert len(profiles) == 2 * 3
    # and the restarted register its catch-up, from its start until it held every receipt
    (catchup,) = (tmp_path / "profiles").glob("catchup-*.prof")
    caught = {name for _file, _line, name in pstats.Stats(str(catchup)).stats}  # type: ignore[attr-defined]
    assert {"start", "receive_data"} <= caught
    functions = {name for _file, _line, name in pstats.Stats(str(profiles[0])).stats}  # type: ignore[attr-defined]
    assert "sell_one" in functions
    idle = [p for p in profiles if p.stem.endswith("-2")]
    assert len(idle) == 2
    idled = {name for _file, _line, name in pstats.Stats(str(idle[0])).stats}  # type: ignore[attr-defined]
    assert "tick" in idled  # the idle mesh beat
    assert "sell_one" not in idled  # and nothing was sold


def test_several_sizes_in_one_report(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--json", "--nodes", "2,3", "--rate", "10", "--seconds", "0.5")
    args.catchup_receipts, args.idle_seconds, args.no_peer = 5, 0.5, True
    assert run_mesh_bench(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == [2, 3]
    assert set(report["by_nodes"]) == {"2", "3"}
    for size in ("2", "3"):
        run = report["by_nodes"][size]
        assert run["nodes"] == int(size)
        assert 1 <= run["links_per_node_max"] <= int(size) - 1
        for key in ("idle_cpu_ms_per_s_per_node", "cpu_ms_per_receipt_per_node", "saturated"):
            assert report["per_node"][key][size] == run[key]
    assert report["machine"]["cpu_count"] >= 1


def test_the_scale_table_names_every_size_and_says_whether_the_machine_saturated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _args("--nodes", "2,3", "--rate", "10", "--seconds", "0.5", "--idle-seconds", "0.5")
    args.catchup_receipts, args.no_peer = 5, True
    assert run_mesh_bench(args) == 0
    out = capsys.readouterr().out
    assert "2 ours" in out
    assert "3 ours" in out
    assert "idle_cpu_ms_per_s_per_node" in out
    assert "saturated" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--nodes", "1"],
        ["--nodes", "6,1"],
        ["--nodes", "6,6"],
        ["--nodes", "six"],
        ["--rate", "0"],
        ["--seconds", "-1"],
        ["--catchup-receipts", "0"],
        ["--idle-seconds", "0"],
    ],
)
def test_nonsense_parameters_are_refused(argv: list[str]) -> None:
    with pytest.raises(MeshposError):
        run_mesh_bench(_args(*argv))
