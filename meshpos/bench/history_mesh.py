"""``meshpos bench history-mesh``: month three in a mesh, and a node's memory over a busy day there.

Issue 10 and 15 asked that a register's costs depend on its live day only; ``bench history`` measures one
register alone. Here the register with ``--days`` closed days (:mod:`history_fixture`, R1) joins a mesh
of five fresh registers (R2-R6, real ``meshpos node`` processes on loopback addresses, mDNS on them),
after the five have sold a busy stretch, and a sixth fresh register (R7, no history) joins the same mesh
the same way first, as the control. From outside (``/proc`` and the API):

* ``busy``: the five sell ``--busy-s`` seconds at ``--rate`` receipts/s together; each node's resident
  memory is sampled, and its growth per receipt of the day is compared with ``bench history``'s
  ``open_day_kb_per_receipt`` (what the day's data costs): more than that grows with something else;
* for each joiner: ``start_s`` (spawn to ``/health``), ``catchup_s`` (spawn until it lists every receipt
  the five sold), ``rss_mb`` after, ``idle_cpu_ms_per_s`` over ``--idle-s`` with the mesh idle; and
  the five's own idle CPU meanwhile. Month three must not cost the joiner more than the fresh one.

Per-process CPU times carry over to a loaded machine; the load average is printed with the figures.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from meshpos.bench.history_fixture import FixtureMaker, progress
from meshpos.bench.history_node import cpu_ms, rss_kb
from meshpos.bench.report import work_dir
from meshpos.config import write_config_file
from meshpos.harness.procs import Proc, node_argv
from meshpos.harness.receipts import todays_receipts
from meshpos.harness.venue import catalog_update, loopback_prefix, make_device
from meshpos.harness.wait import TimedOut, until
from meshpos.localapi import LocalApi
from meshpos.model.sample import CASHIER
from meshpos.trust.authority import load_venue

MESH = ("R2", "R3", "R4", "R5", "R6")
WAIT_S = 300.0  # a guard: a join that takes longer is reported as not caught up


def add_history_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--days", type=int, default=90, help="closed days of the joiner's history")
    parser.add_argument("--receipts-per-day", type=int, default=1000, help="sales per closed day")
    parser.add_argument("--busy-s", type=float, default=120.0, help="length of the busy stretch")
    parser.add_argument("--rate", type=float, default=10.0, help="receipts/s, the five together")
    parser.add_argument("--idle-s", type=float, default=10.0, help="length of each idle window")
    parser.add_argument("--dir", default=None, help="where the fixtures go (default: a temp dir)")


def _node_config(path: Path, node_id: str, data_dir: Path, host: str) -> None:
    write_config_file(
        path,
        {
            "node_id": node_id,
            "role": "register",
            "data_dir": str(data_dir),
            "listen_host": host,
            "api_host": host,
            "log_level": "WARNING",
        },
    )


def _proc(name: str, config: Path, data_dir: Path) -> Proc:
    return Proc(name, node_argv(config), data_dir.parent / f"{name}.log", data_dir / "api.token")


def _pid(proc: Proc) -> int:
    assert proc.process is not None
    return proc.process.pid


async def _healthy(proc: Proc) -> float:
    """Start ``proc``; seconds from the spawn until ``GET /health`` answers."""
    began = time.perf_counter()
    await proc.start(WAIT_S)

    async def healthy() -> bool:
        return (await proc.client.arequest("GET", "/health", timeout=WAIT_S)).ok

    await until(healthy, WAIT_S, f"{proc.name} to answer /health", every=0.01)
    return time.perf_counter() - began


async def _receipts(proc: Proc) -> set[str]:
    listed = await todays_receipts(proc)
    return {r["id"] for r in listed or []}


class Sellers:
    """The five sell, one thread each, ``rate`` receipts/s together; counts what they sold."""

    def __init__(self, procs: dict[str, Proc], rate: float) -> None:
        self.procs = procs
        self.interval = len(procs) / rate
        self.sold: dict[str, int] = dict.fromkeys(procs, 0)
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._sell, args=(name,), daemon=True) for name in procs
        ]

    def _sell(self, name: str) -> None:
        api: LocalApi = self.procs[name].client
        rng = random.Random(name)
        next_at = time.monotonic() + rng.random() * self.interval
        while not self._stop.is_set():
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            next_at += self.interval
            if self._stop.is_set():
                break
            try:
                order = api.call("POST", "/api/orders", {"user": CASHIER}, timeout=60)
                api.call(
                    "POST",
                    f"/api/orders/{order['id']}/lines",
                    {"user": CASHIER, "product_id": rng.choice(("espresso", "croissant"))},
                    timeout=60,
                )
                api.call(
                    "POST",
                    f"/api/orders/{order['id']}/payments",
                    {"user": CASHIER, "method": "card"},
                    timeout=60,
                )
                self.sold[name] += 1
            except Exception:  # counted: the figures say how many sales failed
                self.failed += 1

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)


async def _idle_cpu(procs: dict[str, Proc], seconds: float) -> dict[str, float]:
    before = {name: cpu_ms(_pid(p)) for name, p in procs.items()}
    await asyncio.sleep(seconds)
    return {name: round((cpu_ms(_pid(p)) - before[name]) / seconds, 2) for name, p in procs.items()}


async def _join(
    name: str, proc: Proc, mesh: dict[str, Proc], sold: set[str], idle_s: float
) -> dict[str, Any]:
    progress(f"{name} joins the mesh")
    start_s = await _healthy(proc)
    cpu_before = cpu_ms(_pid(proc))
    began = time.perf_counter() - start_s
    caught_up: float | None = None

    async def holds_all() -> bool:
        return sold <= await _receipts(proc)

    with contextlib.suppress(TimedOut):
        await until(holds_all, WAIT_S, f"{name} to hold every receipt", every=0.1)
        caught_up = time.perf_counter() - began
    progress(f"{name}: up in {start_s:.2f} s, caught up in {caught_up} s; idle")
    await asyncio.sleep(idle_s)  # the join's own work (relinking, anti-entropy rounds) settles
    idle = await _idle_cpu({name: proc, **mesh}, idle_s)
    return {
        "start_s": round(start_s, 3),
        "catchup_s": None if caught_up is None else round(caught_up, 3),
        "catchup_cpu_ms": round(cpu_ms(_pid(proc)) - cpu_before, 1),
        "rss_mb": round(rss_kb(_pid(proc)) / 1024, 1),
        "idle_cpu_ms_per_s": idle.pop(name),
        "mesh_idle_cpu_ms_per_s": idle,
    }


async def _main(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    maker = FixtureMaker(root, args.receipts_per_day, int(time.time() * 1000))
    history = await maker.build("history", args.days, 1)
    home = history.config_file.parent
    authority = load_venue(home / "venue")
    prefix = loopback_prefix(random.Random())
    _node_config(history.config_file, "R1", history.config.data_dir, f"{prefix}.1")
    procs: dict[str, Proc] = {}
    for i, name in enumerate((*MESH, "R7"), start=2):
        config = await make_device(
            authority, home, name, host=f"{prefix}.{i}", catalog=catalog_update()
        )
        procs[name] = _proc(name, home / f"{name}.toml", config.data_dir)
    r1 = _proc("R1", history.config_file, history.config.data_dir)
    r7 = procs.pop("R7")
    mesh = procs
    report: dict[str, Any] = {"fixture": {"days": args.days, "db_mb": history.db_mb}}
    try:
        for proc in mesh.values():
            await _healthy(proc)

        def linked() -> bool:
            return all(sum(p.client.status()["peers"].values()) >= 2 for p in mesh.values())

        await until(linked, WAIT_S, "the five registers to link", every=0.2)
        for proc in mesh.values():
            proc.client.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        progress("the five registers are linked; selling")
        rss_before = {name: rss_kb(_pid(p)) for name, p in mesh.items()}
        sellers = Sellers(mesh, args.rate)
        samples: list[dict[str, float]] = []
        began = time.perf_counter()
        sellers.start()
        while time.perf_counter() - began < args.busy_s:
            await asyncio.sleep(min(10.0, args.busy_s))
            samples.append({name: round(rss_kb(_pid(p)) / 1024, 1) for name, p in mesh.items()})
            progress(f"busy: {sum(sellers.sold.values())} sold; RSS MB {samples[-1]}")
        sellers.stop()
        sold_n = sum(sellers.sold.values())
        sold = set().union(*[await _receipts(p) for p in mesh.values()])
        rss_after = {name: rss_kb(_pid(p)) for name, p in mesh.items()}
        report["busy"] = {
            "seconds": args.busy_s,
            "receipts": sold_n,
            "failed_sales": sellers.failed,
            "rss_start_mb": {n: round(kb / 1024, 1) for n, kb in rss_before.items()},
            "rss_end_mb": {n: round(kb / 1024, 1) for n, kb in rss_after.items()},
            "rss_kb_per_receipt": {
                n: round((rss_after[n] - rss_before[n]) / max(1, sold_n), 2) for n in mesh
            },
            "rss_samples_mb": samples,
        }
        report["fresh_joiner"] = await _join("R7", r7, mesh, sold, args.idle_s)
        await r7.stop(60)
        report["history_joiner"] = await _join("R1", r1, mesh, sold, args.idle_s)
    finally:
        for proc in (r1, r7, *mesh.values()):
            if proc.alive:
                await proc.stop(60)
    h, f = report["history_joiner"], report["fresh_joiner"]
    report["ratios_history_vs_fresh"] = {
        key: round(h[key] / f[key], 2) if h[key] and f[key] else None
        for key in ("start_s", "catchup_s", "catchup_cpu_ms", "rss_mb", "idle_cpu_ms_per_s")
    }
    report["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    return report


def run_history_mesh_bench(args: argparse.Namespace) -> int:
    with work_dir(args.dir, "meshpos-history-mesh-") as root:
        report = asyncio.run(_main(args, root))
    print(json.dumps(report, indent=2) if args.json else json.dumps(report))
    return 0
