"""The composition root: parses arguments, builds the Config, sets up logging and runs a subcommand.

Errors meant for people (MeshposError) are printed as one line with exit code 2; nothing else prints a
traceback unless --debug is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from meshpos import __version__
from meshpos.allocator import ALLOCATING, command_word, run_with_object_allocator
from meshpos.config import Config, load_config, near_misses
from meshpos.errors import MeshposError
from meshpos.ops.logs import LOG_FORMATS, set_level, setup_logging

log = logging.getLogger("meshpos")


def _cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from meshpos.demo.run import run_demo

    numbers = (args.duration, args.rate)  # --duration nan ran a venue for a day of no length
    if not all(map(math.isfinite, numbers)) or args.duration < 10 or args.rate <= 0:
        raise MeshposError("--duration must be at least 10 s and --rate above 0 (finite numbers)")
    return asyncio.run(
        run_demo(
            duration=args.duration,
            rate=args.rate,
            as_json=args.json,
            serve=args.serve,
            directory=args.dir,
            heartbeat=args.heartbeat,
        )
    )


def _config(args: argparse.Namespace) -> Config:
    overrides = {
        "node_id": getattr(args, "node_id", None),
        "data_dir": getattr(args, "data_dir", None),
        "init_database": getattr(args, "init_database", None) or None,
    }
    path = Path(args.config) if getattr(args, "config", None) else None
    config = load_config(path, overrides=overrides)
    for line in near_misses():
        logging.getLogger("meshpos.config").warning("%s", line)
    return config


def _cmd_node(args: argparse.Namespace) -> int:
    from meshpos.node_runner import run_node
    from meshpos.relay.link import console_ssl_context

    config = _config(args)
    set_level(args.log_level if args.log_level_set else config.log_level)
    console_ssl_context(config.console_url, config.console_ca_file)  # an unusable CA file: one line
    _check_node_ports(config, getattr(args, "config", None) or "the node's settings")
    return run_node(
        config,
        peers=args.peer or [],
        discovery=not args.no_discovery,
        new_receipt_series=args.new_receipt_series,
    )


def _check_node_ports(config: Config, where: str) -> None:
    """A port in use or an address the machine lacks: one line before the data dir is touched. A data
    dir another process holds is left to the store's refusal, which names that process."""
    from meshpos.doctor.probes import lock_holder
    from meshpos.listen_check import check_listen
    from meshpos.store.lock import lock_path

    if lock_holder(lock_path(config.db_path)) is not None:
        return

    places = [
        ("listen_host", "port", config.listen_host, config.port),
        ("api_host", "api_port", config.api_host, config.api_port),
    ]
    if config.yjs_tokens:
        places.append(("listen_host", "yjs_port", config.listen_host, config.yjs_port))
    check_listen(where, places)


def _cmd_status(args: argparse.Namespace) -> int:
    from meshpos.node_runner import show_status

    return show_status(_config(args), as_json=args.json, watch=args.watch)


def _cmd_clear_cache(args: argparse.Namespace) -> int:
    from meshpos.node_runner import clear_cache

    return clear_cache(_config(args))


def _cmd_console(args: argparse.Namespace) -> int:
    import asyncio

    from meshpos.console.runner import check_host, serve_console
    from meshpos.listen_check import check_listen

    set_level(args.log_level if args.log_level_set else "INFO")
    host = check_host(args.host)  # then its ports, before the database is touched: one line each
    check_listen(
        "meshpos console",
        [("--host", "--port", host, args.port), ("--host", "--api-port", host, args.api_port)],
        any_port=False,  # the relays and the manager's browser need to know where it is
    )
    return asyncio.run(
        serve_console(
            db_url=args.db,
            host=args.host,
            port=args.port,
            api_port=args.api_port,
            venues=[Path(v) for v in args.venue or []],
            token_file=Path(args.token_file).absolute(),
            metrics_token_file=(
                Path(args.metrics_token_file).absolute() if args.metrics_token_file else None
            ),
            heartbeat_interval=args.heartbeat_interval,
            tls_cert=Path(args.tls_cert) if args.tls_cert else None,
            tls_key=Path(args.tls_key) if args.tls_key else None,
            venue_idle_seconds=args.venue_idle_seconds,
            init_database=args.init_database,
        )
    )


def _cmd_service(args: argparse.Namespace) -> int:
    from meshpos.ops import service

    options = list(args.options)
    command = build_parser().parse_args([args.what, *options])  # refused as `meshpos <what>` would
    here = service.cwd()
    if args.what == "node":
        config = _config(command)
        spec = service.node_spec(
            options, config.node_id, config.data_dir, config.identity_path, here
        )
    else:
        spec = service.console_spec(options, here)
    if args.name:
        spec = dataclasses.replace(spec, name=args.name)
    global_options = ["--log-level", args.log_level] if args.log_level_set else []
    spec = dataclasses.replace(
        spec, argv=(*global_options, "--log-format", args.log_format, *spec.argv)
    )
    path = service.install(
        spec,
        unit_dir=args.unit_dir,
        executable=service.executable(),
        user=args.user,
        check=not args.no_verify,
    )
    print(service.next_steps(path, spec, args.user))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "store":
        from meshpos.bench.store import run_store_bench

        return run_store_bench(args)
    if args.what == "mesh":
        from meshpos.bench.mesh import run_mesh_bench

        return run_mesh_bench(args)
    if args.what == "all":
        from meshpos.bench.all import run_all_bench

        return run_all_bench(args)
    if args.what == "upload":
        from meshpos.bench.upload import run_upload_bench

        return run_upload_bench(args)
    if args.what == "history":
        from meshpos.bench.history import run_history_bench

        return run_history_bench(args)
    if args.what == "history-mesh":
        from meshpos.bench.history_mesh import run_history_mesh_bench

        return run_history_mesh_bench(args)
    if args.what == "records":
        from meshpos.bench.records import run_records_bench

        return run_records_bench(args)
    if args.what == "leak":
        from meshpos.bench.leak import run_leak_bench

        return run_leak_bench(args)
    if args.what == "console":
        from meshpos.bench.console import run_console_bench

        return run_console_bench(args)
    if args.what == "sim":
        from meshpos.bench.sim import run_sim_bench

        return run_sim_bench(args)
    raise MeshposError(f"unknown benchmark {args.what!r}")


#: the commands :func:`build_parser` adds first, before the ones that import much
LEAN = ("demo", "node", "status", "clear-cache", "console")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand's parser; for ``command`` (what :func:`meshpos.allocator.command_word` read) one of :data:`LEAN`, up
    to theirs only, for another that is not ``bench``, all but the benchmarks'. The rest imports every
    benchmark, chaos, pairing, doctor and backup (~0.5 s of CPU, a quarter of a node's start), which
    those never run: a venue's nodes start at every boot and restart, scripts call ``meshpos status``
    and ``meshpos doctor``, the tests start hundreds of each. A word that is no command gets them all
    (its error lists every command)."""
    parser = argparse.ArgumentParser(
        prog="meshpos",
        description="Registers and kitchen displays that keep selling and syncing over the LAN.",
    )
    parser.add_argument("--version", action="version", version=f"meshpos {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text (default) or json: one JSON object per line, for log shippers",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a whole venue on loopback addresses")
    demo.add_argument("--duration", type=float, default=120.0, help="seconds of business day")
    demo.add_argument("--rate", type=float, default=2.0, help="sales per second, all registers")
    demo.add_argument("--json", action="store_true", help="print the final report as JSON")
    demo.add_argument("--serve", action="store_true", help="keep the venue running afterwards")
    demo.add_argument("--dir", default=None, help="keep the venue's files here (must be empty)")
    demo.add_argument("--heartbeat", type=float, default=0.5, help=argparse.SUPPRESS)
    demo.set_defaults(func=_cmd_demo)

    node = sub.add_parser("node", help="run a node (register or kds) until SIGTERM/SIGINT")
    node.add_argument("--config", help="the node's TOML file ([node] table)")
    node.add_argument("--node-id", help="override node_id")
    node.add_argument("--data-dir", help="override data_dir")
    node.add_argument(
        "--peer",
        action="append",
        metavar="NODE@HOST:PORT",
        help="a peer to link with without mDNS (repeatable)",
    )
    node.add_argument(
        "--no-discovery",
        action="store_true",
        help="do not use mDNS (link only with --peer; for static set-ups and tests)",
    )
    node.add_argument(
        "--init-database",
        action="store_true",
        help="begin an empty database where this data dir held one (its node.db is missing or "
        "empty); refused if node.db holds data. Without it such a node refuses to start",
    )
    node.add_argument(
        "--new-receipt-series",
        action="store_true",
        help="number receipts from now on in a new series with a random tag (R1-k7qm-000001): "
        "for a register with a new database that cannot reach a peer or the console",
    )
    node.set_defaults(func=_cmd_node)

    status = sub.add_parser("status", help="show a running node's sync status")
    status.add_argument("--config", help="the node's TOML file")
    status.add_argument("--node-id", help="override node_id")
    status.add_argument("--data-dir", help="override data_dir")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--watch", action="store_true", help="keep printing changes")
    status.set_defaults(func=_cmd_status)

    clear = sub.add_parser(
        "clear-cache",
        help="drop and re-pull the console's catalog on a running node (refused while unsynced)",
    )
    clear.add_argument("--config", help="the node's TOML file")
    clear.add_argument("--node-id", help="override node_id")
    clear.add_argument("--data-dir", help="override data_dir")
    clear.set_defaults(func=_cmd_clear_cache)

    console = sub.add_parser("console", help="run the reference console (relays sync to it)")
    console.add_argument(
        "--db", default="sqlite:///meshpos-console.db", help="sqlite:///path or postgresql://..."
    )
    console.add_argument(
        "--host",
        default="127.0.0.1",
        help="an address of this machine to listen on (a back-office PC: its LAN address), "
        "0.0.0.0 for all",
    )
    console.add_argument("--port", type=int, default=8780, help="relays' websocket port")
    console.add_argument("--api-port", type=int, default=8781, help="JSON API and pages port")
    console.add_argument(
        "--venue", action="append", metavar="DIR", help="register a venue directory (repeatable)"
    )
    console.add_argument(
        "--token-file", default="console-admin.token", help="the admin token (made if missing)"
    )
    console.add_argument(
        "--metrics-token-file",
        metavar="FILE",
        help="the read-only token of GET /metrics, for a scraper (made if missing; default "
        "console-metrics.token beside --token-file)",
    )
    console.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve TLS (relays dial wss://, the API is https://) with this certificate (chain)",
    )
    console.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    console.add_argument(
        "--venue-idle-seconds",
        type=float,
        default=None,
        metavar="S",
        help="unload a venue's documents from memory after this long without its relay or an "
        "edit (default 60)",
    )
    console.add_argument(
        "--init-database",
        action="store_true",
        help="begin an empty SQLite database where one was (missing or empty, its .lock beside "
        "it); refused where a database is",
    )
    console.add_argument("--heartbeat-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    console.set_defaults(func=_cmd_console)
    if command in LEAN:
        return parser

    from meshpos.chaos import add_chaos_arguments, run_chaos

    chaos = sub.add_parser(
        "chaos", help="the venue in network namespaces under random faults (root), then reconciled"
    )
    add_chaos_arguments(chaos)
    chaos.set_defaults(func=run_chaos)

    from meshpos.trust.commands import add_trust_commands

    add_trust_commands(sub)

    from meshpos.backup import add_backup_commands
    from meshpos.doctor import add_doctor_command
    from meshpos.ops.service import add_service_arguments

    add_doctor_command(sub)
    add_backup_commands(sub)
    service = sub.add_parser("service", help="run a node or the console as a systemd service")
    add_service_arguments(service)
    service.set_defaults(func=_cmd_service)

    if command in sub.choices:  # one of the above: the benchmarks below are not its
        return parser
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
    from meshpos.bench.all import add_all_arguments
    from meshpos.bench.console import add_console_arguments
    from meshpos.bench.history import add_history_arguments
    from meshpos.bench.history_mesh import add_history_mesh_arguments
    from meshpos.bench.leak import add_leak_arguments
    from meshpos.bench.mesh import add_mesh_arguments
    from meshpos.bench.records import add_records_arguments
    from meshpos.bench.upload import add_upload_arguments

    add_mesh_arguments(
        bench_sub.add_parser("mesh", help="propagation and catch-up: our mesh vs pycrdt-websocket")
    )
    add_upload_arguments(
        bench_sub.add_parser(
            "upload", help="relay backlog upload (SQLite, PostgreSQL) and failover"
        )
    )
    add_all_arguments(
        bench_sub.add_parser("all", help="store, mesh, upload and console benchmarks in one report")
    )
    add_history_arguments(
        bench_sub.add_parser(
            "history", help="a register's cost with a long history vs none (issue 15 figures)"
        )
    )
    add_history_mesh_arguments(
        bench_sub.add_parser(
            "history-mesh",
            help="month three in a mesh: a register with closed days joins six (issue 18 figures)",
        )
    )
    add_records_arguments(
        bench_sub.add_parser(
            "records", help="memory, wire and disk bytes per sale of the ledger's encoding"
        )
    )
    add_leak_arguments(
        bench_sub.add_parser(
            "leak", help="a node's memory after a day of --sales sales is closed vs a fresh start"
        )
    )
    add_console_arguments(
        bench_sub.add_parser(
            "console", help="a console with many venues of history and live relays (issue 15)"
        )
    )
    from meshpos.bench.sim import add_sim_arguments

    add_sim_arguments(
        bench_sub.add_parser(
            "sim", help="hundreds of simulated nodes on the bounded topology (issue 18)"
        )
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command = command_word(words)
    if argv is None and command in ALLOCATING:  # (``meshpos.start`` chose already; a no-op then)
        run_with_object_allocator()
    asked_help = {"-h", "--help"} & set(words[: words.index(command)] if command else words)
    parser = build_parser(None if asked_help else command)  # (`meshpos --help node`: every command)
    passed: list[str] = []
    if command == "service" and "--" in words:  # the service's own command line
        cut = words.index("--")
        words, passed = words[:cut], words[cut + 1 :]
    args = parser.parse_args(words)
    if args.command == "service":
        args.options = passed
    args.log_level_set = args.log_level is not None
    args.log_level = args.log_level or "WARNING"
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        parser.error(f"--log-level {args.log_level!r}: must be DEBUG, INFO, WARNING or ERROR")
    setup_logging(level, args.log_format)
    try:
        result: int = args.func(args)
        return result
    except MeshposError as exc:
        print(f"meshpos: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `meshpos status | head -1`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit either
        return 141  # as a command killed by SIGPIPE
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
