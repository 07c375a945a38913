"""A new venue's misconfigured device: a port another program holds, an address the machine lacks.

``meshpos node`` and ``meshpos console`` used to meet these only when they bound, after making the data
dir, ``node.db`` (or ``console.db``) and ``api.token``, and said ``unexpected error: OSError: [Errno
98] ...`` with exit code 1. Now: one line naming the file or flag, the setting and the value, exit code
2, and the data dir as it was. Real processes, real sockets, loopback only.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .mesh.kit import make_device, make_venue


def meshpos(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def host() -> str:
    return f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.{random.randrange(2, 250)}"


@pytest.fixture
def taken(host: str) -> Iterator[int]:
    """A port on ``host`` that another program listens on (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, 0))
        holder.listen()
        yield holder.getsockname()[1]


def one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("meshpos: ")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("meshpos: error: "), done.stderr
    assert "unexpected" not in done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("setting", ["port", "api_port"])
def test_a_node_told_to_listen_on_a_port_in_use_says_which_and_changes_nothing(
    tmp_path: Path, host: str, taken: int, setting: str
) -> None:
    settings: dict[str, Any] = {"api_host": host, setting: taken}
    config = make_device(make_venue(tmp_path), tmp_path, "R1", host=host, catalog=None, **settings)
    before = files(tmp_path / "R1")
    done = meshpos("node", "--config", str(config))
    one_clear_line(done, str(config), f"{setting} {taken} on {host}", "in use")
    assert files(tmp_path / "R1") == before  # no node.db, no api.token made


def test_a_node_told_to_listen_on_an_address_the_machine_lacks_says_so(tmp_path: Path) -> None:
    # TEST-NET-2: no machine has it, so the bind fails at once and nothing is sent anywhere
    config = make_device(make_venue(tmp_path), tmp_path, "R1", host="198.51.100.7", catalog=None)
    before = files(tmp_path / "R1")
    done = meshpos("node", "--config", str(config))
    one_clear_line(
        done, str(config), "listen_host '198.51.100.7'", "not an address of this machine"
    )
    assert files(tmp_path / "R1") == before


@pytest.mark.parametrize("flag", ["--port", "--api-port"])
def test_a_console_told_to_listen_on_a_port_in_use_says_which_and_makes_no_database(
    tmp_path: Path, host: str, taken: int, flag: str
) -> None:
    other = "--api-port" if flag == "--port" else "--port"
    done = meshpos(
        "console",
        "--db",
        "sqlite:///console.db",
        "--host",
        host,
        flag,
        str(taken),
        other,
        "0",
        cwd=tmp_path,
    )
    one_clear_line(done, f"{flag} {taken} on {host}", "in use")
    assert files(tmp_path) == []  # no console.db, no token files


def test_a_second_pair_on_the_port_of_one_still_waiting_says_so(
    tmp_path: Path, host: str, taken: int
) -> None:
    """The README starts `meshpos pair ... --port 8790 &`; the next register's pair on that port while
    the first still waits was `unexpected error: OSError: [Errno 98]`. A host that is not an address
    of the machine is one line too (a name nobody resolves is not tried: that would ask DNS)."""
    make_venue(tmp_path)
    venue = str(tmp_path / "venue")
    pair = ("pair", "--venue", venue, "--role", "register")
    done = meshpos(*pair, "--host", host, "--port", str(taken))
    one_clear_line(done, f"--port {taken} on {host}", "in use")
    assert "pairing code" not in done.stdout
    done = meshpos(*pair, "--host", "198.51.100.7")
    one_clear_line(done, "--host '198.51.100.7'", "not an address of this machine")
