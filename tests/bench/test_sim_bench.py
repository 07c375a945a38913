"""``meshpos bench sim`` with a small venue: every figure is printed, the links stay bounded, every update
arrives, both failovers happen, and bad sizes are refused with a clear error. No speed is asserted."""

from __future__ import annotations

import argparse
import json

import pytest

from meshpos.bench.sim import MIN_NODES, add_sim_arguments, run_sim_bench
from meshpos.errors import InvalidInput
from meshpos.sync._topology import DEGREE


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_small_run_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sim_bench(_args("--json", "--nodes", "24", "--updates", "3", "--seed", "4")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == 24
    for phase in (report, report["churn"]):
        assert phase["links_per_node_max"] <= DEGREE
        assert phase["diameter_hops"] >= 1
    for phase in (report["steady"], report["churn"]):
        assert phase["nodes"] == 24
        assert phase["convergence_s_max"] is not None  # every update reached every node
        assert phase["messages_per_update"] > 0
        assert 0 < phase["heartbeat_bytes_mean"] <= phase["heartbeat_bytes_max"]
    assert report["churn"]["left"] == report["churn"]["joined"] > 0
    # news beyond the links reached every node, and the seller counted its sale on every device
    assert report["news_join_s"] is not None
    assert report["news_change_s"] is not None
    assert report["durability_all_s"] is not None
    assert report["failover_closed_s"] is not None
    assert report["failover_silent_s"] is not None


@pytest.mark.parametrize(
    "argv",
    [("--nodes", str(MIN_NODES - 1)), ("--updates", "0"), ("--churn", "1.5")],
)
def test_bad_sizes_are_refused_with_what_was_wrong(argv: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput, match="bench sim: --nodes"):
        run_sim_bench(_args(*argv))
