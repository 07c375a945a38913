from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpos.config import SESSION_IDLE_S, Config, load_config, write_config_file
from meshpos.errors import ConfigError
from meshpos.sync import SyncConfig


def test_file_env_and_flags_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nnode_id = "R1"\nrole = "register"\npriority = 5\ndata_dir = "/var/lib/meshpos"\n'
    )
    config = load_config(
        path, env={"MESHPOS_PRIORITY": "7", "OTHER": "x"}, overrides={"log_level": "debug"}
    )
    assert config == Config(
        node_id="R1", priority=7, data_dir=Path("/var/lib/meshpos"), log_level="DEBUG"
    )
    assert config.db_path == Path("/var/lib/meshpos/node.db")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[node]\nnode_id = "R1"\nrole = "toaster"\n', {}, "role 'toaster'"),
        ('[node]\nnode_id = "R 1"\n', {}, "node_id 'R 1'"),
        ('[node]\nnode_id = "R1"\ncolour = "red"\n', {}, "unknown setting 'colour'"),
        (
            '[node]\nnode_id = "R1"\npriority = "high"\n',
            {},
            'priority = "high" is not a whole number',
        ),
        ('[node]\nnode_id = "R1"\n', {"MESHPOS_PRIORITY": "-3"}, "MESHPOS_PRIORITY: priority -3"),
        ('[node]\nnode_id = "R1"\n', {"MESHPOS_PRIORITY": "x"}, "environment MESHPOS_PRIORITY"),
        ("[node\n", {}, "not valid TOML"),
        ("[node]\n", {}, "node_id is not set"),
    ],
)
def test_invalid_config_says_what_and_where(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(path, env=env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_is_frozen() -> None:
    config = Config(node_id="R1")
    with pytest.raises(AttributeError):
        config.role = "kds"  # type: ignore[misc]


def test_a_written_config_file_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    write_config_file(
        path,
        {"node_id": "R1", "role": "kds", "priority": 3, "mdns_interfaces": ["127.0.0.5"]},
    )
    config = load_config(path, env={})
    assert (config.node_id, config.role, config.priority) == ("R1", "kds", 3)
    assert list(config.mdns_interfaces) == ["127.0.0.5"]
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        write_config_file(path, {"node_id": "R1", "colour": "red"})


# --- issue 13, defect 7: every unusable file or value is one line naming the file and the value ---

NODE = '[node]\nnode_id = "R1"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (NODE + "port = 22.7\n", "port = 22.7 is not a whole number"),  # was bound as port 22
        (NODE + "api_port = 80.0\n", "api_port = 80.0 is not a whole number"),
        (NODE + "port = 65536\n", "port 65536: must be a whole number from 0 to 65535"),
        (NODE + "port = -1\n", "port -1: must be a whole number from 0 to 65535"),
        (
            NODE + "priority = 1e400\n",
            "priority = 1e400 is not a whole number",
        ),  # was OverflowError
        (NODE + "priority = nan\n", "priority = nan is not a whole number"),
        (NODE + "priority = 1_000_001\n", "priority 1000001: must be a whole number"),
        (NODE + "heartbeat_interval = inf\n", "heartbeat_interval = inf is not a finite number"),
        (NODE + "heartbeat_interval = 0.0\n", "heartbeat_interval 0.0: must be between"),
        (
            NODE + 'console_url = "ftp://x"\nconsole_token = "t0ken-t0ken"\n',
            "console_url 'ftp://x'",
        ),
        (NODE + 'console_url = "http://c:8780"\nconsole_token = "t"\n', "must start with ws://"),
        (NODE + 'console_url = "ws://"\nconsole_token = "t"\n', "console_url 'ws://': has no host"),
        (NODE + 'console_url = "ws://c:99999"\nconsole_token = "t"\n', "not a valid URL"),
        (NODE + 'console_url = "ws://c"\nconsole_token = "a b"\n', "console_token: must be one"),
        (NODE + 'console_url = "ws://c"\n', "console_url and console_token go together"),
        (NODE + 'data_dir = ""\n', 'data_dir = "" is not a file or directory path'),
        (NODE + "data_dir = 3\n", "data_dir = 3 is not a file or directory path"),
        (NODE + "init_database = true\n", "init_database is not a setting: use --init-database"),
        (NODE + "day_idle_seconds = 0\n", "day_idle_seconds 0.0: must be between 0.05 and 86400 s"),
        ('node_id = "R1"\nport = 1\n', "no [node] table (found 'node_id', 'port')"),
        ("", "no [node] table (found nothing)"),
        ('[nodes]\nnode_id = "R1"\n', "no [node] table (found 'nodes')"),
        ('node = "R1"\n', "no [node] table (found 'node')"),
        ('port = 1\n[node]\nnode_id = "R1"\n', "'port' is outside the [node] table"),
        ('[node]\nnode_id = "R1\\n"\n', r"node_id 'R1\n'"),  # "$" used to let a newline through
    ],
)
def test_an_unusable_value_names_the_file_and_the_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.message.startswith(f"{path}: "), caught.value.message
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_a_config_that_is_no_file_or_is_huge_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """``--config /dev/zero`` read until memory ran out; a FIFO blocked the start for ever; a 12 MB
    file was parsed for 9 s (outside, third round)."""
    fifo = tmp_path / "node.fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(NODE.encode() + b"#" * (2 << 20) + b"\n")
    for path, message in [
        (Path("/dev/zero"), "not a regular file (a device, pipe or socket)"),
        (fifo, "not a regular file (a device, pipe or socket)"),
        (huge, "over 1 MiB, which no node.toml is"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
            load_config(path, env={})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory, not a config file"),
        (
            lambda p: p.write_bytes(NODE.encode() + b'role = "caf\xe9"\n'),
            "not UTF-8 text (byte 0xe9",
        ),
        (lambda p: p.write_bytes(b"\xff\xfe[\x00n\x00"), "not UTF-8 text (byte 0xff at offset 0)"),
    ],
)
def test_a_config_file_that_is_not_a_text_file_is_one_line(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "node.toml"
    make(path)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MESHPOS_PORT": "22.7"}, 'environment MESHPOS_PORT: port = "22.7" is not a whole number'),
        ({"MESHPOS_PORT": "99999"}, "environment MESHPOS_PORT: port 99999: must be"),
        ({"MESHPOS_PORT": "٣"}, "environment MESHPOS_PORT: port = "),  # only ASCII digits
        ({"MESHPOS_HEARTBEAT_INTERVAL": "nan"}, "MESHPOS_HEARTBEAT_INTERVAL: heartbeat_interval"),
        ({"MESHPOS_HEARTBEAT_INTERVAL": "٣"}, "MESHPOS_HEARTBEAT_INTERVAL: heartbeat_interval"),
        ({"MESHPOS_HEARTBEAT_INTERVAL": "1_0"}, "MESHPOS_HEARTBEAT_INTERVAL: heartbeat_interval"),
        ({"MESHPOS_INIT_DATABASE": "1"}, "environment MESHPOS_INIT_DATABASE: not a setting"),
        ({"MESHPOS_DAY_IDLE_SECONDS": "-1"}, "MESHPOS_DAY_IDLE_SECONDS: day_idle_seconds -1.0"),
    ],
)
def test_an_unusable_environment_value_names_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path, env=env)


def test_ports_and_urls_that_are_fine_still_load(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        NODE + 'port = 8790\nconsole_url = "wss://console.example:8780"\nconsole_token = "abc"\n'
    )
    config = load_config(path, env={"MESHPOS_API_PORT": " 8791 "})
    assert (config.port, config.api_port) == (8790, 8791)
    assert config.console_url == "wss://console.example:8780"
    assert not config.init_database
    assert load_config(path, env={}, overrides={"init_database": True}).init_database


def test_day_idle_seconds_defaults_to_a_minute_and_the_environment_overrides_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE)
    assert load_config(path, env={}).day_idle_seconds == 60.0
    assert load_config(path, env={"MESHPOS_DAY_IDLE_SECONDS": "1.5"}).day_idle_seconds == 1.5


# --- session 16, tidy: bounds a venue tunes, that were constants -----------------------------------


def test_the_freshness_upload_and_session_bounds_are_settings(tmp_path: Path) -> None:
    """``console_fresh_s``, ``upload_bound_s`` (a strict node's green: meshpos.sync._fresh) and
    ``session_idle_s`` (a PIN sign-in on the page: meshpos.web.sessions) were constants; their
    defaults are still the synchronizer's and the page's, and file < environment < flag as for
    every setting."""
    defaults = SyncConfig()
    assert (Config("R1").console_fresh_s, Config("R1").upload_bound_s) == (
        defaults.console_fresh_s,
        defaults.upload_bound_s,
    )
    assert Config("R1").session_idle_s == SESSION_IDLE_S == 12 * 3600.0
    path = tmp_path / "node.toml"
    path.write_text(NODE + "console_fresh_s = 20\nupload_bound_s = 45.5\nsession_idle_s = 3600\n")
    config = load_config(
        path, env={"MESHPOS_UPLOAD_BOUND_S": "60"}, overrides={"session_idle_s": 90}
    )
    assert (config.console_fresh_s, config.upload_bound_s, config.session_idle_s) == (20, 60, 90)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            NODE + "console_fresh_s = 1\n",
            {},
            "console_fresh_s 1.0: must be between 3 and 3600 s (the",
        ),
        (
            NODE + "upload_bound_s = 7200\n",
            {},
            "upload_bound_s 7200.0: must be between 3 and 3600 s",
        ),
        (NODE + 'upload_bound_s = "soon"\n', {}, 'upload_bound_s = "soon" is not a finite number'),
        (
            NODE + "session_idle_s = 59\n",
            {},
            "session_idle_s 59.0: must be between 60 and 604800 s",
        ),
        (NODE, {"MESHPOS_CONSOLE_FRESH_S": "nan"}, "environment MESHPOS_CONSOLE_FRESH_S: console_"),
        (
            NODE,
            {"MESHPOS_SESSION_IDLE_S": "-1"},
            "environment MESHPOS_SESSION_IDLE_S: session_idle",
        ),
    ],
)
def test_a_wrong_bound_names_the_setting_and_where_it_came_from(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    where = f"environment {next(iter(env))}" if env else str(path)
    assert caught.value.message.startswith(f"{where}: "), caught.value.message
    assert message in caught.value.message, caught.value.message
