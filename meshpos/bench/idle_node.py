"""``python -m meshpos.bench.idle_node --json``: what a real node spends while nothing happens.

Issue 18 (idle): ``meshpos bench mesh`` reports one figure for an idle mesh (CPU per device per second)
on a machine whose two CPUs other work shares, and it moves ±1 ms/s between runs of one tree. This
probe breaks it down. ``--nodes`` real registers, each a process of its own (``mesh_worker``: a
``meshpos.node.Node``, its SQLite file, mTLS websockets on 127.0.0.1, each told of every other as in
``meshpos bench mesh``; the links are what the topology makes of that), a shift open, one warm-up sale
each, then nothing sold for ``--seconds``. It prints, per node and second:

* ``cpu_ms_per_s``: every process's CPU (all threads), and ``threads_cpu_ms_per_s`` by thread (the
  event loop's, the SQLite connections', the executor's); the same per node (``cpu_ms_per_s_by_node``);
* ``sent_per_s`` and ``sent_bytes_per_s`` by message kind (heartbeat, digest, step 1 and 2, ...: what
  each node hands its links; every message sent is one received, so the mean is also what a node
  reads), and ``heartbeats_per_link_per_s``;
* ``node_counters_per_s``: the node's own counters that moved (ticker rounds, commits, messages);

then, with ``--counts``, a second window as long with each process counting (``receive_counts``:
loop iterations and wake-ups, jobs to the store's threads, SQL statements, SSL reads and writes,
status computations, engine pumps, flushes, the loop's CPU per callback). The counting costs CPU
itself, so the first window's CPU is the figure and the second's counts are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_drive import (
    Worker,
    busy_fraction,
    busy_jiffies,
    each,
    noon_offset,
    spawned,
    warm_up,
)
from meshpos.bench.mesh_meter import PROFILE_ENV
from meshpos.errors import MeshposError
from meshpos.harness.venue import catalog_update, make_device, make_venue

HOST = "127.0.0.1"  # the network rule: loopback only


def _rate(
    after: dict[str, float], before: dict[str, float], per: float, scale: float
) -> dict[str, float]:
    """Each key's growth times ``scale`` per ``per`` (node-seconds), keys that moved only."""
    grown = {
        k: (after.get(k, 0) - before.get(k, 0)) * scale / per for k in set(after) | set(before)
    }
    return {k: round(v, 3) for k, v in sorted(grown.items(), key=lambda kv: -kv[1]) if v > 0}


def _summed(replies: list[dict[str, Any]], key: str) -> dict[str, float]:
    total: Counter[str] = Counter()
    for reply in replies:
        total.update(reply.get(key, {}))
    return dict(total)


async def _window(nodes: list[Worker], seconds: float, *, counted: bool) -> dict[str, Any]:
    """Every node's figures over ``seconds`` of nothing sold."""
    count = len(nodes)
    before = await each(nodes, "stats", profile_idle=True)
    inside_before = await each(nodes, "counts")
    busy_before, began = busy_jiffies(), time.perf_counter()
    await asyncio.sleep(seconds)
    after = await each(nodes, "stats", profile_idle=False)
    inside_after = await each(nodes, "counts")
    elapsed = time.perf_counter() - began
    per = elapsed * count  # node-seconds
    links = [a.get("links", 0) for a in after]
    sent = _rate(_summed(after, "count_by_kind"), _summed(before, "count_by_kind"), per, 1)
    beats = sent.get("heartbeat", 0.0)
    result: dict[str, Any] = {
        "seconds": round(elapsed, 2),
        "links_per_node": round(sum(links) / count, 2),
        "cpu_ms_per_s": round(
            sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before, strict=True)) * 1000 / per, 3
        ),
        "cpu_ms_per_s_by_node": [
            round((a["cpu_s"] - b["cpu_s"]) * 1000 / elapsed, 2)
            for a, b in zip(after, before, strict=True)
        ],
        "threads_cpu_ms_per_s": _rate(
            _summed(inside_after, "threads_cpu_s"),
            _summed(inside_before, "threads_cpu_s"),
            per,
            1000,
        ),
        "sent_per_s": sent,
        "sent_bytes_per_s": _rate(_summed(after, "by_kind"), _summed(before, "by_kind"), per, 1),
        "heartbeats_per_link_per_s": round(beats * count / max(1, sum(links)), 3),
        "machine_busy": busy_fraction(busy_before, busy_jiffies()),
    }
    counts_before = _summed(inside_before, "counts")
    counts_after = _summed(inside_after, "counts")
    node_keys = {k for k in counts_after if k.startswith("node_")}
    result["node_counters_per_s"] = _rate(
        {k: counts_after[k] for k in node_keys},
        {k: counts_before.get(k, 0) for k in node_keys},
        per,
        1,
    )
    if counted:
        result["counts_per_s"] = _rate(
            {k: v for k, v in counts_after.items() if k not in node_keys},
            {k: v for k, v in counts_before.items() if k not in node_keys},
            per,
            1,
        )
        result["callbacks_cpu_ms_per_s"] = {
            k: v
            for k, v in _rate(
                _summed(inside_after, "callbacks_cpu_s"),
                _summed(inside_before, "callbacks_cpu_s"),
                per,
                1000,
            ).items()
            if v >= 0.005
        }
    return result


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    authority = make_venue(folder)
    catalog = catalog_update()
    ids = [f"R{k + 1:02d}" for k in range(args.nodes)]
    for node_id in ids:
        await make_device(authority, folder, node_id, catalog=catalog)
    offset = str(noon_offset())
    spawns = [(node_id, ["ours", str(folder / f"{node_id}.toml"), offset]) for node_id in ids]
    async with spawned(spawns) as nodes:
        started = await each(nodes, "start")
        ports = [s["port"] for s in started]
        await asyncio.gather(  # each told of every other, as in ``meshpos bench mesh``
            *(
                n.call("link", peers=[[ids[j], HOST, ports[j]] for j in range(len(ids)) if j != i])
                for i, n in enumerate(nodes)
            )
        )
        await each(nodes, "shift")
        await each(nodes, "watch", ledger=started[0]["ledger"])
        await warm_up(nodes)
        await each(nodes, "quiet", threshold=len(nodes))
        await asyncio.sleep(args.settle)  # what the warm-up left behind (received syncs) is done
        result: dict[str, Any] = {
            "nodes": args.nodes,
            "load_average": round(os.getloadavg()[0], 2),
            "idle": await _window(nodes, args.seconds, counted=False),
        }
        if args.counts:
            await each(nodes, "counts", install=True)
            result["counted"] = await _window(nodes, args.seconds, counted=True)
        result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.idle_node", description=__doc__)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0, help="each window's length")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between the warm-up and the first window"
    )
    parser.add_argument("--counts", action="store_true", help="a second window, counted")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        help="a directory: each process's cProfile (CPU time) of each window",
    )
    args = parser.parse_args(argv)
    if args.nodes < 2 or args.seconds <= 0 or args.settle < 0:
        raise MeshposError("--nodes must be at least 2, --seconds positive, --settle not negative")
    if args.profile is not None:  # (the workers inherit it)
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(args.profile.resolve())
    with tempfile.TemporaryDirectory(prefix="meshpos-idle-node-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
