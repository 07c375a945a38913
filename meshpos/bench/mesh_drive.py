"""How ``meshpos bench mesh`` drives its register processes (``mesh_worker``): spawning them, one JSON
command per line, offering sales open-loop and reading every figure of a propagation phase back.

Shared by both sides (ours and the peer) and by every mesh size of a ``--nodes 6,20,50`` run
(``mesh_scale``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpos.allocator import object_allocator_env
from meshpos.bench.mesh_meter import percentile
from meshpos.bench.owner import owner_env
from meshpos.bench.tail_probe import propagation_phases
from meshpos.errors import MeshposError

WAIT_S = 120.0  # give up waiting for a register's reply after this long (plus its own timeouts)
_PROC_STAT = Path("/proc/stat")


def progress(message: str) -> None:
    print(f"bench mesh: {message}", file=sys.stderr, flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def node_allocator() -> str:
    """The object allocator our workers run on (the bench's report names it)."""
    return object_allocator_env(os.environ).get("PYTHONMALLOC", "pymalloc")


def noon_offset() -> float:
    """Seconds that move wall time to today's 12:00 UTC, so a run never straddles the 04:00 cutoff."""
    now = time.time()
    return now - now % 86_400 + 12 * 3600 - now


# --- the register processes -------------------------------------------------------------------------


class Worker:
    """One register (or the peer's server) in its own process: a command in, a reply out."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, first: dict[str, Any]
    ) -> None:
        self.name = name
        self.process = process
        self.first = first

    @classmethod
    async def spawn(cls, name: str, *argv: str) -> Worker:
        """Start one worker. Ours runs on the object allocator ``meshpos node`` runs on
        (:func:`~meshpos.allocator.object_allocator_env`: glibc's ``malloc``, ~10-15 % more CPU
        per sale than pymalloc), so the bench measures what a real node spends; ``PYTHONMALLOC``
        set in the bench's environment is kept (``PYTHONMALLOC=pymalloc`` measures the other). The
        peer runs as a stock Python program runs."""
        ours = bool(argv) and argv[0] == "ours"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meshpos.bench.mesh_worker",
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,
            env=owner_env(object_allocator_env(os.environ) if ours else None),
        )
        worker = cls(name, process, {})
        try:
            worker.first = await worker._read()
        except BaseException:
            await worker.close()
            raise
        return worker

    async def _read(self, wait: float = WAIT_S + 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(wait):
                line = await self.process.stdout.readline()
        except TimeoutError:
            raise MeshposError(f"{self.name} did not answer within {wait:g} s") from None
        if not line:
            code = await self.process.wait()
            raise MeshposError(f"{self.name}'s process ended (exit code {code}); see its log above")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise MeshposError(f"{self.name}: {reply['error']}")
        return reply

    async def call(self, do: str, *, timeout: float = WAIT_S + 30, **fields: Any) -> dict[str, Any]:
        """Send one command; its reply, waited for at most ``timeout`` seconds."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **fields}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._read(timeout)

    async def close(self) -> None:
        """Ask it to stop (its node closes the store and tells its peers); kill it if it hangs."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self.call("stop")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def each(workers: list[Worker], do: str, **fields: Any) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(w.call(do, **fields) for w in workers)))


@contextlib.asynccontextmanager
async def spawned(spawns: list[tuple[str, list[str]]]) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for name, argv in spawns:
            started.append(await Worker.spawn(name, *argv))
        yield started
    finally:
        await asyncio.gather(*(w.close() for w in started))


# --- one phase, either side -------------------------------------------------------------------------


@dataclass
class _Sale:
    receipt_id: str
    origin: int
    paid: float


def plans(count: int, total: int, rate: float) -> list[list[list[float]]]:
    """Sale ``k`` at ``begin + k / rate`` on register ``k mod count``, starting 0.2 s from now."""
    begin = time.perf_counter() + 0.2
    plans: list[list[list[float]]] = [[] for _ in range(count)]
    for k in range(total):
        plans[k % count].append([k, begin + k / rate])
    return plans


def busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine so far, from ``/proc/stat``; None where there is
    none (not Linux)."""
    try:
        fields = [int(v) for v in _PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def busy_fraction(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


#: what a register's reply to ``sell`` says of its event loop besides the sales (``mesh_meter``)
LOOP_FIGURES = ("gc_", "slow_", "heavy_", "round", "tap_", "commit_", "socket_", "receive_")


async def offer(
    registers: list[Worker], total: int, rate: float, meters: list[Worker]
) -> dict[str, Any]:
    """Offer ``total`` sales open-loop at ``rate``; every figure of the propagation phase."""
    count = len(registers)
    held = [r["held"] for r in await each(registers, "count")]
    before = await each(meters, "stats")
    began, busy_before = time.perf_counter(), busy_jiffies()
    replies = await asyncio.gather(
        *(
            w.call("sell", plan=plan)
            for w, plan in zip(registers, plans(count, total, rate), strict=True)
        )
    )
    await asyncio.gather(
        *(w.call("holds", count=h + total) for w, h in zip(registers, held, strict=True))
    )
    drain = max(r["waited_s"] for r in await each(registers, "quiet", threshold=count))
    after = await each(meters, "stats")
    phase_s, busy = time.perf_counter() - began, busy_fraction(busy_before, busy_jiffies())
    seen_replies = await each(registers, "seen")
    seen = [r["seen"] for r in seen_replies]
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
    commits = (
        sum(a["commits"] - b["commits"] for a, b in zip(after, before, strict=True))
        if all("commits" in a for a in after + before)
        else None
    )
    fsyncs = (
        sum(a["fsyncs"] - b["fsyncs"] for a, b in zip(after, before, strict=True))
        if all("fsyncs" in a for a in after + before)
        else None
    )
    kinds: Counter[str] = Counter()
    for a, b in zip(after, before, strict=True):
        kinds.update(Counter(a["by_kind"]) - Counter(b["by_kind"]))
    return {
        "loop_lag_p99_ms": round(max(r["lag_p99_ms"] for r in replies), 3),
        "loop_lag_max_ms": round(max(r["lag_max_ms"] for r in replies), 3),
        "drain_s": round(drain, 1),
        # each register's sale phase: collections, long callbacks, taps and commits (mesh_meter)
        "loop_per_register": [
            {k: v for k, v in r.items() if k.startswith(LOOP_FIGURES)} for r in replies
        ],
        "offered_rate": rate,
        "achieved_rate": round((total - 1) / (starts[-1] - starts[0]), 1) if total > 1 else rate,
        "propagation_p50_ms": ms(percentile(delays, 0.50)),
        "propagation_p99_ms": ms(percentile(delays, 0.99)),
        "propagation_max_ms": ms(max(delays)),
        # (``--loop-figures``: where each receipt's time to its slowest receiver went, tail_probe)
        **propagation_phases([(s.receipt_id, s.origin, s.paid) for s in sales], seen_replies),
        "sale_p50_ms": ms(percentile(durations, 0.50)),
        "sale_p99_ms": ms(percentile(durations, 0.99)),
        "wire_bytes_per_receipt": round(sent / total, 1),
        "wire_messages_per_receipt": round(messages / total, 2),
        # ours: store commits, all nodes together
        **({"commits_per_receipt": round(commits / total, 2)} if commits is not None else {}),
        # of which fsync'd, with the deadline's syncs of taps that may wait (store.base.StoreStats)
        **({"fsyncs_per_receipt": round(fsyncs / total, 2)} if fsyncs is not None else {}),
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
        "links_per_node_max": max((a.get("links", 0) for a in after[-count:]), default=0),
        "phase_s": round(phase_s, 3),
        "phase_cpu_s": round(
            sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before, strict=True)), 4
        ),
        "machine_busy": busy,
    }


async def warm_up(registers: list[Worker]) -> None:
    """One sale per register, not measured: every process has run each code path once."""
    now = time.perf_counter()
    held = [r["held"] for r in await each(registers, "count")]
    await asyncio.gather(*(w.call("sell", plan=[[i, now]]) for i, w in enumerate(registers)))
    count = len(registers)
    await asyncio.gather(
        *(w.call("holds", count=h + count) for w, h in zip(registers, held, strict=True))
    )


async def sell_backlog(online: list[Worker], backlog: int) -> None:
    """``backlog`` sales split evenly over ``online``, one cashier each, sale after sale."""
    shares = [backlog // len(online) + (k < backlog % len(online)) for k in range(len(online))]
    starts = [sum(shares[:k]) for k in range(len(online))]
    await asyncio.gather(
        *(
            w.call(
                "backlog", count=n, first=f, timeout=WAIT_S + 30 + n
            )  # a busy machine: 1 s a sale
            for w, n, f in zip(online, shares, starts, strict=True)
        )
    )
