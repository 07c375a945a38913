"""A node.toml the previous release wrote and reads, with every setting it knows, is read alike by this
one (docs/architecture.md (Wire), compatibility rules): a device is upgraded with the file it has, so a
setting renamed, removed or narrowed would stop it at its first start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshpos.config import load_config

from .previous import Release

#: run by the previous release: every setting of its Config at its default (a few given), written
#: and read back by its own code; prints the values it wrote
WRITE = """
import dataclasses, json, sys
from pathlib import Path
from meshpos.config import _FLAG_ONLY, Config, load_config, write_config_file
given = {"node_id": "R1", "venue_id": "venue-1", "console_url": "ws://127.0.0.1:9",
         "console_token": "t" * 32, "mdns_interfaces": ["127.0.0.1"]}
values = {}
for f in dataclasses.fields(Config):
    if f.name in _FLAG_ONLY:  # a command-line flag, never in a file
        continue
    value = given.get(f.name, None if f.default is dataclasses.MISSING else f.default)
    if value is None:
        continue
    values[f.name] = str(value) if isinstance(value, Path) else value
path = Path(sys.argv[1])
write_config_file(path, values)
load_config(path, env={})
print(json.dumps(values))
"""


def test_a_node_toml_of_the_previous_release_reads_alike(
    previous_release: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # (a relative path's old reading, from the cwd, holds nothing)
    path = tmp_path / "node.toml"
    written = json.loads(previous_release.run(WRITE, str(path)))
    assert {
        "node_id",
        "data_dir",
        "priority",
        "console_url",
        "heartbeat_interval",
    } <= written.keys()
    config = load_config(path, env={})
    differ = {
        name: (value, getattr(config, name))
        for name, value in written.items()
        if _plain(getattr(config, name)) != _read_here(path, getattr(config, name), value)
    }
    assert not differ, f"settings this release reads otherwise: {differ}"


def _read_here(path: Path, read: object, written: object) -> object:
    """What this release reads of a written value: a relative path is beside the file now (the
    previous release read it from the cwd; config._beside refuses a device whose data that moves)."""
    if isinstance(read, Path) and isinstance(written, str) and not Path(written).is_absolute():
        return str(path.parent / written)
    return written


def _plain(value: object) -> object:
    """A setting as JSON spells it (paths as text, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
