"""``meshpos bench mesh --nodes 6,20,50``: the per-device figures of a mesh as it grows, in one report.

A venue's devices each have their own CPU; here every device is a process and they share this machine's
CPUs (and, while other work runs, its other processes). So each size reports what carries over to real
devices, per device, and says whether the machine was saturated (then the latencies are the machine's,
not the mesh's):

* ``idle_cpu_ms_per_s_per_node``: with nothing sold (after the warm-up, every link up and in sync), the CPU
  every device spends per second on heartbeats, presence and anti-entropy, over ``--idle-seconds``.
* ``cpu_ms_per_receipt_per_node``: what one receipt of the venue costs each device on top of idling: the
  CPU of the sale phase minus the idle rate and the bench's loop-lag probe (``probe_cpu_ms_per_s_per_node``,
  measured idle with the probe on) over the same time, divided by receipts and devices (the seller's
  model writes and commits and every device's receiving, committing and forwarding).
* ``links_per_node_max``: the most links (sessions past the hello) any device held after the sales.
* ``machine_busy``: the fraction of all this machine's CPUs that were busy during the sale phase
  (``/proc/stat``: every process, the bench's and any other); ``saturated`` when it was ``SATURATED`` or
  more, or the offered rate was not achieved.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from meshpos.bench.mesh_drive import Worker, each
from meshpos.bench.mesh_meter import PROFILE_ENV
from meshpos.errors import MeshposError

SATURATED = 0.9  # busy fraction of all CPUs above which latencies say more about the machine
#: the figures the scale table shows, ours and the peer's side by side, one column per size
SCALE_ROWS = (
    "idle_cpu_ms_per_s_per_node",
    "cpu_ms_per_receipt_per_node",
    "cpu_ms_per_receipt",
    "links_per_node_max",
    "propagation_p99_ms",
    "sale_p99_ms",
    "wire_bytes_per_receipt",
    "catchup_s",
    "machine_busy",
)


def node_counts(text: str) -> list[int]:
    """``--nodes``: one size (``6``) or several (``6,20,50``), each run in turn."""
    try:
        counts = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise MeshposError(
            f"--nodes {text!r}: give a number of registers, or several such as 6,20,50"
        ) from None
    if any(n < 2 for n in counts):
        raise MeshposError(f"--nodes {text!r}: every mesh needs at least 2 registers")
    if len(set(counts)) != len(counts):
        raise MeshposError(f"--nodes {text!r} lists a size twice")
    return counts


async def measure_idle(
    workers: list[Worker],
    seconds: float,
    *,
    nodes: int | None = None,
    sellers: list[Worker] | None = None,
) -> dict[str, Any]:
    """CPU per device per second while nothing is sold (the mesh keeps itself alive); ``nodes``: the
    devices the processes' CPU is shared over (the peer's server is no device of its own).

    Then as long again with the sale phase's loop-lag probe running in ``sellers`` (every register, as
    while it sells): what the probe itself costs (a 10 ms timer, ~8 ms of CPU a second per process on
    this machine), so that the per-receipt figures are net of the bench's own instrument, not only of
    idling (it was billed to the receipts: ~1.6 ms per device per receipt at 5/s)."""
    idle = await _cpu_window(workers, seconds, nodes, profiled=True)
    probed = sellers if sellers is not None else workers
    await each(probed, "stats", probe=True)
    with_probe = await _cpu_window(workers, seconds, nodes, profiled=False)
    await each(probed, "stats", probe=False)
    return {
        "idle_cpu_ms_per_s_per_node": idle["rate"],
        "probe_cpu_ms_per_s_per_node": round(max(0.0, with_probe["rate"] - idle["rate"]), 2),
        "idle_links_per_node_max": idle["links"],
        "idle_seconds": idle["seconds"],
    }


async def _cpu_window(
    workers: list[Worker], seconds: float, nodes: int | None, *, profiled: bool
) -> dict[str, Any]:
    # ``--profile``: each register's idle phase too (the probe's window is no phase of the node's)
    profiling = profiled and bool(os.environ.get(PROFILE_ENV))
    before = await each(workers, "stats", **({"profile_idle": True} if profiling else {}))
    begin = time.perf_counter()
    await asyncio.sleep(seconds)
    after = await each(workers, "stats", **({"profile_idle": False} if profiling else {}))
    elapsed = time.perf_counter() - begin
    spent = sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before, strict=True))
    return {
        "rate": round(spent * 1000 / elapsed / (nodes or len(workers)), 2),
        "links": max((a.get("links", 0) for a in after), default=0),
        "seconds": round(elapsed, 2),
    }


def per_node(
    phase: dict[str, Any], idle: dict[str, Any], nodes: int, receipts: int
) -> dict[str, Any]:
    """The sale phase's CPU per device and receipt, net of what the devices spend idling meanwhile
    and of the bench's loop-lag probe (``measure_idle``)."""
    probe = idle.get("probe_cpu_ms_per_s_per_node", 0.0)
    idle_s = (idle["idle_cpu_ms_per_s_per_node"] + probe) / 1000 * nodes * phase["phase_s"]
    net = max(0.0, phase["phase_cpu_s"] - idle_s)
    busy = phase["machine_busy"]
    return {
        "idle_cpu_ms_per_s_per_node": idle["idle_cpu_ms_per_s_per_node"],
        "probe_cpu_ms_per_s_per_node": probe,
        "cpu_ms_per_receipt_per_node": round(net * 1000 / receipts / nodes, 3),
        "saturated": bool(
            (busy is not None and busy >= SATURATED)
            or phase["achieved_rate"] < 0.95 * phase["offered_rate"]
        ),
    }


def scale_report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One report of several sizes: each run whole under ``by_nodes``, the key figures by size."""
    return {
        "nodes": [run["nodes"] for run in runs],
        "by_nodes": {str(run["nodes"]): run for run in runs},
        "per_node": {
            key: {str(run["nodes"]): run.get(key) for run in runs}
            for key in (
                "idle_cpu_ms_per_s_per_node",
                "cpu_ms_per_receipt_per_node",
                "links_per_node_max",
                "saturated",
            )
        },
        "machine": runs[-1]["machine"],
        "load_average_at_start": [run.get("load_average_at_start") for run in runs],
        "failed": {str(run["nodes"]): run["error"] for run in runs if "error" in run},
    }


def scale_table(runs: list[dict[str, Any]]) -> str:
    header = f"{'':<30}" + "".join(f"{f'{n} ours':>14}{f'{n} peer':>12}" for n in _sizes(runs))
    lines = [header]
    for key in SCALE_ROWS:
        cells = "".join(f"{run.get(key)!s:>14}{run.get(f'peer_{key}', '-')!s:>12}" for run in runs)
        lines.append(f"{key:<30}{cells}")
    for run in runs:
        if "error" in run:
            lines.append(f"{run['nodes']} nodes failed: {run['error']}")
    saturated = [str(run["nodes"]) for run in runs if run.get("saturated")]
    done = [run for run in runs if "error" not in run] or [{"rate": 0, "seconds": 0}]
    lines.append(
        f"{done[0]['rate']:g} receipts/s offered for {done[0]['seconds']:g} s; "
        + (
            f"the machine was saturated at {', '.join(saturated)} nodes: per-device CPU carries "
            "over, latencies do not"
            if saturated
            else "the machine was not saturated"
        )
    )
    return "\n".join(lines)


def _sizes(runs: list[dict[str, Any]]) -> list[int]:
    return [int(run["nodes"]) for run in runs]


def load_average() -> float | None:
    """The machine's 1-minute load average: how busy other work kept it when a size started."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
