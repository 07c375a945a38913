"""The console's CPU for a flood of relay probes with proofs (issue 18, admit): one JSON line.

``python -m meshpos.bench.relay_probes --json [--probes 400] [--revoked 20] [--admissions 100]
[--postgres]``. A real ``meshpos console`` process started with the venue's directory (so it checks
every proof and ``revoked.json``), and this process knocking on its relay port: an honest relay's
probes (its proof, one at a time), then as many with a proof that is not base64 (refused before any
signature is checked), then ``--admissions`` whole admissions as a relay's dial makes them: a probe
(whose answer holds the console's nonce) and the upgrade over it, answered 101 (the link is then
dropped). The figures are the console process's own CPU (``/proc``), per probe or admission, so the
load of the machine's other work changes them less than a wall clock would; the deny-list has
``--revoked`` entries, as a venue's after a few lost or replaced registers; ``--postgres`` puts the
console's database on a throwaway PostgreSQL (durable) instead of a SQLite file. Made to run on
earlier trees too (``PYTHONPATH=<tree> python <this file>``): it uses nothing newer than the issue 18
(admit) nonce.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.bench.console_cpu import cpu_s, load_avg
from meshpos.bench.pg import throwaway_postgres
from meshpos.harness.procs import console_argv
from meshpos.trust import init_venue
from meshpos.trust.certs import new_private_key, private_key_pem
from meshpos.trust.identity import DeviceIdentity, identity_from_pems, new_csr
from meshpos.trust.relay_proof import relay_proof

JUNK = {"X-Meshpos-Relay-Cert": "not base64!", "X-Meshpos-Relay-Proof": "AAAA"}


def knock(port: int, path: str, headers: dict[str, str]) -> int:
    """One probe (no upgrade) as a relay sends it; the status the console answers."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while part := sock.recv(65536):
            answer += part
    return int(answer.split(b" ", 2)[1])


def admit(port: int, path: str, auth: dict[str, str], relay: DeviceIdentity, token: str) -> int:
    """One admission as a relay's dial makes it: a probe for the console's nonce, the upgrade over
    it; the upgrade's status (101: admitted; the link is dropped at once)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in {**auth, **relay_proof(relay, token)}.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while part := sock.recv(65536):
            answer += part
    nonce = answer.partition(b"\nnonce: ")[2].strip().decode()
    headers = {**auth, **relay_proof(relay, token, nonce)}
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket"]
    lines += ["Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer and (part := sock.recv(65536)):
            answer += part
    return int(answer.split(b" ", 2)[1])


def run(probes: int, revoked: int, admissions: int = 100, postgres: bool = False) -> dict[str, Any]:
    """``postgres``: the console's database on a throwaway PostgreSQL (durable: its commits
    ``fsync``, as a venue's server's do) instead of a SQLite file; only the console is measured."""
    with contextlib.ExitStack() as stack:
        root = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="meshpos-relay-probes-"))
        )
        db = f"sqlite:///{root / 'console.db'}"
        if postgres:
            db = stack.enter_context(throwaway_postgres(durable=True)).create_database()
        return _run(root, db, probes, revoked, admissions)


def _run(root: Path, db: str, probes: int, revoked: int, admissions: int) -> dict[str, Any]:
    venue = init_venue(root / "venue", "Probe Venue")
    key = new_private_key()
    cert = venue.issue(new_csr(key, "R2"), "R2", "register")
    honest = identity_from_pems(private_key_pem(key), cert, venue.ca_pem)
    for i in range(revoked):
        device = f"GONE{i}"
        venue.issue(new_csr(new_private_key(), device), device, "register")
        venue.revoke(device, "lost")
    token = venue.console_token
    argv = console_argv(db, [venue.directory], root / "t", 1.0)
    console = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=(root / "console.log").open("w"),
        env=os.environ.copy(),
    )
    try:
        assert console.stdout is not None
        ready = json.loads(console.stdout.readline())
        port = int(str(ready["console"]).rsplit(":", 1)[1])
        path = f"/v1/venues/{venue.venue_id}/sync"
        auth = {"Authorization": f"Bearer {token}"}
        good = {**auth, **relay_proof(honest, token)}
        for _ in range(20):  # warm: the venue's first token lookup, imports
            assert knock(port, path, good) == 200
        figures: dict[str, Any] = {"probes": probes, "revoked": revoked, "db": db.split(":")[0]}
        for name, headers, status in (("honest", good, 200), ("junk", {**auth, **JUNK}, 403)):
            cpu0, wall0 = cpu_s(console.pid), time.perf_counter()
            for _ in range(probes):
                got = knock(port, path, headers)
                assert got == status, f"{name} probe answered {got}, not {status}"
            cpu, wall = cpu_s(console.pid) - cpu0, time.perf_counter() - wall0
            figures[f"{name}_console_cpu_ms_per_probe"] = round(cpu * 1000 / probes, 3)
            figures[f"{name}_wall_s"] = round(wall, 2)
        for _ in range(5):  # warm: the venue's hub loads at its first relay
            assert admit(port, path, auth, honest, token) == 101
        cpu0, wall0 = cpu_s(console.pid), time.perf_counter()
        for _ in range(admissions):
            got = admit(port, path, auth, honest, token)
            assert got == 101, f"an admission answered {got}, not 101"
        cpu, wall = cpu_s(console.pid) - cpu0, time.perf_counter() - wall0
        figures["admissions"] = admissions
        figures["admission_console_cpu_ms"] = round(cpu * 1000 / max(admissions, 1), 3)
        figures["admission_wall_ms"] = round(wall * 1000 / max(admissions, 1), 2)
        figures["load_avg"] = load_avg()
        return figures
    finally:
        console.send_signal(signal.SIGTERM)
        try:
            console.wait(20)
        except subprocess.TimeoutExpired:
            console.kill()
            console.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line (the default)")
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--revoked", type=int, default=20)
    parser.add_argument("--admissions", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="the console on a PostgreSQL")
    args = parser.parse_args()
    print(json.dumps(run(args.probes, args.revoked, args.admissions, args.postgres)))


if __name__ == "__main__":
    main()
