"""``python -m meshpos.bench.idle_node`` with a short window: two real register processes (SQLite,
mTLS links on 127.0.0.1), nothing sold. Each beats on each of its links, so the probe must see
heartbeats on every link, a ticker round, CPU on the event loop's thread, and with ``--counts`` the loop's
turns and its CPU by callback (else the breakdown measured nothing)."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import idle_node
from meshpos.errors import MeshposError


def test_idle_node_prints_its_figures_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--nodes", "2", "--seconds", "1.5", "--settle", "0", "--counts", "--json"]
    assert idle_node.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == 2
    for window in ("idle", "counted"):
        figures = report[window]
        assert figures["links_per_node"] == 1
        assert figures["cpu_ms_per_s"] > 0
        assert len(figures["cpu_ms_per_s_by_node"]) == 2
        assert "loop" in figures["threads_cpu_ms_per_s"]
        assert figures["sent_per_s"]["heartbeat"] > 0
        assert figures["sent_bytes_per_s"]["heartbeat"] > 0
        assert 0.3 <= figures["heartbeats_per_link_per_s"] <= 3
        assert figures["node_counters_per_s"]["node_ticker_rounds"] > 0
    counts = report["counted"]["counts_per_s"]
    assert counts["loop_iterations"] > 0
    assert counts["sslobject_read"] > 0
    # (issue 18, latency: a heartbeat is handled in its link's transport's read callback, where the
    # link's task took it a loop round later: ``task Channel._read`` before)
    assert "_SelectorSocketTransport._read_ready" in report["counted"]["callbacks_cpu_ms_per_s"]


def test_idle_node_refuses_a_mesh_of_one() -> None:
    with pytest.raises(MeshposError, match="--nodes must be at least 2"):
        idle_node.main(["--nodes", "1"])
