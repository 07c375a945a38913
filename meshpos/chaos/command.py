"""The ``meshpos chaos`` command line: its arguments and its entry point (the CLI wires both).

Kept apart from the run so that ``meshpos --help`` does not import the console, the bed and the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpos.errors import MeshposError

if TYPE_CHECKING:
    from meshpos.chaos.schedule import Fault


class Terminated(Exception):
    """SIGTERM ended the run (after its teardown)."""


def add_chaos_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="fault schedule seed; the same seed gives the same schedule (default: a random one)",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of faults and sales (default 60)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--verbose", action="store_true", help="print the schedule and every fault as it happens"
    )
    parser.add_argument(
        "--rate", type=float, default=2.0, help="sales per second over all registers (default 2)"
    )
    parser.add_argument(
        "--converge-timeout",
        type=float,
        default=90.0,
        help="seconds after healing to wait for every node and the console (default 90)",
    )
    parser.add_argument(
        "--schedule-only",
        action="store_true",
        help="print the schedule for --seed and --duration and exit (runs nothing, needs no root)",
    )
    parser.add_argument(
        "--dir", default=None, help="keep the venue's files and logs here (must be empty)"
    )
    parser.add_argument(
        "--registers",
        type=int,
        default=None,
        help="registers in the venue, besides one kitchen screen (default 3: a full mesh; from 5 "
        "the nodes link on the bounded topology)",
    )
    parser.add_argument("--heartbeat", type=float, default=0.5, help=argparse.SUPPRESS)


def run_chaos(args: argparse.Namespace) -> int:
    """Run ``meshpos chaos``; 0 when nothing was lost, duplicated, altered, unexpected or left diverged
    and every register said "All data is synced" in time; 1 otherwise; 143 after SIGTERM (torn down).

    Raises :class:`MeshposError` (the CLI prints it and exits 2) when the machine cannot run it: not
    root, or no ``ip netns``.
    """
    from meshpos.chaos.schedule import digest, make_schedule
    from meshpos.chaos.venue import MAX_REGISTERS, REGISTERS, names

    numbers = (args.duration, args.rate, args.converge_timeout)  # nan, 1e400: "unexpected error"
    if not all(map(math.isfinite, numbers)) or min(numbers) <= 0 or args.duration < 5:
        raise MeshposError(
            "--duration must be at least 5 s; --rate and --converge-timeout above 0 (finite numbers)"
        )
    if args.registers is None:
        args.registers = REGISTERS
    if not 1 <= args.registers <= MAX_REGISTERS:
        raise MeshposError(f"--registers {args.registers}: from 1 to {MAX_REGISTERS}")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    nodes, registers = names(args.registers)
    schedule = make_schedule(seed, args.duration, nodes, registers)
    if args.schedule_only or args.verbose:
        lines = [f"seed {seed}, {len(schedule)} faults, schedule {digest(schedule)}"]
        lines += [f"  {fault.describe()}" for fault in schedule]
        print("\n".join(lines), file=sys.stdout if args.schedule_only else sys.stderr, flush=True)
    if args.schedule_only:
        return 0
    _check_machine()
    root, keep = _workdir(args.dir)
    result: dict[str, Any] | None = None
    try:
        result = _run(args, seed, schedule, root)
    except Terminated:
        print("meshpos chaos: stopped by SIGTERM; namespaces removed", file=sys.stderr)
        return 143
    finally:
        ok = result is not None and result["ok"]
        if keep or not ok:
            print(f"meshpos chaos: files and logs in {root}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    assert result is not None
    result["schedule_digest"] = digest(schedule)
    if args.json:
        print(json.dumps(result, indent=2), flush=True)
    else:
        print(_summary(result), flush=True)
    return 0 if result["ok"] else 1


def _run(args: argparse.Namespace, seed: int, schedule: list[Fault], root: Path) -> dict[str, Any]:
    import asyncio

    from meshpos.chaos.netbed import NetBed
    from meshpos.chaos.run import Chaos, Settings

    NetBed.sweep_stale()
    settings = Settings(
        seed,
        args.duration,
        args.rate,
        args.converge_timeout,
        args.heartbeat,
        args.verbose,
        args.registers,
    )
    chaos = Chaos(settings, schedule, root)
    try:
        result = asyncio.run(chaos.main())
    except asyncio.CancelledError:
        if chaos.terminated:
            raise Terminated from None
        raise
    finally:
        if chaos.bed is not None:
            chaos.bed.close()  # idempotent; for the paths where the loop died before its clean-up
    result["ok"] = (
        result["converge_s"] is not None
        and result["registers_synced_s"] is not None
        and result["lost"] == 0
        and result["duplicated"] == 0
        and not result["diverged"]
        and result["unexpected"] == 0
        and result["altered"] == 0
        and result["numbers_reused"] == 0
    )
    return result


def _check_machine() -> None:
    from meshpos.chaos.netbed import NetBed

    ok, why = NetBed.available()
    if not ok:
        raise MeshposError(f"meshpos chaos runs the venue in network namespaces: {why}")
    for tool in ("tc", "iptables"):
        if shutil.which(tool) is None:
            raise MeshposError(f"meshpos chaos needs the {tool} command (iproute2, iptables)")


def _workdir(directory: str | None) -> tuple[Path, bool]:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="meshpos-chaos-")), False
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise MeshposError(f"--dir {root}: must be empty (the run creates a new venue there)")
    return root, True


def _summary(result: dict[str, Any]) -> str:
    faults = ", ".join(f"{k} {n}" for k, n in result["faults"].items())
    return (
        f"seed {result['seed']}: faults {faults}; acknowledged {result['receipts']} receipts, "
        f"{result['payments']} payments, {result['refunds']} refunds; lost {result['lost']}, "
        f"duplicated {result['duplicated']}, diverged {result['diverged'] or 'none'}; "
        f"converged in {result['converge_s']} s" + ("" if result["ok"] else " — FAILED")
    )
