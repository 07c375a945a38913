"""A data dir as an operator meets it (issue 13, defects 4 and 7), with real ``meshpos node`` processes.

One process holds a data dir at a time: a second node, or an app opening the store, is refused with the
holder's process id and changes nothing; a node killed with kill -9 restarts. Every unusable file (the
node.toml, api.token, an emptied node.db) stops ``meshpos node`` with one line naming the file and the
value, exit code 2 and no traceback, and leaves the data dir as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.errors import ConfigError, StoreLocked
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.store import SqliteStore
from meshpos.store.schema import SCHEMA_VERSION

from .kit import NodeProcess, make_device, make_venue
from .test_cli_node import meshpos

NO_MDNS = ["--no-discovery"]


def _host() -> str:
    return f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.12"


def error_line(stderr: str) -> str:
    """The one line a refused ``meshpos`` command prints, last: no traceback, no warning, nothing else
    but the INFO log of what it did before it found the problem (a node that had begun to listen)."""
    lines = [line for line in stderr.splitlines() if not _INFO_LOG.match(line)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("meshpos: error: "), stderr
    assert stderr.splitlines()[-1] == lines[0], stderr
    return lines[0]


_INFO_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO meshpos\.")


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every file under ``directory`` by relative path (None for a directory). The lock file counts
    by its name only: it holds the id of the last process that took the lock, a refused one too."""
    return {
        str(p.relative_to(directory)): (
            None if p.is_dir() or p.name == "node.db.lock" else p.read_bytes()
        )
        for p in sorted(directory.rglob("*"))
    }


def test_a_second_process_on_a_data_dir_is_refused_and_a_killed_node_restarts(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    config_file = make_device(authority, tmp_path, "R2", host=_host())
    config = load_config(config_file, env={})
    first = NodeProcess(config_file, tmp_path / "R2.log", args=NO_MDNS).start()
    again: NodeProcess | None = None
    try:
        first.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        sold = first.sell(CASHIER, ["espresso"])
        api_url = (config.data_dir / "api.url").read_bytes()
        api_token = (config.data_dir / "api.token").read_bytes()
        assert first.proc is not None

        second = meshpos("node", "--config", str(config_file), *NO_MDNS)
        assert second.returncode == 2
        line = error_line(second.stderr)
        assert str(config.data_dir) in line
        assert f"process {first.proc.pid}" in line
        assert second.stdout == ""  # it never said ready
        assert (config.data_dir / "api.url").read_bytes() == api_url  # it used to overwrite it
        assert (config.data_dir / "api.token").read_bytes() == api_token

        # an app on the Python API: the store, and a whole Node, are refused the same way
        with pytest.raises(StoreLocked, match=f"process {first.proc.pid}"):
            asyncio.run(SqliteStore.open(config.db_path))
        with pytest.raises(StoreLocked, match=str(config.data_dir)):
            asyncio.run(make_node(config, discovery=False).start())
        assert (config.data_dir / "api.url").read_bytes() == api_url

        # the first node never noticed: it sells on, with the next number and none twice
        assert first.status()["node"] == "R2"
        later = first.sell(CASHIER, ["croissant"])
        assert later["number"] != sold["number"]
        assert first.receipt_ids() == {sold["id"], later["id"]}

        first.kill()  # kill -9: the kernel drops its lock with it
        again = NodeProcess(config_file, tmp_path / "R2.log", args=NO_MDNS).start()
        assert again.receipt_ids() == {sold["id"], later["id"]}
        assert (config.data_dir / "api.url").read_text().strip() == again.api
    finally:
        first.kill()
        if again is not None:
            again.kill()


def test_an_emptied_database_is_refused_until_initialised_explicitly(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config_file = make_device(authority, tmp_path, "R3", host=_host())
    config = load_config(config_file, env={})
    node = NodeProcess(config_file, tmp_path / "R3.log", args=NO_MDNS).start()
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        node.sell(CASHIER, ["burger"])
        assert node.stop() == 0
    finally:
        node.kill()
    for leftover in ("node.db-wal", "node.db-shm"):
        (config.data_dir / leftover).unlink(missing_ok=True)

    config.db_path.write_bytes(b"")  # the disk lost it: a 0-byte node.db
    refused = meshpos("node", "--config", str(config_file), *NO_MDNS)
    assert refused.returncode == 2
    line = error_line(refused.stderr)
    assert f"{config.db_path} is empty (0 bytes)" in line
    assert "--init-database" in line
    assert config.db_path.read_bytes() == b""  # left as it was
    assert not (config.data_dir / "node.db-wal").exists()

    config.db_path.unlink()
    refused = meshpos("node", "--config", str(config_file), *NO_MDNS)
    assert refused.returncode == 2
    assert f"{config.db_path} is missing" in error_line(refused.stderr)
    assert not config.db_path.exists()

    fresh = NodeProcess(config_file, tmp_path / "R3.log", args=[*NO_MDNS, "--init-database"])
    try:
        fresh.start()
        assert fresh.receipt_ids() == set()  # what the operator asked for: an empty database
        assert fresh.stop() == 0
    finally:
        fresh.kill()
    twice = meshpos("node", "--config", str(config_file), *NO_MDNS, "--init-database")
    assert twice.returncode == 2
    assert "already holds a database" in error_line(twice.stderr)


# Each case spoils one file of a working device and says what the error line must name: the file and
# the value. (The token is a secret: its line names the file and what is wrong, not the token.)
Spoil = Callable[[Path, Path], tuple[Path, str]]


def _setting(line: str, value: str = "") -> Spoil:
    def spoil(config_file: Path, data: Path) -> tuple[Path, str]:
        with config_file.open("a") as f:
            f.write(line + "\n")
        return config_file, value or line.split("=", 1)[1].strip()

    return spoil


def _replaced(path: Path, content: bytes | None) -> Path:
    """``path`` with ``content`` instead of what it held, or a directory for None."""
    path.unlink(missing_ok=True)
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


def _config_file(content: bytes | None, value: str) -> Spoil:
    return lambda config_file, data: (_replaced(config_file, content), value)


def _no_node_table(config_file: Path, data: Path) -> tuple[Path, str]:
    config_file.write_text(config_file.read_text().replace("[node]\n", ""))
    return config_file, "no [node] table"


def _token(content: bytes | None, value: str) -> Spoil:
    return lambda config_file, data: (_replaced(data / "api.token", content), value)


def _url_directory(config_file: Path, data: Path) -> tuple[Path, str]:
    (data / "api.url").mkdir()
    return data / "api.url", "cannot write the API address"


def _database(config_file: Path, data: Path) -> tuple[Path, str]:
    (data / "node.db").write_bytes(b"")
    return data / "node.db", "is empty (0 bytes)"


def _newer_database(config_file: Path, data: Path) -> tuple[Path, str]:
    """A database a later release wrote (compatibility rules, docs/architecture.md (Wire))."""
    with contextlib.closing(sqlite3.connect(data / "node.db")) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    words = f"schema version {SCHEMA_VERSION + 1} but this meshpos understands only up to version {SCHEMA_VERSION}"
    return data / "node.db", words


BAD_FILES: dict[str, Spoil] = {
    "port 22.7": _setting("port = 22.7"),
    "api_port 1e3": _setting("api_port = 1e3"),
    "port 65536": _setting("port = 65536"),
    "priority 1e400": _setting("priority = 1e400"),
    "console_url ftp": _setting('console_url = "ftp://x"\nconsole_token = "abc"', "'ftp://x'"),
    "heartbeat nan": _setting("heartbeat_interval = nan"),
    "node.toml latin-1": _config_file(b'[node]\nnode_id = "R\xe9"\n', "byte 0xe9"),
    "node.toml directory": _config_file(None, "is a directory"),
    "node.toml without [node]": _no_node_table,
    "api.token empty": _token(b"", "the file is empty"),
    "api.token junk": _token(b"\x00\xff junk", "byte 0x00"),
    "api.token directory": _token(None, "is a directory"),
    "api.url directory": _url_directory,
    "node.db emptied": _database,
    "node.db of a later release": _newer_database,
}


@pytest.mark.parametrize("spoil", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_stops_the_node_with_one_line_naming_it(tmp_path: Path, spoil: Spoil) -> None:
    authority = make_venue(tmp_path)
    config_file = make_device(authority, tmp_path, "R4", host=_host())
    data = load_config(config_file, env={}).data_dir
    (data / "api.token").write_text("0123456789abcdef0123\n")  # as left by an earlier start
    path, value = spoil(config_file, data)
    before = _snapshot(data)
    done = meshpos("node", "--config", str(config_file), *NO_MDNS)
    assert done.returncode == 2, done.stderr
    line = error_line(done.stderr)
    assert str(path) in line, line
    assert value in line, line
    assert "unexpected error" not in line
    assert done.stdout == ""  # never ready
    assert _snapshot(data) == before  # nothing written: no api.url, no new token, no database
    if path.is_dir():
        shutil.rmtree(path)


async def test_a_node_that_fails_half_way_through_starting_lets_go_of_its_port_and_data_dir(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R5", host=_host()), env={})
    (config.data_dir / "api.url").mkdir()  # found only after the node began to listen for peers
    node = make_node(config, discovery=False)
    with pytest.raises(
        ConfigError, match=re.escape(f"{config.data_dir / 'api.url'}: cannot write")
    ):
        await node.start()
    assert node.port != 0
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(config.listen_host, node.port)
    async with await SqliteStore.open(config.db_path) as store:  # the lock went with it
        assert not store.created


@pytest.mark.parametrize("command", ["status", "clear-cache"])
@pytest.mark.parametrize(
    ("content", "value"),
    [(b"garbage\n", "'garbage' is not a node's API address"), (None, "Is a directory")],
    ids=["junk", "directory"],
)
def test_status_and_clear_cache_with_an_unusable_api_url_say_so_in_one_line(
    tmp_path: Path, command: str, content: bytes | None, value: str
) -> None:
    authority = make_venue(tmp_path)
    config_file = make_device(authority, tmp_path, "R6", host=_host())
    url_file = load_config(config_file, env={}).data_dir / "api.url"
    if content is None:
        url_file.mkdir()
    else:
        url_file.write_bytes(content)
    done = meshpos(command, "--config", str(config_file))
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert f"{url_file}: " in line
    assert value in line
