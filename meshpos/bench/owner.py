"""A bench's worker processes die with the bench that started them, however it ends.

``meshpos bench mesh`` drives each register from a process of its own over stdin/stdout. A worker
notices its bench gone only when it next reads a command, and one in the middle of a long command
(waiting for receipts that will never come) lived on: a bench stopped with ``SIGTERM`` or ``kill -9``
left 49 workers running, linked to each other and selling nothing (part hop, fourteenth session).
So the bench names itself in :data:`OWNER_ENV` and each worker asks the kernel for ``SIGKILL`` when its
parent dies (``PR_SET_PDEATHSIG``, Linux), then checks the parent is still the one named: if the bench
died before the request was made, the worker was already handed to another parent and exits at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: the environment variable naming the pid of the process whose death ends this one
OWNER_ENV = "MESHPOS_BENCH_OWNER"
_PR_SET_PDEATHSIG = 1


def owner_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) naming this process as the owner of the child to start."""
    return {**(os.environ if env is None else env), OWNER_ENV: str(os.getpid())}


def die_with_owner() -> None:
    """End this process when its owner (:data:`OWNER_ENV`, our parent) dies; nothing without one."""
    owner = os.environ.get(OWNER_ENV)
    if owner is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(owner):  # the owner died before we asked
        os._exit(1)
