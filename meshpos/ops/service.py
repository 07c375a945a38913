"""``meshpos service install``: systemd units for a node and for the console.

docs/architecture.md (Operations). A register PC or the back-office box runs meshpos as a service: started at
boot, restarted when it fails, as a user of its own, with the rest of the system out of its reach. The unit
runs the same command a person would (``meshpos node --config ...``, ``meshpos console ...``), with every
path made absolute (a service has no current directory of the person's), and is checked with
``systemd-analyze verify`` where the machine has it.

Why these settings:

* ``Restart=on-failure`` every 2 s without a start limit (``StartLimitIntervalSec=0``): a crash or a kill -9
  loses nothing (an acknowledged sale is committed), so starting again is right, and a register whose LAN
  address comes up late at boot keeps trying instead of giving up after five tries; ``systemctl stop``
  is a clean stop and stays stopped.
* ``KillMode=mixed`` with ``TimeoutStopSec=30``: SIGTERM goes to meshpos alone, which says goodbye to its
  peers, commits what is left and closes its store; its compaction helper process is stopped by it (a
  SIGTERM to the whole group would kill the helper under a running merge, and the node would log it).
* ``User=`` a dedicated user (``meshpos`` by default) that owns the data directory; ``UMask=0077`` keeps
  the keys, tokens and database files its own.
* ``ProtectSystem=strict`` with ``ReadWritePaths=`` the data directory (the console: its working directory,
  its SQLite file's directory and the venue directories) and the ``Protect*``/``Restrict*`` options that do
  not get in the way: a node needs IPv4 sockets, UNIX sockets and netlink (the machine's addresses, for
  mDNS), nothing else. ``MemoryDenyWriteExecute`` is left out (libffi callbacks need writable code).
* The flags for one start only (``--init-database``, ``--new-receipt-series``) are refused: in a unit they
  would apply again at every restart.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from meshpos.errors import MeshposError

UNIT_DIR = Path("/etc/systemd/system")
DEFAULT_USER = "meshpos"
# options whose value is a path: made absolute in the unit
PATH_OPTIONS = (
    "--config",
    "--data-dir",
    "--venue",
    "--token-file",
    "--metrics-token-file",
    "--tls-cert",
    "--tls-key",
)
ONE_START_ONLY = ("--init-database", "--new-receipt-series")
_HOMES = ("/home", "/root", "/run/user")
_TMPS = ("/tmp", "/var/tmp")
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]{1,200}")
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


class ServiceError(MeshposError):
    """A unit that cannot be written as asked (what is wrong and what to do)."""

    code = "service"


@dataclass(frozen=True, slots=True)
class Unit:
    name: str  # e.g. meshpos-node-R1.service
    text: str


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What one unit runs: ``meshpos <argv>`` in ``workdir``, writing to ``writable``."""

    kind: str  # "node" or "console"
    name: str  # the unit's name without .service
    argv: tuple[str, ...]  # after the executable: global options, the subcommand and its options
    workdir: Path
    writable: tuple[Path, ...]
    after: tuple[str, ...] = ()  # further units to start after (a local PostgreSQL)


def absolute_argv(argv: Sequence[str], cwd: Path) -> list[str]:
    """``argv`` with the values of :data:`PATH_OPTIONS` (``--opt v`` or ``--opt=v``) and a relative
    ``sqlite:///`` database made absolute against ``cwd``; one-start flags refused."""
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        if name in ONE_START_ONLY:
            raise ServiceError(
                f"{name} is for one start only: run it once by hand; in a unit it would apply "
                "again at every restart"
            )
        if name in (*PATH_OPTIONS, "--db"):
            if not eq:
                if i + 1 >= len(words):
                    raise ServiceError(f"{name} needs a value")
                i += 1
                value = words[i]
            out += [name, _absolute_value(name, value, cwd)]
        else:
            out.append(word)
        i += 1
    return out


def _absolute_value(name: str, value: str, cwd: Path) -> str:
    if name != "--db":
        return str((cwd / value).resolve())
    parts = urlsplit(value)
    if parts.password:
        raise ServiceError(
            "--db holds a password: a unit file is readable by everyone; use a password file "
            "(~/.pgpass of the service user) or peer authentication instead"
        )
    if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return "sqlite:///" + str((cwd / value[len("sqlite:///") :]).resolve())
    return value


def sqlite_dir(argv: Sequence[str]) -> Path | None:
    """The directory of the console's SQLite file (it writes its journal beside it), if any."""
    for i, word in enumerate(argv):
        value = word.partition("=")[2] if word.startswith("--db=") else None
        if word == "--db" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None and value.startswith("sqlite:///"):
            return Path(value[len("sqlite:///") :]).parent
    return None


def values_of(argv: Sequence[str], option: str) -> list[str]:
    found = []
    for i, word in enumerate(argv):
        if word == option and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif word.startswith(option + "="):
            found.append(word.partition("=")[2])
    return found


def render(spec: ServiceSpec, *, executable: Path, user: str) -> Unit:
    """The unit file for ``spec``."""
    if not _USER_NAME.fullmatch(user):
        raise ServiceError(f"--user {user!r}: a system user name (lower case letters, digits, _ -)")
    if not _UNIT_NAME.fullmatch(spec.name):
        raise ServiceError(f"unit name {spec.name!r}: letters, digits and :_.- only")
    paths = [spec.workdir, *spec.writable, executable]
    in_home = any(_under(p, _HOMES) for p in paths)
    in_tmp = any(_under(p, _TMPS) for p in paths)  # a private /tmp would hide them
    after = " ".join(["network-online.target", *spec.after])
    writable = " ".join(_quote(str(p)) for p in outermost(spec.writable))
    command = " ".join(_quote(w) for w in [str(executable), *spec.argv])
    what = "node" if spec.kind == "node" else "console"
    lines = [
        "# written by `meshpos service install`; docs: README.md (Running as a service)",
        "[Unit]",
        f"Description=meshpos {what} ({spec.name})",
        "Wants=network-online.target",
        f"After={after}",
        "StartLimitIntervalSec=0",  # never give up restarting: a register must come back
        "",
        "[Service]",
        "Type=exec",
        f"User={user}",
        f"Group={user}",
        f"WorkingDirectory={_quote(str(spec.workdir))}",
        f"ExecStart={command}",
        "Environment=PYTHONUNBUFFERED=1",
        f"SyslogIdentifier={spec.name}",
        "Restart=on-failure",
        "RestartSec=2s",
        "KillMode=mixed",
        "TimeoutStopSec=30s",
        "UMask=0077",
        "LimitNOFILE=65536",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ProtectHome={'read-only' if in_home else 'yes'}",
        f"ReadWritePaths={writable}",
        f"PrivateTmp={'no' if in_tmp else 'yes'}",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "SystemCallArchitectures=native",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "CapabilityBoundingSet=",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return Unit(f"{spec.name}.service", "\n".join(lines))


def _under(path: Path, tops: Sequence[str]) -> bool:
    return any(path == Path(top) or Path(top) in path.parents for top in tops)


def outermost(paths: Sequence[Path]) -> list[Path]:
    """``paths`` without repeats and without those inside another one, sorted."""
    unique = sorted(set(paths))
    return [p for p in unique if not any(q != p and q in p.parents for q in unique)]


def _quote(word: str) -> str:
    """A word as systemd's command line and path settings read it: quoted when it has to be."""
    if word and not re.search(r"[\s\"'\\$%;]", word):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%")
    return f'"{escaped}"'


def verify(paths: Sequence[Path]) -> str | None:
    """What ``systemd-analyze verify`` says about the units ("" when it has nothing to say), or None
    when this machine has no systemd-analyze."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    done = subprocess.run(
        [tool, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60
    )
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0 and not said:
        said = f"systemd-analyze verify exited with {done.returncode}"
    return said


def install(
    spec: ServiceSpec, *, unit_dir: Path, executable: Path, user: str, check: bool = True
) -> Path:
    """Write the unit into ``unit_dir`` and check it; the file written (removed again if the check
    finds a problem)."""
    unit = render(spec, executable=executable, user=user)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path = unit_dir / unit.name
        path.write_text(unit.text, encoding="utf-8")
        path.chmod(0o644)
    except OSError as exc:
        raise ServiceError(f"cannot write {unit_dir / unit.name}: {exc.strerror or exc}") from None
    if check:
        said = verify([path])
        if said:
            path.unlink()
            raise ServiceError(f"systemd-analyze verify refused {unit.name}: {said}")
    return path


def node_spec(
    argv: Sequence[str], node_id: str, data_dir: Path, identity_dir: Path, cwd: Path
) -> ServiceSpec:
    """The node's unit: ``meshpos node`` with ``argv`` (its options, paths made absolute); it writes
    in its data directory (and its identity directory, which a restore writes)."""
    return ServiceSpec(
        "node",
        f"meshpos-node-{node_id}",
        ("node", *absolute_argv(argv, cwd)),
        cwd,
        tuple(dict.fromkeys([(cwd / data_dir).resolve(), (cwd / identity_dir).resolve()])),
    )


def console_spec(argv: Sequence[str], cwd: Path, name: str = "meshpos-console") -> ServiceSpec:
    """The console's unit: ``meshpos console`` with ``argv``; it writes in its working directory (the
    token file, a SQLite database by default), its SQLite file's directory and the venue directories."""
    full = absolute_argv(argv, cwd)
    writable = [cwd, *(Path(v) for v in values_of(full, "--venue"))]
    db_dir = sqlite_dir(full)
    if db_dir is not None:
        writable.append(db_dir)
    for token in (*values_of(full, "--token-file"), *values_of(full, "--metrics-token-file")):
        writable.append(Path(token).parent)
    db = values_of(full, "--db")
    local_pg = bool(db) and db[-1].startswith("postgres") and _local(db[-1])
    return ServiceSpec(
        "console",
        name,
        ("console", *full),
        cwd,
        tuple(writable),
        ("postgresql.service",) if local_pg else (),
    )


def _local(url: str) -> bool:
    host = urlsplit(url).hostname
    return host in (None, "", "localhost", "127.0.0.1", "::1")


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    inst = sub.add_parser(
        "install",
        help="write a systemd unit for a node or the console and check it",
        description="Write a systemd unit running `meshpos node` or `meshpos console` with the "
        "options after `--` (e.g. `meshpos service install node -- --config /etc/meshpos/node.toml`)"
        ", then check it with systemd-analyze verify.",
    )
    inst.add_argument("what", choices=("node", "console"), help="which service")
    inst.add_argument(
        "--user", default=DEFAULT_USER, help="the system user it runs as (owns the data)"
    )
    inst.add_argument("--unit-dir", type=Path, default=UNIT_DIR, help="where to write the unit")
    inst.add_argument("--name", default=None, help="the unit's name (default meshpos-node-<id>)")
    inst.add_argument("--no-verify", action="store_true", help="do not run systemd-analyze verify")
    # the command's own options come after `--` (split off by the CLI before parsing: argparse
    # cannot take a trailing list of options as one positional)
    inst.set_defaults(options=[])


def executable() -> Path:
    """The ``meshpos`` program of this installation: beside the interpreter running now (a venv's
    bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "meshpos"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = shutil.which("meshpos")
    if found is None:
        raise ServiceError("cannot find the meshpos program: install meshpos on this machine first")
    return Path(found).absolute()


def next_steps(path: Path, spec: ServiceSpec, user: str) -> str:
    """What a person does after the unit is written."""
    owned = " ".join(_quote(str(p)) for p in outermost(spec.writable))
    unit = path.name
    return "\n".join(
        [
            f"wrote {path}",
            "then, as root:",
            f"  id {user} || useradd --system --home-dir {_quote(str(spec.workdir))} "
            f"--shell /usr/sbin/nologin {user}",
            f"  chown -R {user}: {owned}",
            "  systemctl daemon-reload",
            f"  systemctl enable --now {unit}",
            f"  journalctl -u {unit} -f    # its log",
        ]
    )


def cwd() -> Path:
    return Path(os.getcwd())
