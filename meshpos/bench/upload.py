"""``meshpos bench upload``: how fast a relay empties a backlog into the console, and how fast a new relay
takes over when the old one dies.

* ``upload_s`` — a register holds a backlog of N real model sales made while the internet was down (its
  console link is a loopback forwarder the bench cuts and restores); clock from the restore until the console
  has materialised all N receipts into its tables. ``console_receipts_per_s`` = N / upload_s. Run on SQLite
  and, when PostgreSQL binaries are installed (or ``--pg-url`` is given), on PostgreSQL.
* ``failover_s`` (the relay goes silent) and ``failover_closed_s`` (the relay's process dies) — two register
  processes with internet; the relay is stopped (SIGSTOP: its sockets stay open and say nothing, as a
  frozen or unplugged device's do) or killed (SIGKILL: the kernel closes its sockets at once), and a sale is
  made on the survivor at once; clock from the signal until that sale's receipt is at the console (the new
  relay is uploading). Each on a venue of its own. The relay dies once the survivor follows it (its
  status names it): a survivor that had only just started and never heard of the relay could not
  tell a dead relay from one it has not heard yet, and waits out the settle period.

The peer here is the same code on the other database: there is no comparable open-source relay to run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.bench.report import print_report
from meshpos.config import Config
from meshpos.console.db import open_console_db
from meshpos.console.runner import register_venues
from meshpos.console.server import ConsoleServer
from meshpos.harness.internet import InternetSwitch
from meshpos.harness.procs import Proc, node_argv
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.harness.wait import until
from meshpos.model import Replica, Venue
from meshpos.model.documents import CATALOG
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore


def progress(text: str) -> None:
    print(f"bench upload: {text}", file=sys.stderr, flush=True)


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--receipts", type=int, default=10_000, help="backlog size")
    parser.add_argument(
        "--pg-url", default="", help="PostgreSQL URL (default: a throwaway local cluster)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover run")
    parser.add_argument(
        "--heartbeat", type=float, default=1.0, help="heartbeat interval of the failover nodes"
    )


async def _backlog(config: Config, receipts: int) -> set[str]:
    """Real model sales written straight into the register's store (as if sold offline); returns
    the receipt ids."""
    replica = Replica()
    replica.apply(CATALOG, catalog_update())
    venue = Venue(replica, device=config.node_id, role="register")
    now = int(time.time() * 1000)
    venue.open_shift_now(CASHIER, 10_000, now)
    products = ["espresso", "croissant", "burger", "fries", "lemonade"]
    sold: set[str] = set()
    for i in range(receipts):
        order = venue.open_order(CASHIER, now + i)
        venue.add_line(CASHIER, order.id, products[i % len(products)], 1 + i % 3, now + i)
        paid = venue.pay(CASHIER, order.id, "card" if i % 2 else "cash", now + i)
        assert paid.receipt is not None
        sold.add(paid.receipt.id)
        if (i + 1) % 2000 == 0:
            progress(f"backlog {i + 1:,} / {receipts:,}")
    replica.take_updates()
    async with await SqliteStore.open(config.db_path) as store:
        await store.append(
            [(name, replica.doc(name).get_update()) for name in replica.names()],
            meta={"receipt_seq": str(venue.receipt_seq)},
        )
    return sold


async def _run_upload(db_url: str, receipts: int, label: str) -> dict[str, Any]:
    from meshpos.node_adapters import make_node

    with tempfile.TemporaryDirectory(prefix="meshpos-bench-upload-") as tmp:
        root = Path(tmp)
        authority = make_venue(root)
        db = await open_console_db(db_url if db_url else f"sqlite:///{root / 'console.db'}")
        try:
            await register_venues(db, [authority.directory])
            console = ConsoleServer(db, "127.0.0.1", 0)
            port = await console.start()
            internet = InternetSwitch("127.0.0.1", port)
            await internet.start()
            config = await make_device(
                authority,
                root,
                "R1",
                catalog=catalog_update(),
                console_url=f"ws://127.0.0.1:{internet.port}",
                console_token=authority.console_token,
            )
            progress(f"{label}: writing a backlog of {receipts:,} sales")
            sold = await _backlog(config, receipts)
            internet.cut()
            async with make_node(config, discovery=False) as node:
                await asyncio.sleep(2.5)  # past the election's settle time, as after a long outage
                progress(f"{label}: internet restored; uploading")
                start = time.perf_counter()
                internet.restore()
                shown = 0.0
                while True:
                    # a COUNT, not the rows: the poll must not slow down what it measures
                    count = (await db.totals(authority.venue_id))["receipts"]
                    if count >= receipts:
                        break
                    status = node.status()
                    if status.upload and time.perf_counter() - shown >= 0.5:
                        shown = time.perf_counter()
                        done, total = status.upload["done"], status.upload["total"]
                        progress(f"{label}: uploading {done:,} / {total:,}; at console {count:,}")
                    await asyncio.sleep(0.05)
                upload_s = time.perf_counter() - start
            held = [r["id"] for r in await db.records(authority.venue_id, "receipts")]
            alarms = await db.alarms(authority.venue_id)
            await internet.stop()
            await console.stop()
        finally:
            await db.close()
    return {
        "receipts": receipts,
        "upload_s": round(upload_s, 3),
        "console_receipts_per_s": round(receipts / upload_s, 1),
        "lost": len(sold - set(held)),
        "duplicated": len(held) - len(set(held)),
        "alarms": len(alarms),
    }


async def _run_failover(heartbeat: float, *, closed: bool) -> float:
    """Two register processes; SIGKILL the relay (``closed``) or SIGSTOP it (silent); the seconds until
    a sale on the survivor is at the console."""
    with tempfile.TemporaryDirectory(prefix="meshpos-bench-failover-") as tmp:
        root = Path(tmp)
        authority = make_venue(root)
        db = await open_console_db(f"sqlite:///{root / 'console.db'}")
        procs: dict[str, Proc] = {}
        try:
            await register_venues(db, [authority.directory])
            console = ConsoleServer(db, "127.0.0.1", 0, heartbeat_interval=heartbeat)
            port = await console.start()
            for name in ("R1", "R2"):
                config = await make_device(
                    authority,
                    root,
                    name,
                    catalog=catalog_update(),
                    console_url=f"ws://127.0.0.1:{port}",
                    console_token=authority.console_token,
                    heartbeat_interval=heartbeat,
                )
                argv = node_argv(root / f"{name}.toml")
                if name == "R2":
                    argv += ["--peer", f"R1@127.0.0.1:{procs['R1'].ready['port']}"]
                procs[name] = Proc(name, argv, root / f"{name}.log", config.data_dir / "api.token")
                await procs[name].start()  # started before the clock runs

            async def relay() -> str:
                for name, proc in procs.items():
                    s = await proc.client.acall("GET", "/status")
                    if s["is_relay"] and s["colour"] == "green":
                        return name
                return ""

            elected = ""

            async def elected_now() -> bool:
                nonlocal elected
                elected = await relay()
                return bool(elected)

            await until(elected_now, 30, "a relay to be elected", every=0.05)
            survivor = procs["R2" if elected == "R1" else "R1"].client

            async def survivor_knows() -> bool:
                return bool((await survivor.acall("GET", "/status"))["relay"] == elected)

            # a venue that agrees on its relay (the survivor may still be in its settle period)
            await until(survivor_knows, 30, f"the survivor to follow relay {elected}", every=0.05)
            await survivor.acall("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
            relay_process = procs[elected].process
            assert relay_process is not None
            progress(f"failover: {'killing' if closed else 'freezing'} relay {elected}")
            killed = time.perf_counter()
            relay_process.send_signal(signal.SIGKILL if closed else signal.SIGSTOP)
            order = await survivor.acall("POST", "/api/orders", {"user": CASHIER})
            line = {"user": CASHIER, "product_id": "espresso"}
            await survivor.acall("POST", f"/api/orders/{order['id']}/lines", line)
            payment = {"user": CASHIER, "method": "card"}
            paid = await survivor.acall("POST", f"/api/orders/{order['id']}/payments", payment)
            receipt = paid["receipt"]["id"]

            async def uploaded() -> bool:
                rows = await db.records(authority.venue_id, "receipts")
                return any(r["id"] == receipt for r in rows)

            await until(uploaded, 60, "the survivor to upload the sale", every=0.02)
            failover_s = time.perf_counter() - killed
            await procs[elected].kill()  # a frozen process takes no SIGTERM: SIGKILL it
            await console.stop()
        finally:
            await asyncio.gather(*(p.stop() for p in procs.values()), return_exceptions=True)
            await db.close()
    return round(failover_s, 3)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "receipts": args.receipts,
    }
    report["sqlite"] = await _run_upload("", args.receipts, "sqlite")
    if not args.no_postgres:
        if args.pg_url:
            report["postgresql"] = await _run_upload(args.pg_url, args.receipts, "postgresql")
        else:
            from meshpos.bench.pg import PostgresUnavailable, throwaway_postgres

            try:
                with throwaway_postgres(durable=True) as pg:
                    url = await asyncio.to_thread(pg.create_database)
                    report["postgresql"] = await _run_upload(url, args.receipts, "postgresql")
            except PostgresUnavailable as exc:
                report["postgresql"] = {"skipped": str(exc)}
    report["upload_s"] = report["sqlite"]["upload_s"]
    report["console_receipts_per_s"] = report["sqlite"]["console_receipts_per_s"]
    if not args.no_failover:
        report["failover_s"] = await _run_failover(args.heartbeat, closed=False)
        report["failover_closed_s"] = await _run_failover(args.heartbeat, closed=True)
        report["heartbeat_interval_s"] = args.heartbeat
    report["targets"] = {
        "upload_s_sqlite_max": 5.0,
        "failover_s_max": 3.0,
        "failover_closed_s_max": 1.0,
    }
    return report


def run_upload_bench(args: argparse.Namespace) -> int:
    report = asyncio.run(_main(args))
    print_report(report, args.json)
    return 0
