"""``meshpos bench mesh``: receipt propagation and catch-up across a mesh, ours against pycrdt-websocket.

Every register is a process of its own (``meshpos.bench.mesh_worker``), as the devices of a venue are:
ours, ``--nodes`` real nodes (``meshpos.node.Node``: SQLite, mTLS websockets on 127.0.0.1, linked with
``add_peer`` with every other, no mDNS, as discovery would tell it; the links are what the node's
topology makes of that); the peer, the
pycrdt-websocket server (``WebsocketServer``, one in-memory ``YRoom`` per document, no store) in a process
and one process per register holding a pycrdt ``Doc`` per document, each synced by a pycrdt ``Provider``
over a plain websocket (a star). This bench drives them over pipes and reads the figures back.

* Sales: ours are real model sales (open order, two lines, pay by card, each step committed); the peer's
  are one receipt-shaped transaction (``workload.add_receipt``). Offered open-loop: sale ``k`` starts at
  ``k / --rate`` seconds on register ``k mod nodes``, whatever the earlier ones are doing.
* Propagation: from the moment the sale's last step returned on the selling register (ours: the payment is
  committed to its SQLite file) until the receipt is in the ``receipts`` map of the ledger document on
  EVERY other register (a pycrdt ``Map.observe`` callback, run inside the transaction that applies the
  update). ``time.perf_counter`` is CLOCK_MONOTONIC, one clock for all processes. A receipt can be visible
  elsewhere before ``pay()`` resumes on the seller; that counts as 0 ms.
* Wire bytes: ours, every message a node hands to its links; the peer, what every channel sends (server
  and registers); framing and TLS not counted (``mesh_meter``).
* Catch-up: ours, the first node's process is stopped; the others sell ``--catchup-receipts`` receipts
  (closed loop, one cashier per register) and settle; a new process starts the node from its SQLite file:
  ``catchup_s`` runs from the call to ``Node.start()`` until its ledger holds every receipt
  (``catchup_cpu_ms``: that process's CPU meanwhile, all its threads). The peer's
  first register disconnects and reconnects with its documents still in memory (it has no store).
* CPU: ``cpu_ms_per_receipt`` is all the registers' processes together (the peer's server included);
  ``loop_cpu_ms_per_receipt`` their event-loop threads; ``loop_lag_*`` the worst register's 10 ms timer.
  Per device (``mesh_scale``): the idle mesh's CPU per second, a receipt's CPU net of idling, the most
  links a device held, and whether the machine was saturated; ``--nodes 6,20,50`` runs each size in
  turn into one report. ``--profile DIR`` writes each register's cProfile of its sales and of the idle
  mesh (CPU time), and the restarted register's of its catch-up (``catchup-<pid>-1.prof``). ``loop_per_register``: each register's sale phase, its cyclic collections by
  generation and their pauses, its taps' and commits' p50/p99, and with ``--loop-figures`` what held its
  event loop (``mesh_meter.SlowCallbacks``), each tap's phases (``tap_phase_*``, and where the slowest
  2 % of its sales spent theirs) and the writes handed to its links (``socket_writes``); the report
  then splits each receipt's propagation into its hops (``propagation_phase_*``; ``tail_probe``).
* Driving the processes and reading a phase's figures: ``mesh_drive``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_drive import (
    Worker,
    each,
    node_allocator,
    noon_offset,
    offer,
    progress,
    sell_backlog,
    spawned,
    warm_up,
)
from meshpos.bench.mesh_meter import LOOP_ENV, PROFILE_ENV
from meshpos.bench.mesh_scale import (
    SATURATED,
    load_average,
    measure_idle,
    node_counts,
    per_node,
    scale_report,
    scale_table,
)
from meshpos.errors import MeshposError
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.model.documents import DAY_FORMAT, STANDING_DOCUMENTS, kitchen_name, ledger_name

HOST = "127.0.0.1"  # the network rule: loopback only
TARGETS = {"propagation_p99_ms": 25.0, "catchup_s": 1.0}


# --- ours -------------------------------------------------------------------------------------------


async def _ours(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    count, rate, total = args.nodes, args.rate, max(1, round(args.rate * args.seconds))
    backlog = int(args.catchup_receipts)
    offset = str(noon_offset())
    progress(f"ours: enrolling {count} registers")
    authority = make_venue(folder)
    catalog = catalog_update()
    ids = [f"R{k + 1:02d}" for k in range(count)]
    for node_id in ids:
        await make_device(authority, folder, node_id, catalog=catalog)
    tomls = [str(folder / f"{node_id}.toml") for node_id in ids]
    spawns = [(node_id, ["ours", toml, offset]) for node_id, toml in zip(ids, tomls, strict=True)]
    async with spawned(spawns) as nodes:
        started = await each(nodes, "start")
        ports = [s["port"] for s in started]

        def peers_of(i: int) -> list[list[Any]]:
            return [[ids[j], HOST, ports[j]] for j in range(count) if j != i]

        await asyncio.gather(*(n.call("link", peers=peers_of(i)) for i, n in enumerate(nodes)))
        progress(f"ours: {count} node processes linked (each told of every other, mTLS on {HOST})")
        await each(nodes, "shift")
        await each(nodes, "watch", ledger=started[0]["ledger"])
        await warm_up(nodes)
        await each(nodes, "quiet", threshold=count)
        progress(f"ours: idle for {args.idle_seconds:g} s")
        idle = await measure_idle(nodes, args.idle_seconds)
        progress(f"ours: {total} sales offered at {rate:g}/s over {count} registers")
        result = await offer(nodes, total, rate, nodes)
        result.update(per_node(result, idle, count, total))

        # catch-up: the first node stops, the others sell the backlog, it starts again from its file
        progress(f"ours: {ids[0]} stopped; the other {count - 1} sell {backlog} receipts")
        expected = (await nodes[0].call("count"))["held"] + backlog
        drops = (await nodes[0].call("stop"))["protocol_errors"]
        await nodes[0].close()
        online = nodes[1:]
        begin = time.perf_counter()
        await sell_backlog(online, backlog)
        written = time.perf_counter() - begin
        await each(online, "holds", count=expected)
        settled = time.perf_counter() - begin - written
        await each(online, "quiet", threshold=count)
        progress(
            f"ours: {backlog} sold in {written:.1f} s (+{settled:.1f} s until the others agreed); "
            f"restarting {ids[0]} in a new process"
        )
        nodes[0] = await Worker.spawn(ids[0], "ours", tomls[0], offset)
        before = await each(nodes, "stats")
        start = await nodes[0].call("start", profile=True)  # (profiled only with --profile)
        loaded = (await nodes[0].call("count"))["held"]
        ports[0] = start["port"]
        await nodes[0].call("link", peers=peers_of(0), wait=False)
        await asyncio.gather(
            *(n.call("link", peers=[[ids[0], HOST, ports[0]]], wait=False) for n in online)
        )
        finished = (await nodes[0].call("holds", count=expected))["at"]
        after = await each(nodes, "stats")
        sent = sum(a["bytes"] - b["bytes"] for a, b in zip(after, before, strict=True))
        result.update(
            {
                "catchup_receipts": backlog,
                "catchup_s": round(finished - start["begin"], 3),
                "catchup_start_s": round(start["started"] - start["begin"], 3),
                "catchup_loaded_receipts": loaded,
                "catchup_wire_mb": round(sent / 1e6, 2),
                # the restarted node's process, from its start until it holds every receipt
                "catchup_cpu_ms": round((after[0]["cpu_s"] - before[0]["cpu_s"]) * 1000, 1),
                "catchup_backlog_write_s": round(written, 2),
                "catchup_backlog_settle_s": round(settled, 2),
            }
        )
        stops = await each(nodes, "stop")
        result["link_drops"] = drops + sum(s["protocol_errors"] for s in stops)
    return result


# --- the peer: pycrdt-websocket ---------------------------------------------------------------------


def _check_peer_installed() -> None:
    try:
        import pycrdt.websocket  # noqa: F401
    except ImportError as exc:
        raise MeshposError(
            "the peer, pycrdt-websocket, is not installed: pip install -e '.[bench]'"
        ) from exc


async def _peer(args: argparse.Namespace) -> dict[str, Any]:
    _check_peer_installed()
    count, rate, total = args.nodes, args.rate, max(1, round(args.rate * args.seconds))
    backlog = int(args.catchup_receipts)
    date = time.strftime(DAY_FORMAT, time.gmtime(time.time() + noon_offset()))
    ledger = ledger_name(date)
    names = [*STANDING_DOCUMENTS, ledger, kitchen_name(date)]  # what our nodes hold
    spawns = [("peer server", ["server"])] + [
        (f"peer R{k + 1:02d}", ["peer", f"R{k + 1:02d}"]) for k in range(count)
    ]
    async with spawned(spawns) as workers:
        server, registers = workers[0], workers[1:]
        port = server.first["port"]
        catalog = catalog_update().hex()
        for k, register in enumerate(registers):  # the console's catalog, pushed by the first one
            await register.call(
                "connect",
                port=port,
                documents=names,
                ledger=ledger,
                catalog=catalog if k == 0 else "",
            )
        progress(f"peer: {count} register processes connected to one pycrdt-websocket server")
        await each(registers, "watch", ledger=ledger)
        await warm_up(registers)
        await each(registers, "quiet", threshold=count)
        idle = await measure_idle(workers, args.idle_seconds, nodes=count, sellers=registers)
        progress(f"peer: {total} receipts offered at {rate:g}/s over {count} registers")
        phase = await offer(registers, total, rate, workers)
        phase.update(per_node(phase, idle, count, total))
        result = {f"peer_{k}": v for k, v in phase.items()}

        progress(f"peer: register 1 disconnected; the others write {backlog} receipts")
        expected = (await registers[0].call("count"))["held"] + backlog
        await registers[0].call("disconnect")
        online = registers[1:]
        await sell_backlog(online, backlog)
        await each(online, "holds", count=expected)
        before = await each(workers, "stats")
        begin = (await registers[0].call("connect", port=port))["begin"]
        finished = (await registers[0].call("holds", count=expected))["at"]
        after = await each(workers, "stats")
        result["peer_catchup_s"] = round(finished - begin, 3)
        result["peer_catchup_wire_mb"] = round(
            sum(a["bytes"] - b["bytes"] for a, b in zip(after, before, strict=True)) / 1e6, 2
        )
    return result


# --- the run ----------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pycrdt": version("pycrdt"),
        "pycrdt_websocket": version("pycrdt-websocket"),
        "websockets": version("websockets"),
    }


async def _bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    load = load_average()
    ours = await _ours(args, folder)
    peer = await _peer(args) if not args.no_peer else {}
    total = max(1, round(args.rate * args.seconds))
    result: dict[str, Any] = {
        "nodes": args.nodes,
        "receipts": total,
        "rate": args.rate,
        "seconds": args.seconds,
        "load_average_at_start": load,
        "allocator": node_allocator(),
        **ours,
        **peer,
    }
    if peer:
        p99, peer_p99 = result["propagation_p99_ms"], result["peer_propagation_p99_ms"]
        result["ratio_vs_peer"] = float(f"{peer_p99 / p99:.3g}") if p99 > 0 else None
    result["targets"] = dict(TARGETS)
    result["targets_met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    result["method"] = {
        "ours": f"{args.nodes} meshpos nodes, each told of every other (the links are what the "
        "node's topology makes of that), mTLS websockets, SQLite WAL synchronous=FULL; sale = "
        "open order + 2 lines + card payment",
        "peer": "pycrdt-websocket WebsocketServer (in-memory YRooms, no store), one room per "
        "document, a pycrdt Provider per register and document over plain websockets; "
        "sale = one receipt-shaped transaction",
        "propagation": "pay() returned (ours: committed) -> receipt in the ledger's receipts map "
        "on every other replica (Map.observe)",
        "wire_bytes": "sync payload bytes handed to the transport, all message kinds, no "
        "websocket framing or TLS",
        "allocator": "our workers' PYTHONMALLOC: as meshpos node runs (malloc on glibc) unless "
        "the bench's environment sets one",
        "per_node": "idle: CPU of every process over --idle-seconds with nothing sold, per node "
        "and second; per receipt: the sale phase's CPU minus that idle rate and minus the "
        "bench's 10 ms loop-lag probe (probe_cpu_ms_per_s_per_node: idle again with the probe on, "
        "in every register as while it sells), per receipt and node (the peer's server counted "
        "over its registers); saturated: /proc/stat says "
        f"{SATURATED:.0%} of all CPUs were busy (any process) or the rate was not achieved",
    }
    result["machine"] = _machine()
    return result


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("", "meshpos", "pycrdt-websocket"),
        ("propagation p50 ms", result["propagation_p50_ms"], result.get("peer_propagation_p50_ms")),
        ("propagation p99 ms", result["propagation_p99_ms"], result.get("peer_propagation_p99_ms")),
        (
            "wire bytes/receipt",
            result["wire_bytes_per_receipt"],
            result.get("peer_wire_bytes_per_receipt"),
        ),
        ("catch-up s", result["catchup_s"], result.get("peer_catchup_s")),
        (
            "idle CPU ms/s/node",
            result["idle_cpu_ms_per_s_per_node"],
            result.get("peer_idle_cpu_ms_per_s_per_node"),
        ),
        (
            "CPU ms/receipt/node",
            result["cpu_ms_per_receipt_per_node"],
            result.get("peer_cpu_ms_per_receipt_per_node"),
        ),
        ("links/node max", result["links_per_node_max"], result.get("peer_links_per_node_max")),
        ("machine busy", result["machine_busy"], result.get("peer_machine_busy")),
    ]
    lines = [f"{a:<22}{b!s:>12}{c!s:>18}" for a, b, c in rows]
    lines.append(
        f"{result['nodes']} nodes, {result['receipts']} receipts at {result['rate']}/s; "
        f"peer p99 / ours p99: {result.get('ratio_vs_peer')}x"
        + ("; the machine was saturated" if result["saturated"] else "")
    )
    return "\n".join(lines)


def add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--nodes",
        default="6",
        help="registers in the mesh (default 6); several sizes, such as 6,20,50, are run one "
        "after the other into one report",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=5.0,
        help="how long the idle mesh is measured before the sales (default 5: one anti-entropy "
        "round)",
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="offered receipts/s, all registers together"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the propagation run")
    parser.add_argument(
        "--catchup-receipts",
        type=int,
        default=5000,
        help="receipts written while one node is stopped (default 5000)",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the pycrdt-websocket comparison"
    )
    parser.add_argument(
        "--dir", default=None, help="directory for the nodes' files (default: a temp dir)"
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="cProfile every register process while it sells and while the mesh idles; one .prof "
        "file each phase in DIR, <pid>-<n>.prof (n: 1 warm-up, 2 idle, 3 sales; read with python -m "
        "pstats; the figures of such a run are slowed by the profiler)",
    )
    parser.add_argument(
        "--loop-figures",
        action="store_true",
        help="time every callback and loop round of each register while it sells (loop_per_register: "
        "callbacks over 10 ms wall and their CPU, over 2 ms CPU by name, each round's CPU; ~3 us a "
        "round, which the CPU figures then include); and each tap's phases and each receipt's "
        "propagation hops (tail_probe)",
    )


def run_mesh_bench(args: argparse.Namespace) -> int:
    counts = node_counts(args.nodes)
    if args.rate <= 0 or args.seconds <= 0 or args.catchup_receipts < 1 or args.idle_seconds <= 0:
        raise MeshposError(
            "--rate, --seconds, --catchup-receipts and --idle-seconds must be positive"
        )
    if args.profile is not None:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(args.profile).resolve())  # the workers inherit it
    if args.loop_figures:
        os.environ[LOOP_ENV] = "1"  # the workers inherit it
    else:
        os.environ.pop(LOOP_ENV, None)
    if args.dir is not None:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise MeshposError(f"{folder} is not empty")
        runs = asyncio.run(_sizes(args, counts, folder))
    else:
        with tempfile.TemporaryDirectory(prefix="meshpos-bench-mesh-") as tmp:
            runs = asyncio.run(_sizes(args, counts, Path(tmp)))
    if len(runs) == 1:
        print(json.dumps(runs[0], indent=2) if args.json else _table(runs[0]))
    else:
        print(json.dumps(scale_report(runs), indent=2) if args.json else scale_table(runs))
    return 0


async def _sizes(args: argparse.Namespace, counts: list[int], folder: Path) -> list[dict[str, Any]]:
    """Each mesh size in turn, each in a folder of its own (one size: the folder itself)."""
    runs = []
    for count in counts:
        here = folder if len(counts) == 1 else folder / f"{count}-nodes"
        here.mkdir(exist_ok=True)
        if len(counts) > 1:
            progress(f"{count} nodes")
        try:
            runs.append(await _bench(argparse.Namespace(**{**vars(args), "nodes": count}), here))
        except MeshposError as exc:
            if len(counts) == 1:
                raise
            progress(f"{count} nodes failed: {exc}")  # the other sizes still count
            runs.append({"nodes": count, "error": str(exc), "machine": _machine()})
    return runs
