"""The watchdog that ties a throwaway PostgreSQL cluster's life to the process that started it.

``pg_ctl start`` daemonizes the server, so when its owner (a pytest worker, a benchmark) is killed
(``kill -9``, an OOM, a CI timeout) the owner's ``finally`` never runs and the server lives on: six
were found running after killed test runs. ``PR_SET_PDEATHSIG`` cannot help: the server is the child
of ``pg_ctl``, which exits as soon as the server is up, and the signal follows the parent that dies
first. So :func:`meshpos.bench.pg.throwaway_postgres` starts this watchdog, in a session of its own (a
signal to the owner's process group, such as Ctrl-C, leaves it be), before it starts the server:

    python -m meshpos.bench.pg_watch OWNER_PID BIN_DIR DATA_DIR BASE_DIR [USER]

It waits on a pidfd of the owner (no polling; the pid cannot be reused under it), then stops the
server (``pg_ctl stop -m immediate``, as ``USER`` when given: PostgreSQL refuses to run as root) and
deletes ``BASE_DIR``. An owner that stops the server itself terminates the watchdog first
(``SIGTERM``: it exits doing nothing).
"""

from __future__ import annotations

import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def watch(pid: int) -> int | None:
    """A pidfd of process ``pid`` when it is our parent (so the pid is not a reused one), else None
    (it is gone already)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if os.getppid() != pid:  # it died before we looked: that pid may be someone else's now
        os.close(fd)
        return None
    return fd


def wait_for_exit(fd: int) -> None:
    """Return once the process of pidfd ``fd`` has exited."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll():
        pass


def stop_server(bin_dir: Path, data: Path, base: Path, user: str | None) -> int:
    """Stop the cluster in ``data`` at once and delete ``base``; the exit status of ``pg_ctl``
    (non-zero when no server ran: nothing was left to stop)."""
    done = subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"],
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        cwd="/",
        capture_output=True,
        timeout=60,
        check=False,
    )
    shutil.rmtree(base, ignore_errors=True)
    return done.returncode


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    owner, bin_dir, data, base = int(argv[0]), Path(argv[1]), Path(argv[2]), Path(argv[3])
    user = argv[4] if len(argv) == 5 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (the owner's Ctrl-C is the owner's)
    fd = watch(owner)
    if fd is not None:
        wait_for_exit(fd)
        os.close(fd)
    stop_server(bin_dir, data, base, user)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
