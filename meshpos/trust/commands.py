"""CLI subcommands for trust: ``venue init``, ``pair``, ``enroll`` and ``revoke``.

``meshpos.cli`` adds them with :func:`add_trust_commands`; each handler returns an exit code and raises a
:class:`MeshposError` for anything the operator must fix (printed as one line by ``cli.main``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from meshpos.trust.authority import init_venue, load_venue
from meshpos.trust.enroll import enroll, serve_pairing
from meshpos.trust.names import ROLES
from meshpos.trust.pairing import DEFAULT_TTL, PairingCode


def add_trust_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    venue = sub.add_parser("venue", help="manage the venue certificate authority")
    venue_sub = venue.add_subparsers(dest="venue_command", required=True, metavar="ACTION")
    init = venue_sub.add_parser("init", help="create a venue CA in a new directory")
    init.add_argument("--dir", required=True, type=Path, help="directory for the venue's CA files")
    init.add_argument("--name", required=True, help="the venue's name, e.g. 'Cafe Central'")
    init.add_argument("--venue-id", default=None, help="venue id (default: a new UUID)")
    init.set_defaults(func=_cmd_venue_init)

    pair = sub.add_parser("pair", help="show a one-time code and enroll one device with it")
    pair.add_argument("--venue", required=True, type=Path, help="the venue directory")
    pair.add_argument("--role", required=True, choices=ROLES, help="role of the new device")
    pair.add_argument("--device", default=None, help="accept only this device id")
    pair.add_argument("--host", default="127.0.0.1", help="address to listen on (one interface)")
    pair.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    pair.add_argument("--ttl", type=float, default=DEFAULT_TTL, help="seconds the code stays valid")
    pair.add_argument(
        "--reissue", action="store_true", help="allow a device id that was issued before"
    )
    pair.set_defaults(func=_cmd_pair)

    enr = sub.add_parser("enroll", help="enroll this device with a pairing code")
    enr.add_argument("--code", required=True, help="the code shown by 'meshpos pair'")
    enr.add_argument("--server", required=True, help="the URL shown by 'meshpos pair' (ws://...)")
    enr.add_argument("--device", required=True, help="this device's id")
    enr.add_argument("--dir", required=True, type=Path, help="directory for this device's identity")
    enr.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    enr.set_defaults(func=_cmd_enroll)

    revoke = sub.add_parser("revoke", help="put a device on the venue's deny-list")
    revoke.add_argument("device", help="the device id to revoke")
    revoke.add_argument("--venue", required=True, type=Path, help="the venue directory")
    revoke.add_argument("--reason", default="", help="why (shown with the deny-list entry)")
    revoke.set_defaults(func=_cmd_revoke)


def _cmd_venue_init(args: argparse.Namespace) -> int:
    authority = init_venue(args.dir, args.name, args.venue_id)
    print(
        f"created venue {authority.name!r} (venue id {authority.venue_id}) in {authority.directory}"
    )
    return 0


def _cmd_pair(args: argparse.Namespace) -> int:
    authority = load_venue(args.venue)
    host = f"[{args.host}]" if ":" in args.host else args.host

    def ready(port: int, code: PairingCode) -> None:
        print(f"pairing code: {code.display}")
        print(f"listening on ws://{host}:{port}", flush=True)

    result = asyncio.run(
        serve_pairing(
            authority,
            args.role,
            args.host,
            args.port,
            ttl=args.ttl,
            device_id=args.device,
            on_ready=ready,
            reissue=args.reissue,
        )
    )
    print(f"enrolled device {result.device_id} as {result.role} (serial {result.serial})")
    return 0


def _cmd_enroll(args: argparse.Namespace) -> int:
    identity = asyncio.run(
        enroll(args.server, args.code, args.device, args.dir, timeout=args.timeout)
    )
    print(
        f"enrolled as {identity.device_id} ({identity.role}) in venue {identity.venue_id}; "
        f"identity saved in {args.dir}"
    )
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    entry = load_venue(args.venue).revoke(args.device, args.reason)
    print(json.dumps(entry, sort_keys=True))
    return 0
