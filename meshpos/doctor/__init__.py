"""``meshpos doctor``: one command that says what is wrong with a device or a console, and what to do.

See :mod:`meshpos.doctor.node` (``--config node.toml``) and :mod:`meshpos.doctor.console`
(``--console``), and :mod:`meshpos.doctor.report` for the report, ``--json`` and the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from meshpos.doctor.report import Report
from meshpos.errors import ConfigError


def add_doctor_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from meshpos.doctor.node import BROWSE_SECONDS

    doctor = sub.add_parser(
        "doctor",
        help="check a device (--config node.toml) or a console (--console ...) and say what to do",
    )
    doctor.add_argument("--config", help="the node's TOML file: check this device")
    doctor.add_argument(
        "--console",
        action="store_true",
        help="check a console instead, given the options meshpos console takes (--db, --host, "
        "--port, --api-port, --token-file, --tls-cert, --tls-key, --venue)",
    )
    doctor.add_argument("--json", action="store_true", help="print the report as one JSON object")
    doctor.add_argument(
        "--browse-seconds",
        type=float,
        default=BROWSE_SECONDS,
        metavar="S",
        help=f"how long to listen for the venue's devices on mDNS (default {BROWSE_SECONDS:g})",
    )
    doctor.add_argument("--db", default="sqlite:///meshpos-console.db", help="with --console")
    doctor.add_argument("--host", default="127.0.0.1", help="with --console")
    doctor.add_argument("--port", type=int, default=8780, help="with --console")
    doctor.add_argument("--api-port", type=int, default=8781, help="with --console")
    doctor.add_argument("--token-file", default="console-admin.token", help="with --console")
    doctor.add_argument("--tls-cert", metavar="PEM", help="with --console")
    doctor.add_argument("--tls-key", metavar="PEM", help="with --console")
    doctor.add_argument("--venue", action="append", metavar="DIR", help="with --console")
    doctor.add_argument(
        "--ca-file",
        metavar="PEM",
        help="with --console --tls-cert: the CA(s) that signed its certificate (as the registers' "
        "console_ca_file); default: the system's CAs",
    )
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    if bool(args.config) == bool(args.console):
        raise ConfigError("meshpos doctor: give either --config node.toml or --console")
    if not 0.1 <= args.browse_seconds <= 60:
        raise ConfigError(f"--browse-seconds {args.browse_seconds:g}: must be from 0.1 to 60")
    quiet = not getattr(args, "log_level_set", False)  # every finding is in the report, once
    meshpos_log = logging.getLogger("meshpos")
    level = meshpos_log.level
    if quiet:
        meshpos_log.setLevel(logging.ERROR)
    try:
        report = _diagnose(args)
    finally:  # run in-process (tests, a program calling main), the caller keeps its logging
        meshpos_log.setLevel(level)
    print(report.to_json() if args.json else report.text(), flush=True)
    return report.exit_code


def _diagnose(args: argparse.Namespace) -> Report:
    if args.config:
        from meshpos.doctor.node import diagnose_node

        return asyncio.run(diagnose_node(Path(args.config), browse_seconds=args.browse_seconds))
    else:
        from meshpos.doctor.console import ConsoleSettings, diagnose_console

        settings = ConsoleSettings(
            db=args.db,
            host=args.host,
            port=args.port,
            api_port=args.api_port,
            token_file=Path(args.token_file),
            tls_cert=Path(args.tls_cert) if args.tls_cert else None,
            tls_key=Path(args.tls_key) if args.tls_key else None,
            venues=[Path(v) for v in args.venue or []],
            ca_file=Path(args.ca_file) if args.ca_file else None,
        )
        return asyncio.run(diagnose_console(settings))
