"""Node configuration: one frozen dataclass built from a TOML file, MESHPOS_* environment variables and flags.

Precedence is flags > environment > file > defaults, so an operator can override one value on a register
without editing its file. Every invalid value is reported with where it came from.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpos.errors import ConfigError

ROLES = ("register", "kds")
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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
    heartbeat_interval: float = 1.0
    pin_lockout_s: float = 30.0  # the first lock after wrong PINs; each further lock doubles it

    def __post_init__(self) -> None:
        if not _NODE_ID.match(self.node_id):
            raise ConfigError(
                f"node_id {self.node_id!r}: use 1-32 letters, digits, '-' or '_', starting with a letter or digit"
            )
        if self.role not in ROLES:
            raise ConfigError(f"role {self.role!r}: must be one of {', '.join(ROLES)}")
        if not 0 <= self.priority <= 1_000_000:
            raise ConfigError(f"priority {self.priority}: must be between 0 and 1000000")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(
                f"log_level {self.log_level!r}: must be one of {', '.join(_LOG_LEVELS)}"
            )

        for name in ("port", "api_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ConfigError(f"{name} {value}: must be between 0 and 65535")
        for name, address in [
            ("listen_host", self.listen_host),
            ("api_host", self.api_host),
            *(("mdns_interfaces", a) for a in self.mdns_interfaces),
        ]:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ConfigError(f"{name} {address!r}: must be an IPv4 address") from None
        if self.listen_host == "0.0.0.0" and not self.mdns_interfaces:
            raise ConfigError(
                "listen_host 0.0.0.0 needs mdns_interfaces: name the LAN address(es) to announce on"
            )
        if not 0.05 <= self.heartbeat_interval <= 60:
            raise ConfigError(
                f"heartbeat_interval {self.heartbeat_interval}: must be between 0.05 and 60 s"
            )
        if not 0.1 <= self.pin_lockout_s <= 3600:
            raise ConfigError(f"pin_lockout_s {self.pin_lockout_s}: must be between 0.1 and 3600 s")
        if bool(self.console_url) != bool(self.console_token):
            raise ConfigError("console_url and console_token go together: set both or neither")
        if self.console_ca_file is not None and not self.console_url.startswith("wss://"):
            raise ConfigError(
                f"console_ca_file {str(self.console_ca_file)!r} checks a TLS console: it needs a "
                f"wss:// console_url, not {self.console_url or 'none'!r}"
            )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "node.db"

    @property
    def identity_path(self) -> Path:
        return self.identity_dir if self.identity_dir is not None else self.data_dir / "identity"

    @property
    def interfaces(self) -> tuple[str, ...]:
        return self.mdns_interfaces or (self.listen_host,)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _coerce(name: str, raw: Any, source: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if kind == "Path" or kind == "Path | None":
            return Path(str(raw))
        if kind == "tuple[str, ...]":
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
        if not isinstance(raw, str):
            raise ValueError
        return raw.upper() if name == "log_level" else raw
    except ValueError:
        raise ConfigError(f"{source}: {name} = {raw!r} is not a valid {kind}") from None


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


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config; raise ConfigError naming the file, variable or flag that is wrong."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        table = data.get("node", data)
        for key, raw in table.items():
            if key not in _FIELDS:
                raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(_FIELDS)})")
            values[key] = _coerce(key, raw, str(path))
    for key, raw in (env if env is not None else os.environ).items():
        if key.startswith("MESHPOS_"):
            name = key[len("MESHPOS_") :].lower()
            if name in _FIELDS:
                values[name] = _coerce(name, raw, f"environment {key}")
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(key, raw, f"--{key.replace('_', '-')}")
    if "node_id" not in values:
        raise ConfigError(
            "node_id is not set (config file [node] node_id, MESHPOS_NODE_ID or --node-id)"
        )
    return Config(**values)
