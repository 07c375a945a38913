"""``meshpos bench console``: what a console costs with many venues of history and a few live ones.

The fixture (``bench.console_fixture``): ``--venues`` venues in PostgreSQL, each with ``--days`` closed
days of ``--receipts-per-day`` sales (documents and report rows, bulk-written). Then, for 1 and for 2
real ``meshpos console`` processes on that database (TLS on 127.0.0.1):

* ``start_s`` — from spawning a console process to its ready line; ``rss_start_mb`` right after;
* ``idle_cpu_ms_per_s`` — its CPU over ``--seconds`` with no relay connected;
* ``--relays`` relays connect (lightweight in-process clients: the sync engine of a register, over the
  real websocket protocol and TLS; relays are spread over the processes), each uploads a backlog of
  ``--sales`` sales of today; ``receipts_per_s`` — the receipts of all of them divided by the time from
  the first upload until the console's report tables hold every one;
* ``rss_mb`` — each process after the upload (relays still connected);
  ``connected_idle_cpu_ms_per_s`` — its CPU over ``--seconds`` afterwards.

``receipts_per_s_ratio`` is 2 processes over 1, in one run; the two runs use different venues.

What limited an upload is measured, not guessed (``bench.console_cpu``): each console's, the relays'
(this process) and the PostgreSQL cluster's CPU share while uploading, the machine's busy share (other
sessions' work included), each console's CPU per receipt, the receipts per console-CPU-second
(``receipts_per_console_cpu_s``: the consoles' capacity, which a busy machine does not change) and
``limited_by``: the process that was saturated, else ``machine`` when every core was busy, else
``waiting`` (nothing saturated: round trips). A ratio below the target with ``limited_by`` other than
a console says the run measured the machine, not whether the console scales.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path
from typing import Any

import psycopg

from meshpos.bench.console_cpu import CpuMeter, cpu_s, limits, load_avg
from meshpos.bench.console_fixture import (
    Sales,
    closed_days,
    create_schema,
    load_venues,
    open_day_sales,
    progress,
    shared_catalog,
    venue_id,
    venue_token,
)
from meshpos.bench.console_relay import BenchRelay
from meshpos.bench.report import print_report, work_dir
from meshpos.errors import MeshposError
from meshpos.harness.procs import Proc
from meshpos.harness.tls import ConsoleTls, console_tls
from meshpos.localapi import LocalApi

TARGETS = {"rss_mb_max": 300.0, "start_s_max": 2.0, "receipts_per_s_ratio_min": 1.6}
IDLE_S = 600.0  # the consoles' --venue-idle-seconds: no venue unloads during a run


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--venues", type=int, default=1000, help="venues in the database")
    parser.add_argument("--days", type=int, default=30, help="closed days per venue")
    parser.add_argument("--receipts-per-day", type=int, default=20, help="sales per closed day")
    parser.add_argument("--relays", type=int, default=100, help="relays connected per run")
    parser.add_argument("--sales", type=int, default=30, help="sales each relay uploads")
    parser.add_argument("--seconds", type=float, default=5.0, help="each idle CPU window")
    parser.add_argument("--pg-url", default="", help="an empty PostgreSQL database (default: a "
                        "throwaway local cluster)")  # fmt: skip
    parser.add_argument("--dir", default=None, help="working directory (default: a temp dir)")


def _check(args: argparse.Namespace) -> None:
    for name in ("venues", "relays", "sales"):
        if getattr(args, name) < 1:
            raise MeshposError(f"--{name} must be at least 1")
    if args.days < 0 or args.receipts_per_day < 1 or args.seconds <= 0:
        raise MeshposError("--days >= 0, --receipts-per-day >= 1 and --seconds > 0, please")
    if 2 * args.relays > args.venues:
        raise MeshposError(
            f"--venues {args.venues} is too few for two runs of --relays {args.relays} "
            "(each run uploads to venues of its own)"
        )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise MeshposError(f"no VmRSS for process {pid}")


async def _cpu_ms_per_s(pids: list[int], seconds: float) -> list[float]:
    before = [cpu_s(p) for p in pids]
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    took = time.perf_counter() - start
    return [round((cpu_s(p) - b) * 1000 / took, 2) for p, b in zip(pids, before, strict=True)]


class Consoles:
    """``count`` real console processes on the database."""

    def __init__(self, root: Path, url: str, tls: ConsoleTls, count: int) -> None:
        self.root = root
        self.url = url
        self.tls = tls
        self.procs: list[Proc] = []
        self.count = count
        self.start_s: list[float] = []

    async def start(self) -> None:
        for n in range(self.count):
            home = self.root / f"console-{n}"
            home.mkdir(parents=True, exist_ok=True)
            token = home / "admin.token"
            argv = ["-m", "meshpos", "console", "--db", self.url, "--port", "0", "--api-port", "0"]
            argv += ["--token-file", str(token), "--venue-idle-seconds", str(IDLE_S)]
            argv += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
            proc = Proc(f"console-{n}", argv, home / "console.log", token)
            started = time.perf_counter()
            await proc.start(timeout=120)
            self.start_s.append(round(time.perf_counter() - started, 3))
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.procs if p.process is not None]

    def api(self, n: int) -> LocalApi:
        return LocalApi(self.procs[n].api, self.procs[n].token, cafile=self.tls.ca)

    def relay_url(self, n: int) -> str:
        return str(self.procs[n].ready["console"])

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs), return_exceptions=True)


def _count_receipts(url: str, venues: list[str], date: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM receipts WHERE venue_id = ANY(%s) AND business_date = %s",
            (venues, date),
        ).fetchone()
    return int(row[0]) if row else 0


async def _run(
    args: argparse.Namespace,
    url: str,
    root: Path,
    tls: ConsoleTls,
    catalog: bytes,
    sales: Sales,
    run: int,
) -> dict[str, Any]:
    count = run + 1
    label = f"{count} console process{'es' if count > 1 else ''}"
    first = run * args.relays
    venues = [venue_id(i) for i in range(first, first + args.relays)]
    consoles = Consoles(root / f"run-{count}", url, tls, count)
    relays: list[BenchRelay] = []
    try:
        progress(f"{label}: starting (load average {load_avg()})")
        await consoles.start()
        rss_start = [_rss_mb(p) for p in consoles.pids]
        progress(f"{label}: idle CPU over {args.seconds:g} s")
        idle_cpu = await _cpu_ms_per_s(consoles.pids, args.seconds)
        progress(f"{label}: connecting {args.relays} relays")
        for k, venue in enumerate(venues):
            relay = BenchRelay(venue, venue_token(first + k), catalog, tls.ca)
            await relay.connect(consoles.relay_url(k % count))
            relays.append(relay)
        for n in range(count):
            wanted = sum(1 for k in range(len(venues)) if k % count == n)

            async def loaded(n: int = n, wanted: int = wanted) -> bool:
                shown = await consoles.api(n).acall("GET", "/api/console")
                return len(shown["loaded"]) == wanted

            await _until(loaded, 120, f"{label}: every relay's venue loaded")
        await asyncio.gather(*(r.synced() for r in relays))
        total = len(relays) * len(sales.groups)
        load_before = load_avg()
        progress(f"{label}: uploading {total:,} receipts (load average {load_before})")
        meter = CpuMeter(consoles.pids, url)
        started = time.perf_counter()
        await asyncio.gather(*(r.upload(sales) for r in relays))

        async def all_reported() -> bool:
            held = await asyncio.to_thread(_count_receipts, url, venues, sales.date)
            return held >= total

        await _until(all_reported, 600, f"{label}: all {total:,} receipts in the reports")
        took = time.perf_counter() - started
        used = meter.read(took)
        per_console = [len(sales.groups) * sum(1 for k in range(len(venues)) if k % count == n)
                       for n in range(count)]  # fmt: skip
        limit = limits(used, per_console, total, took)
        progress(f"{label}: {total / took:.1f} receipts/s, limited by {limit['limited_by']} "
                 f"(load average {load_avg()})")  # fmt: skip
        rss = [_rss_mb(p) for p in consoles.pids]
        progress(f"{label}: connected idle CPU over {args.seconds:g} s")
        connected_cpu = await _cpu_ms_per_s(consoles.pids, args.seconds)
        loaded_counts = [len((await consoles.api(n).acall("GET", "/api/console"))["loaded"])
                         for n in range(count)]  # fmt: skip
        dropped = sum(r.dropped for r in relays)
    finally:
        await asyncio.gather(*(r.close() for r in relays), return_exceptions=True)
        await consoles.stop()
    return {
        "processes": count,
        "start_s": consoles.start_s,
        "rss_start_mb": rss_start,
        "idle_cpu_ms_per_s": idle_cpu,
        "relays": len(relays),
        "receipts": total,
        "upload_s": round(took, 3),
        "receipts_per_s": round(total / took, 1),
        # what each console process and the bench's relays (one process) used while uploading:
        # tells whether the consoles were the bottleneck (up to 1000 ms/s each)
        "upload_cpu_ms_per_s": used.consoles,
        "relays_cpu_ms_per_s": used.relays,
        "postgres_cpu_ms_per_s": used.postgres,  # the cluster serving the bench's database
        "machine_busy_ms_per_s": used.machine,  # every process of the machine, other work included
        "load_avg_before": load_before,
        **limit,
        "rss_mb": rss,
        "connected_idle_cpu_ms_per_s": connected_cpu,
        "loaded_venues": loaded_counts,
        # relay sessions that ended by an error (a silent console: its loop or database stalled)
        "relay_sessions_dropped": dropped,
    }


async def _until(check: Any, timeout: float, what: str) -> None:
    from meshpos.harness.wait import until

    await until(check, timeout, what, every=0.1)


async def _main(args: argparse.Namespace, url: str, root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    catalog = shared_catalog()
    progress(f"fixture: selling {args.days} days x {args.receipts_per_day} through the model")
    days = closed_days(catalog, args.days, args.receipts_per_day, now_ms)
    sales = open_day_sales(catalog, args.sales, now_ms, args.days * args.receipts_per_day)
    await create_schema(url)
    progress(f"fixture: writing {args.venues:,} venues")
    load_s = await asyncio.to_thread(load_venues, url, args.venues, catalog, days)
    tls = console_tls(root)
    fixture = {
        "venues": args.venues,
        "closed_days_per_venue": sum(1 for d in days if d.rows is not None),
        "receipts_per_day": args.receipts_per_day,
        "receipts": args.venues * args.days * args.receipts_per_day,
        "build_s": round(time.perf_counter() - started, 1),
        "load_s": round(load_s, 1),
    }
    progress(f"fixture ready in {fixture['build_s']} s")
    one = await _run(args, url, root, tls, catalog, sales, 0)
    two = await _run(args, url, root, tls, catalog, sales, 1)
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "fixture": fixture,
        "one_process": one,
        "two_processes": two,
        "rss_mb": max(one["rss_mb"] + two["rss_mb"]),
        "start_s": max(one["start_s"] + two["start_s"]),
        "idle_cpu_ms_per_s": max(one["idle_cpu_ms_per_s"] + two["idle_cpu_ms_per_s"]),
        "receipts_per_s": {"one": one["receipts_per_s"], "two": two["receipts_per_s"]},
        "receipts_per_s_ratio": round(two["receipts_per_s"] / one["receipts_per_s"], 2),
        "limited_by": {"one": one["limited_by"], "two": two["limited_by"]},
        # the consoles' capacity: receipts per second of console CPU, 2 processes over 1 (1.0 = the
        # second process costs nothing extra per receipt: two cores would give twice the receipts)
        "receipts_per_console_cpu_s": {
            "one": one["receipts_per_console_cpu_s"],
            "two": two["receipts_per_console_cpu_s"],
        },
        "console_capacity_ratio": round(
            two["receipts_per_console_cpu_s"] / max(one["receipts_per_console_cpu_s"], 1e-9), 2
        ),
        "targets": TARGETS,
    }
    report["targets_met"] = {
        "rss_mb_max": report["rss_mb"] <= TARGETS["rss_mb_max"],
        "start_s_max": report["start_s"] <= TARGETS["start_s_max"],
        "receipts_per_s_ratio_min": report["receipts_per_s_ratio"]
        >= TARGETS["receipts_per_s_ratio_min"],
    }
    return report


async def _with_database(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    if args.pg_url:
        return await _main(args, args.pg_url, root)
    from meshpos.bench.pg import PostgresUnavailable, throwaway_postgres

    try:
        with throwaway_postgres() as pg:
            url = await asyncio.to_thread(pg.create_database)
            return await _main(args, url, root)
    except PostgresUnavailable as exc:  # as bench upload: said, not failed (bench all goes on)
        progress(f"skipped: no PostgreSQL ({exc})")
        return {"skipped": f"bench console needs PostgreSQL: {exc}"}


def run_console_bench(args: argparse.Namespace) -> int:
    _check(args)
    with work_dir(args.dir, "meshpos-bench-console-") as root:
        report = asyncio.run(_with_database(args, root))
    print_report(report, args.json)
    return 0
