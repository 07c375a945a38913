"""``meshpos bench mesh``: receipt propagation and catch-up across a mesh, ours against pycrdt-websocket.

Every register is a process of its own (``meshpos.bench.mesh_worker``), as the devices of a venue are:
ours, ``--nodes`` real nodes (``meshpos.node.Node``: SQLite, mTLS websockets on 127.0.0.1, linked with
``add_peer``, no mDNS), every pair linked (a full mesh, as discovery makes it); the peer, the
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
  ``catchup_s`` runs from the call to ``Node.start()`` until its ledger holds every receipt. The peer's
  first register disconnects and reconnects with its documents still in memory (it has no store).
* CPU: ``cpu_ms_per_receipt`` is all the registers' processes together (the peer's server included);
  ``loop_cpu_ms_per_receipt`` their event-loop threads; ``loop_lag_*`` the worst register's 10 ms timer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_meter import PROFILE_ENV, percentile
from meshpos.errors import MeshposError
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.model.documents import DAY_FORMAT, STANDING_DOCUMENTS, kitchen_name, ledger_name

HOST = "127.0.0.1"  # the network rule: loopback only
TARGETS = {"propagation_p99_ms": 25.0, "catchup_s": 1.0}
WAIT_S = 120.0  # give up waiting for a register's reply after this long (plus its own timeouts)


def _progress(message: str) -> None:
    print(f"bench mesh: {message}", file=sys.stderr, flush=True)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _noon_offset() -> float:
    """Seconds that move wall time to today's 12:00 UTC, so a run never straddles the 04:00 cutoff."""
    now = time.time()
    return now - now % 86_400 + 12 * 3600 - now


# --- the register processes -------------------------------------------------------------------------


class _Worker:
    """One register (or the peer's server) in its own process: a command in, a reply out."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, first: dict[str, Any]
    ) -> None:
        self.name = name
        self.process = process
        self.first = first

    @classmethod
    async def spawn(cls, name: str, *argv: str) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meshpos.bench.mesh_worker",
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,
        )
        worker = cls(name, process, {})
        try:
            worker.first = await worker._read()
        except BaseException:
            await worker.close()
            raise
        return worker

    async def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), WAIT_S + 30)
        except TimeoutError:
            raise MeshposError(f"{self.name} did not answer within {WAIT_S + 30:g} s") from None
        if not line:
            code = await self.process.wait()
            raise MeshposError(f"{self.name}'s process ended (exit code {code}); see its log above")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise MeshposError(f"{self.name}: {reply['error']}")
        return reply

    async def call(self, do: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **fields}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._read()

    async def close(self) -> None:
        """Ask it to stop (its node closes the store and tells its peers); kill it if it hangs."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.call("stop"), 10)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 5)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def _each(workers: list[_Worker], do: str, **fields: Any) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(w.call(do, **fields) for w in workers)))


@contextlib.asynccontextmanager
async def _workers(spawns: list[tuple[str, list[str]]]) -> AsyncIterator[list[_Worker]]:
    started: list[_Worker] = []
    try:
        for name, argv in spawns:
            started.append(await _Worker.spawn(name, *argv))
        yield started
    finally:
        await asyncio.gather(*(w.close() for w in started))


# --- one phase, either side -------------------------------------------------------------------------


@dataclass
class _Sale:
    receipt_id: str
    origin: int
    paid: float


def _plans(count: int, total: int, rate: float) -> list[list[list[float]]]:
    """Sale ``k`` at ``begin + k / rate`` on register ``k mod count``, starting 0.2 s from now."""
    begin = time.perf_counter() + 0.2
    plans: list[list[list[float]]] = [[] for _ in range(count)]
    for k in range(total):
        plans[k % count].append([k, begin + k / rate])
    return plans


async def _offer(
    registers: list[_Worker], total: int, rate: float, meters: list[_Worker]
) -> dict[str, Any]:
    """Offer ``total`` sales open-loop at ``rate``; every figure of the propagation phase."""
    count = len(registers)
    held = [r["held"] for r in await _each(registers, "count")]
    before = await _each(meters, "stats")
    replies = await asyncio.gather(
        *(
            w.call("sell", plan=plan)
            for w, plan in zip(registers, _plans(count, total, rate), strict=True)
        )
    )
    await asyncio.gather(
        *(w.call("holds", count=h + total) for w, h in zip(registers, held, strict=True))
    )
    drain = max(r["waited_s"] for r in await _each(registers, "quiet", threshold=count))
    after = await _each(meters, "stats")
    seen = [r["seen"] for r in await _each(registers, "seen")]
    sales = [
        _Sale(rid, origin, paid)
        for origin, reply in enumerate(replies)
        for rid, _started, paid in reply["sales"]
    ]
    delays = [
        max(0.0, max(seen[j][s.receipt_id] for j in range(count) if j != s.origin) - s.paid)
        for s in sales
    ]
    starts = sorted(started for reply in replies for _rid, started, _paid in reply["sales"])
    durations = [paid - started for reply in replies for _rid, started, paid in reply["sales"]]
    sent = sum(a["bytes"] - b["bytes"] for a, b in zip(after, before, strict=True))
    messages = sum(a["messages"] - b["messages"] for a, b in zip(after, before, strict=True))
    kinds: Counter[str] = Counter()
    for a, b in zip(after, before, strict=True):
        kinds.update(Counter(a["by_kind"]) - Counter(b["by_kind"]))
    return {
        "loop_lag_p99_ms": round(max(r["lag_p99_ms"] for r in replies), 3),
        "loop_lag_max_ms": round(max(r["lag_max_ms"] for r in replies), 3),
        "drain_s": round(drain, 1),
        "achieved_rate": round((total - 1) / (starts[-1] - starts[0]), 1) if total > 1 else 0.0,
        "propagation_p50_ms": _ms(percentile(delays, 0.50)),
        "propagation_p99_ms": _ms(percentile(delays, 0.99)),
        "propagation_max_ms": _ms(max(delays)),
        "sale_p50_ms": _ms(percentile(durations, 0.50)),
        "sale_p99_ms": _ms(percentile(durations, 0.99)),
        "wire_bytes_per_receipt": round(sent / total, 1),
        "wire_messages_per_receipt": round(messages / total, 2),
        "wire_bytes_per_receipt_by_kind": {
            kind: round(n / total, 1) for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])
        },
        "cpu_ms_per_receipt": round(
            sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before, strict=True)) * 1000 / total,
            2,
        ),
        "loop_cpu_ms_per_receipt": round(
            sum(a["loop_cpu_s"] - b["loop_cpu_s"] for a, b in zip(after, before, strict=True))
            * 1000
            / total,
            2,
        ),
    }


async def _warm_up(registers: list[_Worker]) -> None:
    """One sale per register, not measured: every process has run each code path once."""
    now = time.perf_counter()
    held = [r["held"] for r in await _each(registers, "count")]
    await asyncio.gather(*(w.call("sell", plan=[[i, now]]) for i, w in enumerate(registers)))
    count = len(registers)
    await asyncio.gather(
        *(w.call("holds", count=h + count) for w, h in zip(registers, held, strict=True))
    )


async def _sell_backlog(online: list[_Worker], backlog: int) -> None:
    """``backlog`` sales split evenly over ``online``, one cashier each, sale after sale."""
    shares = [backlog // len(online) + (k < backlog % len(online)) for k in range(len(online))]
    starts = [sum(shares[:k]) for k in range(len(online))]
    await asyncio.gather(
        *(
            w.call("backlog", count=n, first=f)
            for w, n, f in zip(online, shares, starts, strict=True)
        )
    )


# --- ours -------------------------------------------------------------------------------------------


async def _ours(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    count, rate, total = args.nodes, args.rate, max(1, round(args.rate * args.seconds))
    backlog = int(args.catchup_receipts)
    offset = str(_noon_offset())
    _progress(f"ours: enrolling {count} registers")
    authority = make_venue(folder)
    catalog = catalog_update()
    ids = [f"R{k + 1:02d}" for k in range(count)]
    for node_id in ids:
        await make_device(authority, folder, node_id, catalog=catalog)
    tomls = [str(folder / f"{node_id}.toml") for node_id in ids]
    spawns = [(node_id, ["ours", toml, offset]) for node_id, toml in zip(ids, tomls, strict=True)]
    async with _workers(spawns) as nodes:
        started = await _each(nodes, "start")
        ports = [s["port"] for s in started]

        def peers_of(i: int) -> list[list[Any]]:
            return [[ids[j], HOST, ports[j]] for j in range(count) if j != i]

        await asyncio.gather(*(n.call("link", peers=peers_of(i)) for i, n in enumerate(nodes)))
        _progress(f"ours: {count} node processes linked (full mesh, mTLS on {HOST})")
        await _each(nodes, "shift")
        await _each(nodes, "watch", ledger=started[0]["ledger"])
        await _warm_up(nodes)
        _progress(f"ours: {total} sales offered at {rate:g}/s over {count} registers")
        result = await _offer(nodes, total, rate, nodes)

        # catch-up: the first node stops, the others sell the backlog, it starts again from its file
        _progress(f"ours: {ids[0]} stopped; the other {count - 1} sell {backlog} receipts")
        expected = (await nodes[0].call("count"))["held"] + backlog
        drops = (await nodes[0].call("stop"))["protocol_errors"]
        await nodes[0].close()
        online = nodes[1:]
        begin = time.perf_counter()
        await _sell_backlog(online, backlog)
        written = time.perf_counter() - begin
        await _each(online, "holds", count=expected)
        settled = time.perf_counter() - begin - written
        await _each(online, "quiet", threshold=count)
        _progress(
            f"ours: {backlog} sold in {written:.1f} s (+{settled:.1f} s until the others agreed); "
            f"restarting {ids[0]} in a new process"
        )
        nodes[0] = await _Worker.spawn(ids[0], "ours", tomls[0], offset)
        before = await _each(nodes, "stats")
        start = await nodes[0].call("start")
        loaded = (await nodes[0].call("count"))["held"]
        ports[0] = start["port"]
        await nodes[0].call("link", peers=peers_of(0), wait=False)
        await asyncio.gather(
            *(n.call("link", peers=[[ids[0], HOST, ports[0]]], wait=False) for n in online)
        )
        finished = (await nodes[0].call("holds", count=expected))["at"]
        after = await _each(nodes, "stats")
        sent = sum(a["bytes"] - b["bytes"] for a, b in zip(after, before, strict=True))
        result.update(
            {
                "catchup_receipts": backlog,
                "catchup_s": round(finished - start["begin"], 3),
                "catchup_start_s": round(start["started"] - start["begin"], 3),
                "catchup_loaded_receipts": loaded,
                "catchup_wire_mb": round(sent / 1e6, 2),
                "catchup_backlog_write_s": round(written, 2),
                "catchup_backlog_settle_s": round(settled, 2),
            }
        )
        stops = await _each(nodes, "stop")
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
    date = time.strftime(DAY_FORMAT, time.gmtime(time.time() + _noon_offset()))
    ledger = ledger_name(date)
    names = [*STANDING_DOCUMENTS, ledger, kitchen_name(date)]  # what our nodes hold
    spawns = [("peer server", ["server"])] + [
        (f"peer R{k + 1:02d}", ["peer", f"R{k + 1:02d}"]) for k in range(count)
    ]
    async with _workers(spawns) as workers:
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
        _progress(f"peer: {count} register processes connected to one pycrdt-websocket server")
        await _each(registers, "watch", ledger=ledger)
        await _warm_up(registers)
        _progress(f"peer: {total} receipts offered at {rate:g}/s over {count} registers")
        result = {
            f"peer_{k}": v for k, v in (await _offer(registers, total, rate, workers)).items()
        }

        _progress(f"peer: register 1 disconnected; the others write {backlog} receipts")
        expected = (await registers[0].call("count"))["held"] + backlog
        await registers[0].call("disconnect")
        online = registers[1:]
        await _sell_backlog(online, backlog)
        await _each(online, "holds", count=expected)
        before = await _each(workers, "stats")
        begin = (await registers[0].call("connect", port=port))["begin"]
        finished = (await registers[0].call("holds", count=expected))["at"]
        after = await _each(workers, "stats")
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
    ours = await _ours(args, folder)
    peer = await _peer(args) if not args.no_peer else {}
    total = max(1, round(args.rate * args.seconds))
    result: dict[str, Any] = {
        "nodes": args.nodes,
        "receipts": total,
        "rate": args.rate,
        "seconds": args.seconds,
        **ours,
        **peer,
    }
    if peer:
        p99, peer_p99 = result["propagation_p99_ms"], result["peer_propagation_p99_ms"]
        result["ratio_vs_peer"] = float(f"{peer_p99 / p99:.3g}") if p99 > 0 else None
    result["targets"] = dict(TARGETS)
    result["targets_met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    result["method"] = {
        "ours": f"{args.nodes} meshpos nodes, full mesh of mTLS websockets, SQLite WAL "
        "synchronous=FULL; sale = open order + 2 lines + card payment",
        "peer": "pycrdt-websocket WebsocketServer (in-memory YRooms, no store), one room per "
        "document, a pycrdt Provider per register and document over plain websockets; "
        "sale = one receipt-shaped transaction",
        "propagation": "pay() returned (ours: committed) -> receipt in the ledger's receipts map "
        "on every other replica (Map.observe)",
        "wire_bytes": "sync payload bytes handed to the transport, all message kinds, no "
        "websocket framing or TLS",
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
    ]
    lines = [f"{a:<22}{b!s:>12}{c!s:>18}" for a, b, c in rows]
    lines.append(
        f"{result['nodes']} nodes, {result['receipts']} receipts at {result['rate']}/s; "
        f"peer p99 / ours p99: {result.get('ratio_vs_peer')}x"
    )
    return "\n".join(lines)


def add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nodes", type=int, default=6, help="registers in the mesh (default 6)")
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
        help="cProfile every register process while it sells; one .prof file each in DIR "
        "(read with python -m pstats; the figures of such a run are slowed by the profiler)",
    )


def run_mesh_bench(args: argparse.Namespace) -> int:
    if args.nodes < 2 or args.rate <= 0 or args.seconds <= 0 or args.catchup_receipts < 1:
        raise MeshposError(
            "--nodes must be at least 2; --rate, --seconds, --catchup-receipts positive"
        )
    if args.profile is not None:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(args.profile).resolve())  # the workers inherit it
    if args.dir is not None:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise MeshposError(f"{folder} is not empty")
        result = asyncio.run(_bench(args, folder))
    else:
        with tempfile.TemporaryDirectory(prefix="meshpos-bench-mesh-") as tmp:
            result = asyncio.run(_bench(args, Path(tmp)))
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0
