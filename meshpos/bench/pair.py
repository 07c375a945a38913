"""``python -m meshpos.bench.pair --base TREE --tree TREE [--pairs N] -- MODULE [ARGS]``: one benchmark,
two source trees, run back to back in alternating order, as JSON.

Why: a figure from one run on a machine others share is noise (docs/benchmarks.md: load averages of
10-40 while six engineers measure); what holds is the same benchmark run from the tree before and the
tree after a change, back to back, the order alternating (ABBA) so a load that rises or falls during a
pair favours neither, several pairs. The sessions before this one each wrote a scratch script for it
(``pairs.sh`` in /tmp, ``S13_bench.sh``), which the figures' readers could not run; this is that
script, in the repository.

Each run is ``PYTHON -m MODULE ARGS`` (``meshpos bench mesh --json ...`` is ``-- meshpos bench mesh
--json ...``; a probe is ``-- meshpos.bench.receive_node --json``) with its working directory and
``PYTHONPATH`` the tree's, so both trees run on one interpreter and its packages (``--python``; by
default this one): only the trees' sources differ. Both trees must hold ``meshpos`` (a worktree or a
``git archive`` of a commit). A run records the load average at its start, the whole machine's busy
fraction over it (``/proc/stat``), its own CPU time (the child's user + system: counted per process,
so the other helpers' work does not enter it), its wall time, its exit code and its output's JSON (the
last line of its standard output that is a JSON object, or ``null``). Each run is appended as one
JSON line to ``--out`` as it ends (a long series killed half way keeps what it did), and the whole
series is printed as one JSON object at the end. Nothing here compares: the runs are the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from meshpos.bench.mesh_drive import busy_fraction, busy_jiffies
from meshpos.errors import MeshposError

LOADAVG = Path("/proc/loadavg")


def order(pair: int) -> tuple[str, str]:
    """Which tree runs first in pair ``pair`` (from 1): base first in odd pairs, the tree in even
    ones (ABBA...)."""
    return ("base", "tree") if pair % 2 else ("tree", "base")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages; None where there are none (not Linux)."""
    try:
        return [float(v) for v in LOADAVG.read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def last_json(text: str) -> Any:
    """The last line of ``text`` that is a JSON object (a benchmark's report), or None."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    try:  # a report printed over several lines (indented JSON)
        whole = json.loads(text)
    except ValueError:
        return None
    return whole if isinstance(whole, dict) else None


def run_once(python: str, tree: Path, command: list[str], timeout: float) -> dict[str, Any]:
    """One run of ``python -m command`` from ``tree``: what it printed and what it cost."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load = load_average()
    busy = busy_jiffies()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, wall = time.time(), time.monotonic()
    try:
        done = subprocess.run(
            [python, "-m", *command],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MeshposError(f"{tree}: {' '.join(command)} ran past {timeout:g} s") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "started": time.strftime("%H:%M:%S", time.gmtime(started)),
        "load_start": load,
        "machine_busy": busy_fraction(busy, busy_jiffies()),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "wall_s": round(time.monotonic() - wall, 3),
        "rc": done.returncode,
        "result": last_json(done.stdout),
        "stderr_tail": done.stderr.strip().splitlines()[-3:] if done.returncode else [],
    }


def run_pairs(args: argparse.Namespace) -> dict[str, Any]:
    trees = {"base": Path(args.base).resolve(), "tree": Path(args.tree).resolve()}
    for name, tree in trees.items():
        if not (tree / "meshpos" / "__init__.py").is_file():
            raise MeshposError(f"--{name} {tree}: holds no meshpos package (a source tree)")
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise MeshposError(
            "no benchmark given: add -- MODULE [ARGS] (e.g. -- meshpos bench mesh --json)"
        )
    if args.pairs < 1:
        raise MeshposError(f"--pairs {args.pairs}: at least one pair")
    out = Path(args.out) if args.out else None
    runs = []
    for pair in range(1, args.pairs + 1):
        for position, name in enumerate(order(pair), start=1):
            run = {"pair": pair, "position": position, "tree": name, "path": str(trees[name])}
            run |= run_once(args.python, trees[name], command, args.timeout)
            runs.append(run)
            print(
                f"pair {pair} {name}: rc {run['rc']}, cpu {run['cpu_s']} s, "
                f"load {run['load_start']}",
                file=sys.stderr,
            )
            if out is not None:
                with out.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(run) + "\n")
    return {
        "command": command,
        "python": args.python,
        "base": str(trees["base"]),
        "tree": str(trees["tree"]),
        "pairs": args.pairs,
        "runs": runs,
    }


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="the tree before the change (a source tree)")
    parser.add_argument("--tree", required=True, help="the tree after the change")
    parser.add_argument("--pairs", type=int, default=2, help="pairs of runs (default 2)")
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter both trees run on (default: this)"
    )
    parser.add_argument("--out", default=None, help="append each run to this file as a JSON line")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds one run may take (default 1800)"
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="-- MODULE [ARGS]: what `python -m` runs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.pair", description=__doc__)
    add_pair_arguments(parser)
    args = parser.parse_args(argv)
    try:
        report = run_pairs(args)
    except MeshposError as exc:
        print(f"meshpos.bench.pair: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0 if all(run["rc"] == 0 for run in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
