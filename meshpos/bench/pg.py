"""A throwaway PostgreSQL cluster for tests and benchmarks: started from the installed binaries, deleted
afterwards (tests/console/pgserver.py wraps it in a pytest fixture).

The cluster listens only on 127.0.0.1 (a free port) and on a unix socket in its own temporary
directory, with trust authentication. PostgreSQL refuses to run as root, so as root initdb and pg_ctl
run as the ``postgres`` OS user. Durability settings are off (fsync) unless asked for: tests do not
pull the power. ``MESHPOS_TEST_POSTGRES_URL`` (a superuser URL to the ``postgres`` database) uses an
existing server instead; ``MESHPOS_PG_BIN`` names the directory holding initdb and pg_ctl.

**Changed** (issue 18, keep): the server's life is tied to its owner's. ``pg_ctl`` daemonizes it, so a
killed owner (``kill -9`` of pytest) left it running with its files; a watchdog process
(``meshpos.bench.pg_watch``, started before the server) stops it and deletes its directory when the
owner dies, and is terminated by an owner that stops the server itself.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


class PostgresUnavailable(Exception):
    """Why no server could be started (the tests skip with this reason)."""


@dataclass
class PgServer:
    admin_url: str
    """Superuser URL to the ``postgres`` maintenance database."""
    data_dir: Path | None = None
    watchdog: int | None = None
    """The pid of the process that stops the server if its owner dies (``pg_watch``)."""
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, dbname: str) -> str:
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{dbname}"))

    def create_database(self) -> str:
        """A fresh empty database; returns its URL."""
        name = f"meshpos_test_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_pg_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian layout, then PATH)."""
    if env := os.environ.get("MESHPOS_PG_BIN"):
        if not (Path(env) / "initdb").is_file():
            raise PostgresUnavailable(f"MESHPOS_PG_BIN={env} holds no initdb")
        return Path(env)

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH); "
        "install the Debian package `postgresql` or set MESHPOS_TEST_POSTGRES_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[PgServer]:
    """Start a private cluster, yield it, stop it and delete its files."""
    bin_dir = find_pg_bin()
    as_user: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no `postgres` OS user to run the server as"
            ) from None
        as_user = pw.pw_name
    base = Path(tempfile.mkdtemp(prefix="meshpos-pg-", dir="/tmp" if as_user else None))
    if as_user:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data = base / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / args[0]), *args[1:]],
            user=as_user,
            group=pw.pw_gid if as_user else None,
            extra_groups=[] if as_user else None,
            cwd=base,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    started = False
    watchdog: subprocess.Popen[bytes] | None = None
    try:
        done = run(
            "initdb", "-D", str(data), "--auth=trust", "--username=postgres", "--encoding=UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()[-500:]}")
        # before the server: there is never a server without one (a session of its own: a signal
        # to our process group, such as Ctrl-C, leaves it watching)
        watch = [
            str(os.getpid()),
            str(bin_dir),
            str(data),
            str(base),
            *([as_user] if as_user else []),
        ]
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "meshpos.bench.pg_watch", *watch],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        settings = (
            "" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        for _attempt in range(3):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base}{settings}"
            done = run(
                "pg_ctl", "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "-t", "60",
                "start",
            )  # fmt: skip
            if done.returncode == 0:
                started = True
                break
        if not started:
            log = (
                (base / "log").read_text(errors="replace")[-1000:]
                if (base / "log").exists()
                else ""
            )
            raise PostgresUnavailable(f"pg_ctl start failed: {done.stderr.strip()} {log}")
        yield PgServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, watchdog.pid)
    finally:
        if started:
            stop = run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
            if stop.returncode:
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        if watchdog is not None:  # (after the stop: killed during it, the watchdog still stops it)
            watchdog.terminate()
            watchdog.wait()
        shutil.rmtree(base, ignore_errors=True)
