"""``meshpos bench all``: the store, mesh, upload and console benchmarks, each side by side with its peer, in one report.

Each benchmark runs as its own ``meshpos bench X --json`` process (a fresh interpreter, nothing left over
from the previous one); their progress goes to stderr, the combined JSON to stdout, and with ``--markdown``
a readable report to a file (docs/benchmarks.md holds the latest one).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from meshpos.errors import MeshposError

BENCHES = ("store", "mesh", "upload", "console")


def add_all_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", default=None, help="also write a report to this file")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")


QUICK = {
    "store": ["--receipts", "500", "--seconds", "1"],
    "mesh": ["--nodes", "3", "--seconds", "2", "--catchup-receipts", "300"],
    "upload": ["--receipts", "300", "--no-postgres"],
    "console": ["--venues", "20", "--days", "3", "--relays", "4", "--sales", "5", "--seconds", "1"],
}


def _run(name: str, quick: bool) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "meshpos",
        "bench",
        name,
        "--json",
        *(QUICK[name] if quick else []),
    ]
    print(f"bench all: running {' '.join(argv[3:])}", file=sys.stderr, flush=True)
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise MeshposError(f"bench {name} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


#: the first line of every report this writes: a file without it holds figures kept by hand
GENERATED = "<!-- written by meshpos bench all: rewritten by its next run -->"


def _check_markdown(path: Path) -> None:
    """Refuse a file this did not write (docs/benchmarks.md is kept by hand: its history, records,
    leak and console sections would be lost), before minutes of benchmarks rather than after."""
    if path.exists() and not path.read_text(errors="replace").startswith(GENERATED):
        raise MeshposError(
            f"{path} was not written by bench all (its hand-kept figures would be lost): "
            "give a new file, e.g. --markdown docs/bench-all.md"
        )


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        GENERATED,
        "# Benchmarks",
        "",
        f"Latest run: {report['when']} on {report['machine']['cpus']} CPUs, Python "
        f"{report['machine']['python']}, {report['machine']['platform']}.",
        "",
        f"Command: `{report['command']}` — every benchmark runs ours and its peer in the same run.",
        "",
    ]
    for name in BENCHES:
        lines += [f"## {name}", "", "```json", json.dumps(report[name], indent=2), "```", ""]
    return "\n".join(lines)


def run_all_bench(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "meshpos bench all --json" + (" --quick" if args.quick else ""),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    if args.markdown:
        _check_markdown(Path(args.markdown))
    for name in BENCHES:
        report[name] = _run(name, args.quick)
    if args.markdown:
        _check_markdown(Path(args.markdown))
        Path(args.markdown).write_text(_markdown(report))
    print(json.dumps(report, indent=2) if args.json else _markdown(report))
    return 0
