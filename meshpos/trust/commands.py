"""CLI subcommands for trust: ``venue init``, ``venue console-key``, ``venue console-token``, ``pair``,
``enroll`` and ``revoke`` (also ``venue revoke``).

``revoke --node URL`` (or ``--config node.toml``) also posts the signed entry to a running node's local
API (``POST /api/denylist``); the node drops the device at once and spreads the entry through the mesh.

``meshpos.cli`` adds them with :func:`add_trust_commands`; each handler returns an exit code and raises a
:class:`MeshposError` for anything the operator must fix (printed as one line by ``cli.main``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from meshpos.errors import ConfigError, MeshposError
from meshpos.localapi import LocalApi
from meshpos.model.roles import NODE_ROLES
from meshpos.trust.authority import CONSOLE_TOKEN, init_venue, load_venue
from meshpos.trust.console_key import issue_console_key
from meshpos.trust.enroll import enroll, serve_pairing
from meshpos.trust.pairing import DEFAULT_TTL, MAX_TTL, PairingCode
from meshpos.urls import url_problem


def add_trust_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    venue = sub.add_parser("venue", help="manage the venue certificate authority")
    venue_sub = venue.add_subparsers(dest="venue_command", required=True, metavar="ACTION")
    init = venue_sub.add_parser("init", help="create a venue CA in a new directory")
    init.add_argument("--dir", required=True, type=Path, help="directory for the venue's CA files")
    init.add_argument("--name", required=True, help="the venue's name, e.g. 'Cafe Central'")
    init.add_argument("--venue-id", default=None, help="venue id (default: a new UUID)")
    init.set_defaults(func=_cmd_venue_init)
    key = venue_sub.add_parser(
        "console-key",
        help="make (or replace) the console's signing key for a venue made before it had one",
    )
    key.add_argument("--dir", required=True, type=Path, help="the venue directory")
    key.set_defaults(func=_cmd_console_key)
    token = venue_sub.add_parser(
        "console-token",
        help="replace the venue token the relays present to the console (a register was stolen)",
    )
    token.add_argument("--dir", required=True, type=Path, help="the venue directory")
    token.add_argument(
        "--new", action="store_true", required=True, help="make a new token (the old one stops)"
    )
    token.set_defaults(func=_cmd_console_token)
    _revoke_arguments(
        venue_sub.add_parser(
            "revoke", help="put a device on the venue's deny-list (= meshpos revoke)"
        )
    )

    pair = sub.add_parser("pair", help="show a one-time code and enroll one device with it")
    pair.add_argument("--venue", required=True, type=Path, help="the venue directory")
    pair.add_argument("--role", required=True, choices=NODE_ROLES, help="role of the new device")
    pair.add_argument("--device", default=None, help="accept only this device id")
    pair.add_argument("--host", default="127.0.0.1", help="address to listen on (one interface)")
    pair.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    pair.add_argument(
        "--ttl",
        type=float,
        default=DEFAULT_TTL,
        help=f"seconds the code stays valid (default {DEFAULT_TTL:g}, at most {MAX_TTL:g})",
    )
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

    _revoke_arguments(sub.add_parser("revoke", help="put a device on the venue's deny-list"))


def _revoke_arguments(revoke: argparse.ArgumentParser) -> None:
    revoke.add_argument("device", help="the device id to revoke")
    revoke.add_argument("--venue", required=True, type=Path, help="the venue directory")
    revoke.add_argument("--reason", default="", help="why (shown with the deny-list entry)")
    target = revoke.add_mutually_exclusive_group()
    target.add_argument(
        "--node",
        metavar="URL",
        help="also push the entry to this running node's local API (its <data_dir>/api.url); "
        "the node refuses the device at once and spreads the entry through the mesh",
    )
    target.add_argument(
        "--config",
        type=Path,
        metavar="TOML",
        help="like --node, for the node of this config file on this machine (its api.url, api.token)",
    )
    revoke.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="with --node: the node's API token (its <data_dir>/api.token)",
    )
    revoke.set_defaults(func=_cmd_revoke)


def _cmd_venue_init(args: argparse.Namespace) -> int:
    authority = init_venue(args.dir, args.name, args.venue_id)
    issue_console_key(authority)  # the console signs what it says of itself (Security)
    print(
        f"created venue {authority.name!r} (venue id {authority.venue_id}) in {authority.directory}"
    )
    return 0


def _cmd_console_key(args: argparse.Namespace) -> int:
    authority = load_venue(args.dir)
    cert = issue_console_key(authority)
    print(
        f"made the console's signing key of venue {authority.venue_id} ({cert}); restart the "
        "console with --venue on this directory; each device takes the console's word only as it "
        "signed it from its first signed statement on (console_signed = auto, the default)"
    )
    return 0


def _cmd_console_token(args: argparse.Namespace) -> int:
    authority = load_venue(args.dir)
    authority.replace_console_token()
    print(
        f"made a new console token for venue {authority.venue_id} in "
        f"{authority.directory / CONSOLE_TOKEN}; restart meshpos console with --venue on this "
        "directory (the old token is refused from then on) and set console_token to the new one in "
        "the node.toml of every register that reaches the console"
    )
    return 0


def _cmd_pair(args: argparse.Namespace) -> int:
    from meshpos.listen_check import check_listen

    authority = load_venue(args.venue)
    # a pair of an earlier register still waiting on --port (the README runs it with &): one line
    check_listen("meshpos pair", [("--host", "--port", args.host, args.port)])
    host = f"[{args.host}]" if ":" in args.host else args.host

    def ready(port: int, code: PairingCode) -> None:
        print(f"pairing code: {code.display}")
        print(f"listening on ws://{host}:{port}")
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + args.ttl))
        print(f"the code works once, until {until}; a wrong code ends it", flush=True)

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
    if not 0 < args.timeout <= MAX_TTL:  # nan, 0 and -1 were taken: "no answer ... within nan s"
        raise ConfigError(
            f"--timeout {args.timeout:g}: must be more than 0 and at most {MAX_TTL:g} seconds"
        )
    identity = asyncio.run(
        enroll(args.server, args.code, args.device, args.dir, timeout=args.timeout)
    )
    print(
        f"enrolled as {identity.device_id} ({identity.role}) in venue {identity.venue_id}; "
        f"identity saved in {args.dir}"
    )
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    target = _push_target(args)  # a bad target is refused before anything is signed
    authority = load_venue(args.venue)
    entry = authority.revoke(args.device, args.reason)
    print(json.dumps(entry, sort_keys=True), flush=True)
    if target is not None:
        answer = push_revocation(*target, entry, authority.venue_id, args.venue)
        print(
            f"pushed to {answer.get('node', '?')} at {target[0]}: {answer.get('message', answer)}"
        )
    return 0


def _push_target(args: argparse.Namespace) -> tuple[str, str] | None:
    """``(base URL, token)`` of the node to push to, from ``--node``/``--token-file`` or ``--config``."""
    if args.config is not None:
        if args.token_file is not None:
            raise ConfigError("--token-file goes with --node; --config reads the node's own token")
        from meshpos.config import load_config

        config = load_config(args.config)
        url_file, token_file = config.data_dir / "api.url", config.data_dir / "api.token"
        try:
            base = url_file.read_text().strip()
        except FileNotFoundError:
            raise MeshposError(
                f"node {config.node_id} is not running (no {url_file}); start it, or push later"
            ) from None
        return base, _read_token(token_file)
    if args.node is None:
        if args.token_file is not None:
            raise ConfigError("--token-file goes with --node URL")
        return None
    problem = url_problem(args.node, ("http", "https"))
    if problem is not None:
        raise ConfigError(
            f"--node {args.node!r}: expected the node's API address, http://HOST:PORT: {problem}"
        )
    if args.token_file is None:
        raise ConfigError("--node needs --token-file: the node's <data_dir>/api.token")
    return args.node.rstrip("/"), _read_token(args.token_file)


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"API token file {str(path)!r}: {exc.strerror or exc}") from None
    if not token:
        raise ConfigError(f"API token file {str(path)!r} is empty")
    return token


def push_revocation(
    base: str, token: str, entry: dict[str, Any], venue_id: str, venue_dir: Path | str = "venue"
) -> dict[str, Any]:
    """Post a signed entry to a running node (``POST /api/denylist``); its answer, or MeshposError
    saying why not. The entry stays recorded in the venue directory either way."""
    again = f"the revocation is recorded in {venue_dir}; run the same command again to push it"
    api = LocalApi(base, token)  # a LAN node: no proxy
    answer = api.request("POST", "/api/denylist", {**entry, "venue": venue_id}, timeout=15)
    if answer.status == 0:
        raise MeshposError(f"the node at {base} does not answer ({answer.body}); {again}")
    if not answer.ok:
        code, message = answer.error
        if not code:
            code, message = f"HTTP {answer.status}", "not a meshpos node's answer"
        if answer.status == 401:
            raise MeshposError(f"the node at {base} refused the API token ({code}); {again}")
        if (
            answer.status == 422
        ):  # wrong venue, not signed by its authority: sending again cannot help
            raise MeshposError(f"the node at {base} refused the revocation ({code}): {message}")
        raise MeshposError(
            f"the node at {base} refused the revocation ({code}): {message}; {again}"
        )
    try:
        result = answer.json()
    except ValueError as exc:
        raise MeshposError(f"the node at {base} does not answer ({exc}); {again}") from None
    if not isinstance(result, dict):
        raise MeshposError(f"the node at {base} does not answer (not a JSON object); {again}")
    return result
