"""Reading a node.toml for meshpos.config: its ``[node]`` table, and a value shown as the file spells it.

Every way the file can be unusable (missing, a directory, not UTF-8, not TOML, settings outside
``[node]``) is one ConfigError line naming the file; an error about a value quotes it as the file wrote
it (``1e400``, where TOML hands over ``inf``), escaped to one line and cut short. Kept apart from the
settings and their checks (meshpos.config), which read in one sitting without it.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from meshpos.errors import ConfigError


def shown(raw: Any) -> str:
    """A value as TOML would spell it, escaped to one line and cut short."""
    return cut(
        json.dumps(raw, ensure_ascii=True, default=str) if not isinstance(raw, float) else repr(raw)
    )


def cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def spelling(text: str, key: str) -> str | None:
    """How a one-line ``key = value`` in the file writes the value, cut short (None if not one line)."""
    found = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*([^#\r\n]*?)[ \t]*(#.*)?$", text, re.M)
    if found is None or not found.group(1):
        return None
    return cut(found.group(1))


MAX_CONFIG_BYTES = 1 << 20  # a node.toml is a few hundred bytes; this is no config file


def _read_config(path: Path) -> bytes:
    """The file's bytes, refusing what is no config file before reading it: a device or a pipe
    (``--config /dev/zero`` read until memory ran out; a FIFO blocked the start for ever) or a file
    over :data:`MAX_CONFIG_BYTES` (a 12 MB one was parsed for 9 s)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open waits for a writer without it
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):
            raise ConfigError(
                f"{path}: not a regular file (a device, pipe or socket): no config file"
            )
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: over {MAX_CONFIG_BYTES >> 20} MiB, which no node.toml is: is this the right file?"
        )
    return data


def read_table(path: Path) -> tuple[dict[str, Any], str]:
    """The ``[node]`` table of a node.toml and its text; every way the file can be unusable is one
    ConfigError."""
    try:
        # a UTF-8 byte order mark is UTF-8 all the same: Notepad (before 2019) and PowerShell's
        # ``Out-File -Encoding utf8`` begin the file with one, which TOML read as "Invalid
        # statement (at line 1, column 1)": a line the owner cannot see in the file
        text = _read_config(path).removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("node")
    if not isinstance(table, dict):
        found = ", ".join(repr(k) for k in data) or "nothing"
        raise ConfigError(
            f"{path}: no [node] table (found {found}); the settings go under a [node] line"
        )
    others = [key for key in data if key != "node"]
    if others:
        raise ConfigError(
            f"{path}: {others[0]!r} is outside the [node] table; every setting goes under [node]"
        )
    return table, text
