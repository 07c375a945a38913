"""``python -m meshpos.bench.receive_node --json``: what one real node spends on a received sale.

Issue 18: ``meshpos bench mesh`` measures six processes on a machine whose two CPUs other work shares,
and its CPU per receipt moves ±25 % from run to run. This probe drives two real registers, each a
process of its own (``mesh_worker``: a ``meshpos.node.Node``, its SQLite file, an mTLS websocket link on
127.0.0.1): one sells ``--sales`` model sales (open order, two lines, pay by card) open-loop at
``--rate``, the other only receives them (``--sellers K``: K registers sell them between them, each
linked with every other and with the receiver as the bench's registers are; the sellers' figures are
then theirs together, each also receiving the others' sales). It prints the receiver's CPU time per received sale (the
whole process, and by thread: the event loop's, the SQLite connections', the executor's) and the
seller's, from the first sale until both are quiet; then, with ``--counts``, the same again with the
receiver counting what it does per received sale (``receive_counts``: loop iterations and wake-ups,
jobs to the store's threads, SQL statements, SSL reads and writes, socket calls, status computations,
engine pumps, commits, fsyncs, log records). The counting costs CPU itself, so the first phase's CPU
is the figure and the second's counts are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_drive import (
    Worker,
    busy_fraction,
    busy_jiffies,
    each,
    noon_offset,
    plans,
    spawned,
    warm_up,
)
from meshpos.bench.mesh_meter import PROFILE_ENV
from meshpos.harness.venue import catalog_update, make_device, make_venue

HOST = "127.0.0.1"  # the network rule: loopback only


def _per(after: dict[str, float], before: dict[str, float], sales: int) -> dict[str, float]:
    """Each key's growth, per sale, in ms when the values are seconds."""
    return {
        k: round((after.get(k, 0.0) - before.get(k, 0.0)) * 1000 / sales, 3)
        for k in sorted(set(after) | set(before))
    }


def _top(after: dict[str, float], before: dict[str, float], sales: int) -> dict[str, float]:
    """The loop's CPU per callback kind, per sale, largest first (those over 1 µs a sale)."""
    grown = _per(after, before, sales)
    return {k: v for k, v in sorted(grown.items(), key=lambda kv: -kv[1]) if v >= 0.001}


async def _phase(
    sellers: list[Worker], receiver: Worker, sales: int, rate: float, first: int
) -> dict[str, Any]:
    """``sales`` sold over ``sellers`` (sale ``k`` on seller ``k mod len``) at ``rate`` together;
    every process's figures from the first sale until the receiver holds them all and all are quiet
    (the sellers' together: each also receives the others' sales)."""
    everyone = [*sellers, receiver]
    held = (await receiver.call("count"))["held"]
    # (the receiver's cProfile, with ``--profile``, runs until its ``quiet``: ``mesh_worker``)
    before = await asyncio.gather(
        *(s.call("stats") for s in sellers), receiver.call("stats", profile_idle=True)
    )
    threads_before = await receiver.call("counts")
    busy_before, began = busy_jiffies(), time.perf_counter()
    await asyncio.gather(
        *(
            seller.call("sell", plan=[[first + k, at] for k, at in plan])
            for seller, plan in zip(sellers, plans(len(sellers), sales, rate), strict=True)
        )
    )
    await receiver.call("holds", count=held + sales)
    await each(everyone, "quiet", threshold=len(everyone))
    after = await each(everyone, "stats")
    threads_after = await receiver.call("counts")
    busy = busy_fraction(busy_before, busy_jiffies())
    counts = {
        k: round((v - threads_before["counts"].get(k, 0)) / sales, 2)
        for k, v in sorted(threads_after["counts"].items())
        if v != threads_before["counts"].get(k, 0)
    }
    r_before, r_after = before[-1], after[-1]
    summed = ("cpu_s", "messages", "commits", "fsyncs")
    s_before = {k: sum(b[k] for b in before[:-1]) for k in summed}
    s_after = {k: sum(a[k] for a in after[:-1]) for k in summed}
    return {
        "receiver_cpu_ms_per_sale": round((r_after["cpu_s"] - r_before["cpu_s"]) * 1000 / sales, 3),
        "receiver_loop_cpu_ms_per_sale": round(
            (r_after["loop_cpu_s"] - r_before["loop_cpu_s"]) * 1000 / sales, 3
        ),
        "receiver_threads_cpu_ms_per_sale": _per(
            threads_after["threads_cpu_s"], threads_before["threads_cpu_s"], sales
        ),
        "seller_cpu_ms_per_sale": round((s_after["cpu_s"] - s_before["cpu_s"]) * 1000 / sales, 3),
        "receiver_commits_per_sale": round((r_after["commits"] - r_before["commits"]) / sales, 3),
        "receiver_fsyncs_per_sale": round((r_after["fsyncs"] - r_before["fsyncs"]) / sales, 3),
        "seller_commits_per_sale": round((s_after["commits"] - s_before["commits"]) / sales, 3),
        "seller_fsyncs_per_sale": round((s_after["fsyncs"] - s_before["fsyncs"]) / sales, 3),
        "seller_messages_per_sale": round((s_after["messages"] - s_before["messages"]) / sales, 3),
        "receiver_messages_per_sale": round(
            (r_after["messages"] - r_before["messages"]) / sales, 3
        ),
        **({"receiver_counts_per_sale": counts} if counts else {}),
        **(
            {"receiver_callbacks_cpu_ms_per_sale": callbacks}
            if (
                callbacks := _top(
                    threads_after["callbacks_cpu_s"], threads_before["callbacks_cpu_s"], sales
                )
            )
            else {}
        ),
        "phase_s": round(time.perf_counter() - began, 2),
        "machine_busy": busy,
    }


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    authority = make_venue(folder)
    catalog = catalog_update()
    ids = [f"R{k + 1:02d}" for k in range(args.sellers + 1)]  # the last one only receives
    for node_id in ids:
        await make_device(authority, folder, node_id, catalog=catalog)
    offset = str(noon_offset())
    spawns = [(node_id, ["ours", str(folder / f"{node_id}.toml"), offset]) for node_id in ids]
    async with spawned(spawns) as nodes:
        sellers, receiver = nodes[:-1], nodes[-1]
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
        result: dict[str, Any] = {
            "sales": args.sales,
            "rate": args.rate,
            "sellers": args.sellers,
            "load_average": round(os.getloadavg()[0], 2),
        }
        result["cpu"] = await _phase(sellers, receiver, args.sales, args.rate, 1000)
        if args.counts:
            await receiver.call("counts", install=True)
            result["counted"] = await _phase(sellers, receiver, args.sales, args.rate, 100_000)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshpos.bench.receive_node", description=__doc__
    )
    parser.add_argument("--sales", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="sales per second offered")
    parser.add_argument(
        "--sellers", type=int, default=1, help="registers selling (and receiving each other's)"
    )
    parser.add_argument("--counts", action="store_true", help="a second phase, counted")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", type=Path, help="a directory: each process's cProfile (CPU time) of each phase"
    )
    args = parser.parse_args(argv)
    if args.profile is not None:  # (the workers inherit it)
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(args.profile.resolve())
    with tempfile.TemporaryDirectory(prefix="meshpos-receive-node-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
