"""The composition root: parses arguments, builds the Config, sets up logging and runs a subcommand.

Errors meant for people (MeshposError) are printed as one line with exit code 2; nothing else prints a
traceback unless --debug is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from meshpos import __version__
from meshpos.errors import MeshposError

log = logging.getLogger("meshpos")


def _cmd_demo(args: argparse.Namespace) -> int:
    print(
        "meshpos demo is not built yet: the whole-venue demo arrives with the mesh, relay and console "
        "(issues 4, 5 and 7). The test suite runs with ./run test.",
        file=sys.stderr,
    )
    return 3


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "store":
        from meshpos.bench.store import run_store_bench

        return run_store_bench(args)
    raise MeshposError(f"unknown benchmark {args.what!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshpos",
        description="Registers and kitchen displays that keep selling and syncing over the LAN.",
    )
    parser.add_argument("--version", action="version", version=f"meshpos {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a whole venue on loopback addresses")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="measure speed against the peer implementation")
    bench_sub = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    store = bench_sub.add_parser("store", help="durable receipt commits: ours vs pycrdt-store")
    store.add_argument("--json", action="store_true", help="print one JSON object")
    store.add_argument("--receipts", type=int, default=5000, help="receipts in the throughput run")
    store.add_argument(
        "--rate", type=int, default=200, help="offered receipts/s in the latency run"
    )
    store.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    store.add_argument(
        "--dir", default=None, help="directory for the database files (default: a temp dir)"
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        parser.error(f"--log-level {args.log_level!r}: must be DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except MeshposError as exc:
        print(f"meshpos: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"meshpos: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
