"""Found from the outside (third round), setting fixed ports as a scraper or a firewall wants them: one
port given twice, ``meshpos console --port 8790 --api-port 8790`` or ``port`` and ``api_port`` alike in
node.toml, ended in ``meshpos: unexpected error: OSError: [Errno 98] ... address already in use`` (exit
1, "run with --debug"): the check that names a port in use probes each port alone, and each was free.
Now one line naming both flags or settings, exit 2, before the database is touched; ``meshpos doctor``
(for the node and ``--console`` with the same options), which said "ports: 8790 and 8790 are free",
names it as a problem. Real ``meshpos node``, ``console`` and ``doctor`` processes, side by side.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from ..mesh.kit import make_device, make_venue


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshpos", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip


def test_one_port_given_for_two_servers_is_named(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    port = _free_port()
    config = make_device(authority, tmp_path, "R1", port=port, api_port=port)
    database = (tmp_path / "R1" / "node.db").read_bytes()
    runs = {
        f"port and api_port are both {port}": ["node", "--config", str(config), "--no-discovery"],
        f"--port and --api-port are both {port}": [
            "console", "--venue", str(authority.directory), "--host", "127.0.0.1",
            "--db", f"sqlite:///{tmp_path / 'console.db'}", "--port", str(port),
            "--api-port", str(port),
        ],
    }  # fmt: skip
    console_flags = runs[f"--port and --api-port are both {port}"][1:]
    doctors = {  # each says what the start would meet: a problem (exit 1) naming both
        f"PROBLEM  ports: port and api_port are both {port}": ["doctor", "--config", str(config)],
        f"PROBLEM  ports: --port and --api-port are both {port}": [
            "doctor",
            "--console",
            *console_flags,
        ],
    }
    started = {words: _start(args, tmp_path) for words, args in (runs | doctors).items()}
    try:
        for words, command in started.items():
            out, err = command.communicate(timeout=60)
            if words in doctors:
                assert command.returncode == 1, out + err
                assert words in out, out
                continue
            assert command.returncode == 2, err
            assert words in err, err
            assert "unexpected" not in err, err
            assert len(err.strip().splitlines()) == 1, err
    finally:
        for command in started.values():
            command.kill()
            command.wait()
    assert (tmp_path / "R1" / "node.db").read_bytes() == database
    assert not (tmp_path / "R1" / "api.url").exists()
    assert not (tmp_path / "console.db").exists()
