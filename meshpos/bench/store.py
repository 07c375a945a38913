"""``meshpos bench store``: durable receipt commits, ours (SqliteStore) against pycrdt-store's SQLiteYStore.

Both stores get the same workload in the same run: receipt-shaped updates from ``workload``, written by the
same number of concurrent cashiers, each waiting until its write is committed. A commit's latency is the
time ``append``/``write`` takes; throughput counts the whole run (making receipts included) over wall time.
The latency run offers a fixed rate open-loop (one task per receipt, on schedule), so a slow commit cannot
hide the receipts queued behind it. Afterwards every database is reopened and its receipts counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.bench.workload import UpdateLog, add_receipt, receipt_ids
from meshpos.errors import MeshposError
from meshpos.model.documents import ledger_name
from meshpos.store import SqliteStore

DOCUMENT = ledger_name("2026-11-25")
CASHIERS = 8

Commit = Callable[[str, list[bytes]], Awaitable[None]]
"""Commit one receipt's updates for a register; returns once durable."""


def _progress(message: str) -> None:
    print(f"bench store: {message}", file=sys.stderr, flush=True)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class _Registers:
    """One Doc per register, as separate devices would have; yields each new receipt's updates."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[pycrdt.Doc[Any], UpdateLog]] = {}
        self._count: dict[str, int] = {}

    def receipt(self, register: str) -> list[bytes]:
        if register not in self._docs:
            doc: pycrdt.Doc[Any] = pycrdt.Doc()
            self._docs[register] = (doc, UpdateLog(doc))
        doc, log = self._docs[register]
        self._count[register] = self._count.get(register, 0) + 1
        add_receipt(doc, self._count[register], register)
        return log.take()


async def _throughput(commit: Commit, receipts: int, cashiers: int) -> dict[str, float]:
    registers = _Registers()
    latencies: list[float] = []

    async def cashier(k: int) -> None:
        register = f"R{k + 1}"
        for _ in range(receipts // cashiers + (k < receipts % cashiers)):
            updates = registers.receipt(register)
            start = time.perf_counter()
            await commit(register, updates)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(cashier(k) for k in range(cashiers)))
    elapsed = time.perf_counter() - start
    return {
        "commits_per_s": round(len(latencies) / elapsed, 1),
        "commit_p50_ms": _ms(_percentile(latencies, 0.50)),
        "commit_p99_ms": _ms(_percentile(latencies, 0.99)),
    }


async def _latency(commit: Commit, rate: int, seconds: float) -> dict[str, float]:
    registers = _Registers()
    latencies: list[float] = []
    total = int(rate * seconds)

    async def one(k: int) -> None:
        register = f"R{k % CASHIERS + 1}"
        updates = registers.receipt(register)
        start = time.perf_counter()
        await commit(register, updates)
        latencies.append(time.perf_counter() - start)

    tasks = []
    begin = time.perf_counter()
    for k in range(total):
        delay = begin + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    return {
        "achieved_per_s": round(total / elapsed, 1),
        "p50_ms": _ms(_percentile(latencies, 0.50)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "max_ms": _ms(max(latencies)),
    }


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


# --- ours -------------------------------------------------------------------------------------


async def _ours(path: Path, run: Callable[[Commit], Awaitable[dict[str, float]]]) -> dict[str, Any]:
    async with await SqliteStore.open(path) as store:

        async def commit(register: str, updates: list[bytes]) -> None:
            seq = str(store.stats.appends)
            await store.append([(DOCUMENT, u) for u in updates], {f"seq/{register}": seq})

        result: dict[str, Any] = await run(commit)
        result["transactions"] = store.stats.transactions
    async with await SqliteStore.open(path) as store:
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        doc.apply_update(await store.load(DOCUMENT) or b"\x00\x00")
        result["receipts_stored"] = len(receipt_ids(doc))
    result["db_bytes"] = _db_bytes(path)
    return result


# --- the peer: pycrdt-store ---------------------------------------------------------------------


def _peer_class(path: Path) -> Any:
    try:
        from pycrdt.store import SQLiteYStore
    except ImportError as exc:
        raise MeshposError(
            "the peer, pycrdt-store, is not installed: pip install -e '.[bench]'"
        ) from exc
    return type("BenchYStore", (SQLiteYStore,), {"db_path": str(path)})


async def _peer(path: Path, run: Callable[[Commit], Awaitable[dict[str, float]]]) -> dict[str, Any]:
    store_class = _peer_class(path)
    async with store_class(DOCUMENT) as ystore:  # one store per room (document), as the server does

        async def commit(register: str, updates: list[bytes]) -> None:
            for update in updates:
                await ystore.write(update)

        result: dict[str, Any] = await run(commit)
    async with store_class(DOCUMENT) as ystore:
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        await ystore.apply_updates(doc)
        result["receipts_stored"] = len(receipt_ids(doc))
    result["db_bytes"] = _db_bytes(path)
    return result


async def _bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    receipts, rate, seconds = int(args.receipts), int(args.rate), float(args.seconds)

    def throughput(commit: Commit) -> Awaitable[dict[str, float]]:
        return _throughput(commit, receipts, CASHIERS)

    def latency(commit: Commit) -> Awaitable[dict[str, float]]:
        return _latency(commit, rate, seconds)

    _progress(f"ours: {receipts} receipts from {CASHIERS} concurrent cashiers")
    ours = await _ours(folder / "ours-throughput.db", throughput)
    _progress(f"peer (pycrdt-store SQLiteYStore): the same {receipts} receipts")
    peer = await _peer(folder / "peer-throughput.db", throughput)
    _progress(f"ours: {rate} receipts/s offered for {seconds:g} s")
    ours_lat = await _ours(folder / "ours-latency.db", latency)
    _progress(f"peer: {rate} receipts/s offered for {seconds:g} s")
    peer_lat = await _peer(folder / "peer-latency.db", latency)

    return {
        "receipts": receipts,
        "cashiers": CASHIERS,
        "commits_per_s": ours["commits_per_s"],
        "commit_p50_ms": ours["commit_p50_ms"],
        "commit_p99_ms": ours["commit_p99_ms"],
        "transactions": ours["transactions"],
        "db_bytes_per_receipt": round(ours["db_bytes"] / receipts, 1),
        "receipts_stored": ours["receipts_stored"],
        "peer_commits_per_s": peer["commits_per_s"],
        "peer_commit_p50_ms": peer["commit_p50_ms"],
        "peer_commit_p99_ms": peer["commit_p99_ms"],
        "peer_db_bytes_per_receipt": round(peer["db_bytes"] / receipts, 1),
        "peer_receipts_stored": peer["receipts_stored"],
        "ratio_vs_peer": round(ours["commits_per_s"] / peer["commits_per_s"], 2),
        "latency_rate_offered": rate,
        "latency_seconds": seconds,
        "latency_achieved_per_s": ours_lat["achieved_per_s"],
        "latency_p50_ms": ours_lat["p50_ms"],
        "latency_p99_ms": ours_lat["p99_ms"],
        "latency_max_ms": ours_lat["max_ms"],
        "latency_receipts_stored": ours_lat["receipts_stored"],
        "peer_latency_achieved_per_s": peer_lat["achieved_per_s"],
        "peer_latency_p50_ms": peer_lat["p50_ms"],
        "peer_latency_p99_ms": peer_lat["p99_ms"],
        "peer_latency_max_ms": peer_lat["max_ms"],
        "peer_latency_receipts_stored": peer_lat["receipts_stored"],
        "durability": {
            "ours": "SQLite WAL, synchronous=FULL, group commit",
            "peer": "SQLite rollback journal (delete), synchronous=FULL (default), one commit per update",
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "pycrdt": metadata.version("pycrdt"),
            "pycrdt_store": metadata.version("pycrdt-store"),
        },
    }


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("", "meshpos", "pycrdt-store"),
        ("durable receipts/s", result["commits_per_s"], result["peer_commits_per_s"]),
        ("commit p50 ms", result["commit_p50_ms"], result["peer_commit_p50_ms"]),
        ("commit p99 ms", result["commit_p99_ms"], result["peer_commit_p99_ms"]),
        ("db bytes/receipt", result["db_bytes_per_receipt"], result["peer_db_bytes_per_receipt"]),
        (
            f"p99 ms @ {result['latency_rate_offered']}/s",
            result["latency_p99_ms"],
            result["peer_latency_p99_ms"],
        ),
    ]
    lines = [f"{a:<22}{b!s:>12}{c!s:>14}" for a, b, c in rows]
    lines.append(
        f"ours / peer throughput: {result['ratio_vs_peer']}x "
        f"({result['receipts']} receipts, {result['cashiers']} cashiers)"
    )
    return "\n".join(lines)


def run_store_bench(args: argparse.Namespace) -> int:
    if args.receipts < CASHIERS or args.rate <= 0 or args.seconds <= 0:
        raise MeshposError(f"--receipts must be at least {CASHIERS}; --rate and --seconds positive")
    if args.dir is not None:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        existing = [p.name for p in folder.glob("*-throughput.db*")] + [
            p.name for p in folder.glob("*-latency.db*")
        ]
        if existing:
            raise MeshposError(f"{folder} already holds benchmark databases: {sorted(existing)}")
        result = asyncio.run(_bench(args, folder))
    else:
        with tempfile.TemporaryDirectory(prefix="meshpos-bench-") as tmp:
            result = asyncio.run(_bench(args, Path(tmp)))
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0
