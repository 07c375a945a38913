"""One process per database: an OS lock on a file next to it, held from open to close.

Two processes on one data dir each issued their own ``R2-000003`` (issue 13): nothing stopped a second
``meshpos node`` or an app on the Python API from opening a ``node.db`` a running node was writing. The
lock is ``flock`` on ``<db>.lock``: the kernel drops it when its process ends, however it ends, so a node
killed with ``kill -9`` never blocks its own restart, and no stale lock file needs cleaning up. The
holder writes its process id into the file so that the refusal can name it. **Changed** (issue 18,
startup): a store closed cleanly adds its clean-close stamp (``store.clean_close``) on the next line before
it lets go; whoever takes the lock next reads it (:attr:`DatabaseLock.stamp_found`) and overwrites it.

A lock whose writer is dead can outlive it by a moment: a child it was starting (the compaction helper)
holds a copy of the descriptor between its fork and its exec. :meth:`DatabaseLock.acquire` waits up to
``DEAD_HOLDER_GRACE`` for such a lock, and refuses at once while the holder is alive: a node restarted
right after ``kill -9`` starts, and a second process next to a running one is still refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from pathlib import Path

from meshpos.errors import StoreError, StoreLocked
from meshpos.store.clean_close import stamp_of

LOCK_SUFFIX = ".lock"
DEAD_HOLDER_GRACE = 3.0  # seconds a dead writer's lock may take to go with its last descriptor


def lock_path(db: Path) -> Path:
    """The lock file of the database ``db`` (``node.db`` -> ``node.db.lock``)."""
    return db.with_name(db.name + LOCK_SUFFIX)


class DatabaseLock:
    """Held by one open store; ``release`` (or the process ending) lets the next opener in."""

    def __init__(self, fd: int, path: Path, stamp_found: str | None = None) -> None:
        self._fd = fd
        self.path = path
        self.stamp_found = stamp_found  # the clean-close stamp the last holder left, if any

    @classmethod
    async def acquire(cls, db: Path, grace: float = DEAD_HOLDER_GRACE) -> DatabaseLock:
        """:meth:`take`, but a lock whose recorded holder is dead is waited for (up to ``grace``)."""
        deadline = time.monotonic() + grace
        while True:
            try:
                return cls.take(db)
            except StoreLocked:
                pid = _holder_pid(lock_path(db))
                if pid is None or _alive(pid) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.05)

    @classmethod
    def take(cls, db: Path) -> DatabaseLock:
        """Lock ``db`` for this process or raise StoreLocked at once (never waits) naming the holder."""
        path = lock_path(db)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreLocked(
                f"the data dir {db.parent} is in use by {holder}: {db.name} is held by one process "
                f"at a time; stop that process first (nothing was changed)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from None
        found = None
        try:
            found = stamp_of(os.pread(fd, 4096, 0).decode("ascii", "replace"))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            found = None  # a stamp we could not overwrite is not trusted
        return cls(fd, path, found)

    def release(self, stamp: str | None = None) -> None:
        """Closing the file drops the lock; ``stamp`` (a clean close's) is written first for the next
        holder. Safe to call twice."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            if stamp is not None:
                with contextlib.suppress(OSError):  # no stamp: the next open checks the file
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n{stamp}\n".encode("ascii"), 0)
            os.close(fd)


def _holder_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text(encoding="ascii").split("\n", 1)[0].strip())
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode("ascii", "replace").split("\n", 1)[0].strip())
        if pid == os.getpid():
            return f"this process (pid {pid}), which has it open already"
        return f"process {pid}"
    return "another process (pid unknown)"
