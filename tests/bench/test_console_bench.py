"""``meshpos bench console`` with tiny sizes: every figure is printed with a sane type, each process
loaded only its relays' venues, and the fixture really holds what it says (closed days and report rows
for every venue, readable by the console). No speed is asserted."""

from __future__ import annotations

import argparse
import asyncio
import json

import psycopg
import pytest

from meshpos.bench.console import TARGETS, add_console_arguments, run_console_bench
from meshpos.bench.console_cpu import postgres_cluster
from meshpos.bench.console_fixture import venue_id
from meshpos.console import open_console_db
from meshpos.errors import MeshposError

from ..console.pgserver import PgServer, postgres_server

__all__ = ["postgres_server"]  # the session fixture, found here by pytest

VENUES, DAYS, PER_DAY, RELAYS, SALES = 6, 2, 3, 2, 4
RUN_FIGURES = {
    "start_s": list,
    "rss_start_mb": list,
    "idle_cpu_ms_per_s": list,
    "relays": int,
    "receipts": int,
    "upload_s": float,
    "receipts_per_s": float,
    "upload_cpu_ms_per_s": list,
    "relays_cpu_ms_per_s": float,
    "postgres_cpu_ms_per_s": float,
    "rss_mb": list,
    "connected_idle_cpu_ms_per_s": list,
    "loaded_venues": list,
    "processes": int,
    "relay_sessions_dropped": int,
    "machine_busy_ms_per_s": float,
    "load_avg_before": list,
    "limited_by": str,
    "cpu_share": dict,
    "console_cpu_ms_per_receipt": list,
    "relays_cpu_ms_per_receipt": float,
    "postgres_cpu_ms_per_receipt": float,
    "receipts_per_console_cpu_s": float,
}
LIMITS = {"console-0", "console-1", "relays", "postgres", "machine", "waiting"}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_console_arguments(parser)
    return parser.parse_args(list(argv))


async def _stored(
    url: str,
) -> tuple[list[str], dict[str, tuple[bytes, bytes]], int, int, list[str]]:
    db = await open_console_db(url)
    try:
        first = venue_id(0)
        closed = await db.closed_documents(first)
        receipts = await db.records(first, "receipts")
        other = await db.totals(venue_id(VENUES - 1))
        alarms = [alarm.kind for alarm in await db.alarms(first)]
        return await db.venues(), closed, len(receipts), other["receipts"], alarms
    finally:
        await db.close()


@pytest.mark.slow
def test_a_tiny_run_prints_every_figure_and_its_fixture_holds_the_days(
    postgres_server: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_server.create_database()
    try:
        args = _args(
            "--json",
            *("--venues", str(VENUES), "--days", str(DAYS), "--receipts-per-day", str(PER_DAY)),
            *("--relays", str(RELAYS), "--sales", str(SALES), "--seconds", "0.3"),
            *("--pg-url", url),
        )
        assert run_console_bench(args) == 0
        captured = capsys.readouterr()
        report = json.loads(captured.out)
        assert "bench console: fixture" in captured.err

        for run, processes in (("one_process", 1), ("two_processes", 2)):
            figures = report[run]
            assert set(figures) == set(RUN_FIGURES)
            for key, kind in RUN_FIGURES.items():
                value = figures[key]
                assert isinstance(value, kind) or (kind is float and isinstance(value, int))
            assert figures["processes"] == processes
            assert figures["receipts"] == RELAYS * SALES
            assert figures["receipts_per_s"] > 0
            for per_process in (
                "start_s",
                "rss_start_mb",
                "rss_mb",
                "idle_cpu_ms_per_s",
                "upload_cpu_ms_per_s",
                "console_cpu_ms_per_receipt",
            ):
                assert len(figures[per_process]) == processes
            assert len(figures["cpu_share"]["consoles"]) == processes
            assert figures["limited_by"] in LIMITS
            assert all(mb > 10 for mb in figures["rss_mb"])  # a Python process, not a misread
            # each process holds only the venues of the relays connected to it
            assert sum(figures["loaded_venues"]) == RELAYS
        assert report["receipts_per_s_ratio"] == round(
            report["two_processes"]["receipts_per_s"] / report["one_process"]["receipts_per_s"], 2
        )
        assert report["limited_by"] == {
            "one": report["one_process"]["limited_by"],
            "two": report["two_processes"]["limited_by"],
        }
        assert report["targets"] == TARGETS
        assert set(report["targets_met"]) == set(TARGETS)
        assert report["fixture"]["venues"] == VENUES

        venues, closed, receipts, other, alarms = asyncio.run(_stored(url))
        # today's receipts continue the closed days' numbers, as a register's would: no alarms
        assert alarms == []
        assert len(venues) == VENUES
        assert sum(name.startswith("ledger/") for name in closed) == DAYS
        # the first venue's closed days and its relay's sales of today; the last one's days only
        assert receipts == DAYS * PER_DAY + SALES
        assert other == DAYS * PER_DAY
    finally:
        postgres_server.drop_database(url)


def test_the_postgres_cpu_counted_is_the_cluster_serving_the_database(
    postgres_server: PgServer,
) -> None:
    url = postgres_server.create_database()
    try:
        with psycopg.connect(url) as conn:
            cluster = postgres_cluster(url)
            assert conn.info.backend_pid in cluster
            # its postmaster too, and nothing but PostgreSQL processes
            assert len(cluster) > 1
        assert postgres_cluster(url + "_not_there") == set()
    finally:
        postgres_server.drop_database(url)


def test_sizes_that_cannot_run_are_refused_before_anything_is_built() -> None:
    with pytest.raises(MeshposError, match="too few for two runs"):
        run_console_bench(_args("--venues", "3", "--relays", "2"))
    with pytest.raises(MeshposError, match="--relays must be at least 1"):
        run_console_bench(_args("--relays", "0"))
