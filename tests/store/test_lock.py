"""The data-dir lock: a live holder is refused at once; a dead writer's lock does not block its restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meshpos.errors import StoreLocked
from meshpos.store import SqliteStore
from meshpos.store.lock import DatabaseLock, lock_path

# Takes the lock, hands a copy of its descriptor to a child that keeps it for a while (as a child between
# fork and exec does), then the holder dies at once: the lock outlives the process that wrote its pid.
DYING_HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from meshpos.store.lock import DatabaseLock
    lock = DatabaseLock.take(Path(sys.argv[1]))
    fd = os.dup(lock._fd)
    if os.fork() == 0:
        os.close(1)  # the parent's caller waits for its output to end, not for this child
        os.close(2)
        time.sleep(float(sys.argv[2]))
        os._exit(0)
    print("locked", flush=True)
    os._exit(0)
    """
)


def _dying_holder(db: Path, keep_s: float) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DYING_HOLDER, str(db), str(keep_s)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert proc.stdout.strip() == "locked"


async def test_a_dead_writers_lock_held_by_its_child_for_a_moment_does_not_stop_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "node.db"
    _dying_holder(db, keep_s=0.5)
    with pytest.raises(StoreLocked):  # the lock is still held right after the holder died
        DatabaseLock.take(db)
    started = time.monotonic()
    store = await SqliteStore.open(db)  # waits for the child's copy to go
    await store.close()
    assert time.monotonic() - started < 3.0


async def test_a_live_holder_is_refused_at_once(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    first = await SqliteStore.open(db)
    try:
        started = time.monotonic()
        with pytest.raises(StoreLocked, match="in use by this process"):
            await SqliteStore.open(db)
        assert time.monotonic() - started < 1.0
    finally:
        await first.close()
    assert lock_path(db).exists()


async def test_a_lock_held_longer_than_the_grace_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    _dying_holder(db, keep_s=5.0)
    with pytest.raises(StoreLocked):
        await DatabaseLock.acquire(db, grace=0.3)
