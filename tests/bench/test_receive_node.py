"""``python -m meshpos.bench.receive_node`` with a few sales: three real register processes, two selling
(SQLite, mTLS links on 127.0.0.1), the receiver's CPU per received sale by thread, and with ``--counts`` what it
did per sale counted: every sale took at least one job on the store's thread, its statements, a TLS
read, a loop iteration; the loop's CPU is told by callback (else the breakdown measured nothing)."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import receive_node


def test_receive_node_prints_its_figures_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sales", "4", "--rate", "20", "--sellers", "2", "--counts", "--json"]
    assert receive_node.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sales"] == 4
    assert report["sellers"] == 2
    for phase in ("cpu", "counted"):
        figures = report[phase]
        assert figures["receiver_cpu_ms_per_sale"] > 0
        assert figures["seller_cpu_ms_per_sale"] > 0
        assert figures["receiver_commits_per_sale"] > 0
        assert set(figures["receiver_threads_cpu_ms_per_sale"]) >= {"loop", "sqlite"}
    counts = report["counted"]["receiver_counts_per_sale"]
    assert counts["store_thread_jobs"] >= 0.25  # (received rounds group: at least one per 4)
    assert counts["sql_statements"] >= 3 * counts["store_thread_jobs"]  # BEGIN, INSERT, COMMIT
    assert counts["sslobject_read"] >= 1
    assert counts["loop_iterations"] >= 1
    assert counts["node_commits"] > 0
    callbacks = report["counted"]["receiver_callbacks_cpu_ms_per_sale"]
    # (issue 18, latency: a mesh link's messages are handled in its transport's read callback, where
    # its task took them a loop round later: ``task Channel._read`` before)
    assert "_SelectorSocketTransport._read_ready" in callbacks
