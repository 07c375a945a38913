"""``python -m meshpos.bench.sale_cost``: one real register (SQLite file, node, no links) sells the
bench's sale and prints its CPU per sale by thread and by step, what a sale does counted, and a line's
cost by the order's size. The counts are the probe's point: each is checked to have counted something
(else the breakdown measured nothing), and a sale of the same shape counts the same on a day that
already holds more receipts (cost follows the live order and day, not history). No CPU is asserted."""

from __future__ import annotations

import json

import pytest

from meshpos.bench import sale_cost


def test_sale_cost_prints_cpu_and_counts_flat_in_the_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--json", "--sales", "5", "--warm", "10", "--days", "0,25", "--lines", "2,70"]
    assert sale_cost.main(["--line-taps", "2", "--calls", *argv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["python_calls_per_sale"] > 0  # (measured, not bounded: docs/benchmarks.md)
    # (the selling task's own calls: fewer than the whole loop's, which the ticker's rounds add to)
    assert 0 < report["python_calls_per_sale_selling_task"] < report["python_calls_per_sale"]
    days = report["by_day_receipts"]
    assert set(days) == {"0", "25"}
    for figures in days.values():
        assert figures["cpu_ms_per_sale"] > 0
        assert set(figures["threads_cpu_ms_per_sale"]) >= {"loop", "sqlite"}
        assert list(figures["step_loop_cpu_ms"]) == list(sale_cost.STEPS)
        assert 0 < figures["sale_wall_p50_ms"] <= figures["sale_wall_p99_ms"]
        # (the twenty-second session: what a slow sale waits for; Linux counts, 0 elsewhere)
        assert set(figures["loop_switches_per_sale"]) == {"voluntary", "involuntary"}
        assert figures["commits_per_sale"] >= 1  # each step durable (taps may group at most)
        counts = figures["counts_per_sale"]
        assert counts["updates"] == 5  # open, two lines, the receipt number and the payment
        assert counts["update_bytes"] > 0
        assert counts["orders_parsed"] == 1  # after the opening: a line grows the kept parse
        assert counts["lines_parsed"] == 2  # each line once
        assert counts["sql_statements"] >= 3 * counts["store_thread_jobs"] > 0
        assert counts["pycrdt_transactions"] > 0
        assert "task run" in figures["loop_cpu_ms_per_sale_by_callback"]
    small, big = days["0"]["counts_per_sale"], days["25"]["counts_per_sale"]
    for key in ("updates", "orders_parsed", "lines_parsed", "sql_statements", "store_thread_jobs"):
        assert small[key] == big[key], key
    # (a status look of the ticker's may fall in either window: its few reads, not the day's)
    assert abs(small["pycrdt_transactions"] - big["pycrdt_transactions"]) <= 2
    taps = report["line_tap_by_order_lines"]
    assert set(taps) == {"2", "70"}
    for tap in taps.values():
        assert tap["loop_cpu_ms"] > 0
        assert tap["lines_parsed"] == 1  # the new line alone, also past 64 lines (issue 18, sale)
