"""Node configuration: one frozen dataclass built from a TOML file, MESHPOS_* environment variables and flags.

Precedence is flags > environment > file > defaults, so an operator can override one value on a register
without editing its file. Every invalid value is reported in one line with where it came from (the file,
variable or flag) and the value: a register that will not start must say why without a traceback.
Reading the file itself (its ``[node]`` table, a value as the file spells it) is meshpos.config_file's.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from meshpos.config_checks import (
    CONSOLE_RESIGN_S,
    MIN_BOUND_S,
    InvalidSetting,
    check_yjs_tokens,
    console_url_problem,
    seconds_between,
    whole,
)
from meshpos.config_file import read_table, shown, spelling
from meshpos.errors import ConfigError
from meshpos.model.roles import NODE_ROLES, is_node_id
from meshpos.sync import SyncConfig

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Flags for one start only: a setting in a file or the environment would apply at every start and
# silently undo what the flag guards (an empty database where one existed).
_FLAG_ONLY = {"init_database": "--init-database"}


DB_FILE = "node.db"  # in data_dir: the node's SQLite file
SESSION_IDLE_S = 12 * 3600.0
"""How long a PIN sign-in on the register page lasts unused by default (node.toml ``session_idle_s``,
meshpos.web.sessions): longer than a shift's quiet spell, so a cashier is not asked again mid-shift."""
# the synchronizer's defaults are its own (meshpos.sync SyncConfig): a venue tunes some of them here
_SYNC_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(SyncConfig)}
NAME_MAX = 255  # bytes in one name of a path (ext4, xfs, btrfs, tmpfs: a longer one cannot exist)


#: how long a receipt number's mark may wait after its receipt by default (``mark_wait_ms``)
MARK_WAIT_MS = 1000.0


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a node needs to start. Built once by the CLI; never mutated."""

    node_id: str
    role: str = "register"
    venue_id: str = ""
    data_dir: Path = Path("meshpos-data")
    priority: int = 100
    log_level: str = "INFO"
    # the mesh: where this node listens for its peers and which interfaces mDNS uses
    listen_host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (discovery advertises the real one)
    mdns_interfaces: tuple[str, ...] = ()  # empty: the listen address only
    identity_dir: Path | None = None  # default: <data_dir>/identity
    api_host: str = "127.0.0.1"
    api_port: int = (
        0  # the local status / JSON API; 0: any free port (written to <data_dir>/api.url)
    )
    # the console (only a node that can reach it becomes a relay candidate)
    console_url: str = ""
    console_token: str = ""
    console_ca_file: Path | None = None  # PEM CA(s) for a wss:// console; default: the system's CAs
    # take what the console holds and reports only as it signed it (docs/architecture.md (Security)):
    # "auto": from the first statement the venue's console signed on (remembered in data_dir)
    console_signed: bool | Literal["auto"] = "auto"
    heartbeat_interval: float = 1.0
    # how long a tap that may wait (opening an order, a line, a discount) holds its update, to leave
    # merged with the sale's next ones (docs/architecture.md (Links), coalesce); 0: each at once
    linger_ms: float = 25.0
    # how long a receipt number's mark may wait after its receipt, to leave merged with the next ones
    # (model/numbering.py, issue 18, marks); 0: each leaves with its receipt
    mark_wait_ms: float = MARK_WAIT_MS
    pin_lockout_s: float = 30.0  # the first lock after wrong PINs; each further lock doubles it
    session_idle_s: float = SESSION_IDLE_S  # a PIN sign-in on the register page, unused, ends
    # a strict node (console_signed) is green only while the console's latest signed word is at most
    # console_fresh_s old and its own changes are in the console's signed state within
    # upload_bound_s of being made (meshpos.sync._fresh; docs/architecture.md (Status))
    console_fresh_s: float = _SYNC_DEFAULTS["console_fresh_s"]
    upload_bound_s: float = _SYNC_DEFAULTS["upload_bound_s"]
    # a past business day the console holds whole closes (unloads) once untouched this long
    # (docs/architecture.md (Documents)); tests set it low
    day_idle_seconds: float = 60.0
    # a register drops a closed business day (the console held all of it) once its date is more than
    # this many days before today's business day; 0 keeps every day (docs/architecture.md (Documents)).
    # 62: this month and the whole last one stay (its reports, refunds and reprints within a month's
    # return window with room to spare), ~125 MB at 1,000 receipts a day instead of ~740 MB a year
    keep_days: int = 62
    # ``meshpos node --init-database`` only: begin an empty database where one existed (see Node.start)
    init_database: bool = False
    # bearer tokens for stock Yjs clients on /yjs/<document> (docs/api.md, Yjs), each
    # "<name>:<role>:<token>" (role: register, kds or reader); none: device certificates only
    yjs_tokens: tuple[str, ...] = ()
    # where a node with yjs_tokens serves token clients only (browsers: TLS that asks for no client
    # certificate, which Chromium cannot answer; the mesh port keeps asking); 0: any free port (the
    # ready line and /status name it)
    yjs_port: int = 0

    def __post_init__(self) -> None:
        if not is_node_id(self.node_id):
            raise InvalidSetting(
                "node_id",
                f"node_id {self.node_id!r}: use 1-32 letters, digits, '-' or '_', starting with a letter or digit",
            )
        if self.role not in NODE_ROLES:
            raise InvalidSetting(
                "role", f"role {self.role!r}: must be one of {', '.join(NODE_ROLES)}"
            )
        if not whole(self.priority) or not 0 <= self.priority <= 1_000_000:
            raise InvalidSetting(
                "priority", f"priority {self.priority!r}: must be a whole number from 0 to 1000000"
            )
        if not isinstance(self.console_signed, bool) and self.console_signed != "auto":
            raise InvalidSetting(
                "console_signed", _CONSOLE_SIGNED_WRONG.format(repr(self.console_signed))
            )
        if self.log_level not in _LOG_LEVELS:
            raise InvalidSetting(
                "log_level",
                f"log_level {self.log_level!r}: must be one of {', '.join(_LOG_LEVELS)}",
            )

        for name in ("port", "api_port", "yjs_port"):
            value = getattr(self, name)
            if not whole(value) or not 0 <= value <= 65535:
                raise InvalidSetting(
                    name, f"{name} {value!r}: must be a whole number from 0 to 65535"
                )
        for name, address in [
            ("listen_host", self.listen_host),
            ("api_host", self.api_host),
            *(("mdns_interfaces", a) for a in self.mdns_interfaces),
        ]:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise InvalidSetting(name, f"{name} {address!r}: must be an IPv4 address") from None
        if self.listen_host == "0.0.0.0" and not self.mdns_interfaces:
            raise InvalidSetting(
                "listen_host",
                "listen_host 0.0.0.0 needs mdns_interfaces: name the LAN address(es) to announce on",
            )
        seconds_between("heartbeat_interval", self.heartbeat_interval, 0.05, 60)
        if not 0 <= self.linger_ms <= 1000:
            raise InvalidSetting("linger_ms", f"linger_ms {self.linger_ms!r}: must be 0 to 1000")
        if not 0 <= self.mark_wait_ms <= 10_000:
            raise InvalidSetting(
                "mark_wait_ms", f"mark_wait_ms {self.mark_wait_ms!r}: must be 0 to 10000"
            )
        if self.console_url:
            problem = console_url_problem(self.console_url)
            if problem:
                raise InvalidSetting("console_url", f"console_url {self.console_url!r}: {problem}")
        if not self.console_token.isprintable() or " " in self.console_token:
            raise InvalidSetting(
                "console_token",
                "console_token: must be one word of visible characters (no spaces or control "
                "characters)",
            )
        seconds_between("pin_lockout_s", self.pin_lockout_s, 0.1, 3600)
        seconds_between("session_idle_s", self.session_idle_s, 60, 7 * 86_400)
        seconds_between(
            "console_fresh_s",
            self.console_fresh_s,
            MIN_BOUND_S,
            3600,
            f"the console signs again every {CONSOLE_RESIGN_S:g} s: a shorter bound turns an "
            "honest venue yellow",
        )
        seconds_between(
            "upload_bound_s",
            self.upload_bound_s,
            MIN_BOUND_S,
            3600,
            "a sale reaches the console in ~1 s: a shorter bound turns an honest venue yellow",
        )
        seconds_between("day_idle_seconds", self.day_idle_seconds, 0.05, 86_400)
        if not whole(self.keep_days) or not 0 <= self.keep_days <= 36_500:
            raise InvalidSetting(
                "keep_days",
                f"keep_days {self.keep_days!r}: must be a whole number of days from 0 (keep every "
                "day) to 36500",
            )
        if bool(self.console_url) != bool(self.console_token):
            raise InvalidSetting(
                "console_url" if self.console_url else "console_token",
                "console_url and console_token go together: set both or neither",
            )
        check_yjs_tokens(self.yjs_tokens)
        if self.yjs_port and not self.yjs_tokens:
            raise InvalidSetting(
                "yjs_port",
                f"yjs_port {self.yjs_port}: the token port serves yjs_tokens' clients only: "
                "set yjs_tokens too, or leave yjs_port out",
            )
        if self.yjs_port and self.yjs_port in (self.port, self.api_port):
            raise InvalidSetting(
                "yjs_port",
                f"yjs_port {self.yjs_port}: the mesh port or the API port already uses it; "
                "token clients need a port of their own",
            )
        if self.console_ca_file is not None and not self.console_url.startswith("wss://"):
            raise InvalidSetting(
                "console_ca_file",
                f"console_ca_file {str(self.console_ca_file)!r} checks a TLS console: it needs a "
                f"wss:// console_url, not {self.console_url or 'none'!r}",
            )

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def identity_path(self) -> Path:
        return self.identity_dir if self.identity_dir is not None else self.data_dir / "identity"

    @property
    def interfaces(self) -> tuple[str, ...]:
        return self.mdns_interfaces or (self.listen_host,)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_CONSOLE_SIGNED_WRONG = 'console_signed = {}: must be true, false or "auto"'
_KINDS = {
    "int": "a whole number",
    "float": "a finite number",
    "bool": "true or false",
    "Path": "a file or directory path",
    "Path | None": "a file or directory path",
    "tuple[str, ...]": "a list of text values",
    "str": "text",
}


_DECIMAL = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
"""A decimal setting as an environment override writes it: ASCII digits, a point, an exponent."""


def _coerce(name: str, raw: Any, source: str, spelled: str | None = None) -> Any:
    """``raw`` as the type of setting ``name``; no silent rounding: ``port = 22.7`` is refused, not 22.

    ``spelled`` is the value as the file writes it (``1e400``, where TOML hands us ``inf``)."""
    kind = str(_FIELDS[name].type)
    try:
        if kind == "int":
            if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,18}\s*", raw):
                return int(raw)
            if not whole(raw):
                raise ValueError
            return raw
        if kind == "float":
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError
            if isinstance(raw, str) and not _DECIMAL.fullmatch(raw):
                raise ValueError  # float() also takes "1_0", "٣" and "infinity"
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
        if name == "console_signed":
            if isinstance(raw, bool):
                return raw
            word = raw.strip().lower() if isinstance(raw, str) else None
            if word not in ("true", "false", "auto"):
                raise ValueError
            return word == "true" if word != "auto" else word
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if kind == "Path" or kind == "Path | None":
            if not isinstance(raw, str) or not raw.strip() or "\0" in raw:
                raise ValueError
            if any(
                len(part.encode(errors="surrogateescape")) > NAME_MAX for part in Path(raw).parts
            ):
                # looked up, it raised OSError (File name too long): a start said "unexpected error"
                raise ConfigError(
                    f"{source}: {name} = {spelled or shown(raw)}: a name in the path is longer "
                    f"than {NAME_MAX} bytes, more than a file system holds"
                )
            return Path(raw)
        if kind == "tuple[str, ...]":
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
        if not isinstance(raw, str):
            raise ValueError
        return raw.upper() if name == "log_level" else raw
    except (ValueError, OverflowError):
        if name == "console_signed":
            raise ConfigError(
                f"{source}: " + _CONSOLE_SIGNED_WRONG.format(spelled or shown(raw))
            ) from None
        raise ConfigError(
            f"{source}: {name} = {spelled or shown(raw)} is not {_KINDS.get(kind, kind)}"
        ) from None


def write_config_file(
    path: Path, values: Mapping[str, str | int | float | bool | list[str]]
) -> None:
    """Write ``values`` as the ``[node]`` table of a node.toml (what the demo, chaos and benchmarks
    generate). JSON spells these scalars and string lists exactly as TOML does."""
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    lines = ["[node]"] + [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


#: ``MESHPOS_*`` variables that are not settings of a node but are read by programs beside it (the
#: docs/api.md example's Yjs client reads these four): never a near miss of a setting
CLIENT_VARIABLES = frozenset(
    {"MESHPOS_NODE", "MESHPOS_CA", "MESHPOS_SERVERNAME", "MESHPOS_YJS_TOKEN"}
)


def near_misses(env: Mapping[str, str] | None = None) -> list[str]:
    """A line for each ``MESHPOS_*`` variable that is no setting but nearly spells one.

    Other programs share the prefix (a Yjs client's, the tests' and benches'), so an unknown name
    is not an error; but ``MESHPOS_CONSOLE_URI`` for ``MESHPOS_CONSOLE_URL`` started a register
    with no console and no word (red, fourteenth session): the node warns at its start."""
    lines = []
    for key in sorted(env if env is not None else os.environ):
        name = key[len("MESHPOS_") :].lower()
        if not key.startswith("MESHPOS_") or name in _FIELDS or key in CLIENT_VARIABLES:
            continue
        near = difflib.get_close_matches(name, _SETTINGS, n=1, cutoff=0.8)
        if near:
            lines.append(
                f"environment {key} is not a setting and is ignored: "
                f"did you mean MESHPOS_{near[0].upper()}?"
            )
    return lines


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config; raise ConfigError naming the file, variable or flag that is wrong, and its value."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        table, text = read_table(path)
        for key, raw in table.items():
            if key not in _FIELDS:
                near = difflib.get_close_matches(key, _SETTINGS, n=1)
                meant = f"did you mean {near[0]}? " if near else ""
                raise ConfigError(
                    f"{path}: unknown setting {key!r} ({meant}known: {', '.join(_SETTINGS)})"
                )
            if key in _FLAG_ONLY:
                raise ConfigError(f"{path}: {key} is not a setting: use {_FLAG_ONLY[key]} once")
            values[key] = _beside(path, _coerce(key, raw, str(path), spelling(text, key)), key)
            sources[key] = str(path)
    for key, raw in (env if env is not None else os.environ).items():
        if key.startswith("MESHPOS_"):
            name = key[len("MESHPOS_") :].lower()
            if name in _FLAG_ONLY:
                raise ConfigError(f"environment {key}: not a setting: use {_FLAG_ONLY[name]} once")
            if name in _FIELDS:
                values[name] = _coerce(name, raw, f"environment {key}")
                sources[name] = f"environment {key}"
    for key, raw in (overrides or {}).items():
        if raw is not None:
            flag = f"--{key.replace('_', '-')}"
            values[key] = _coerce(key, raw, flag)
            sources[key] = flag
    if "node_id" not in values:
        if path is None:  # `meshpos status` typed without its --config
            raise ConfigError(
                "no config: give --config node.toml (the device's file, with node_id under [node]), "
                "or set MESHPOS_NODE_ID"
            )
        raise ConfigError(
            f"{path}: node_id is not set (config file [node] node_id, MESHPOS_NODE_ID or --node-id)"
        )
    try:
        return Config(**values)
    except InvalidSetting as exc:
        source = sources.get(exc.setting)
        if source is None:
            raise
        raise ConfigError(f"{source}: {exc.message}") from None


_SETTINGS = [name for name in _FIELDS if name not in _FLAG_ONLY]


def _beside(config: Path, value: Any, key: str = "") -> Any:
    """A relative path written in a config file is relative to that file's directory, not to the cwd
    of whoever runs ``meshpos`` (``data_dir = "data"`` beside node.toml is the same directory from any
    cwd, a service's or a shell's); an absolute one stays as written. A flag's or an environment
    variable's path is the cwd's, as a shell's is.

    Releases before this one read it from the cwd: a device upgraded with a node.toml whose relative
    ``data_dir`` or ``identity_dir`` held its data from another cwd would start on an empty directory
    (a new database, a new receipt series, its day's sales out of sight). Where the cwd's reading
    holds what the file's reading lacks, the config is refused, naming both paths and the fix."""
    if not isinstance(value, Path) or value.is_absolute():
        return value
    beside = Path(os.path.abspath(config.parent / value))
    held = _HELD_IN.get(key)
    old = Path(os.path.abspath(value))
    if held and old != beside and (old / held).exists() and not (beside / held).exists():
        raise ConfigError(
            f"{config}: {key} = {str(value)!r} is read beside the file ({beside}), which holds no "
            f"{held}; {old} (the reading of releases before this one, from the current directory) "
            f"holds one: write {key} = {str(old)!r} in {config} to keep using it"
        )
    return beside


# what a directory setting holds once used: its reading from the cwd is checked against it (_beside);
# the device key's name is trust/identity.KEY_FILE (tests/test_config_paths.py checks they agree)
_HELD_IN = {"data_dir": DB_FILE, "identity_dir": "device.key"}
