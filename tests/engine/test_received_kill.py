"""A node killed -9 right after it committed a received round without an fsync (issue 18, received)
has that round after the restart: a real process over a real SQLite file, its sync never run (the
WAL is in the OS's page cache; only a power cut or an OS crash could lose it, and its author holds
it durably)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map

from meshpos.store import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

_NODE = """
import asyncio, os, signal, sys
sys.path.insert(0, sys.argv[2])
import meshpos.engine.linger as linger
from meshpos.engine import StoreDocuments
from meshpos.store import SqliteStore
from tests.engine.test_received_sync import received

linger.RECEIVED_SYNC_DELAY = linger.RECEIVED_SYNC_LATEST = 3600.0  # never synced before the kill

async def main(path):
    sqlite = await SqliteStore.open(path)
    await received(StoreDocuments(sqlite))  # B commits A's update, unsynced
    print("unsynced", sqlite.stats.unsynced_transactions, "syncs", sqlite.stats.syncs, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close: no checkpoint, nothing flushed on the way out

try:
    asyncio.run(main(sys.argv[1]))
finally:
    os._exit(3)  # (failed: the store's threads must not keep the process alive)
"""


def _killed(path: Path) -> subprocess.CompletedProcess[str]:
    """A node process that receives one update over ``path`` and is killed -9 once it committed."""
    return subprocess.run(
        [sys.executable, "-c", _NODE, str(path), str(ROOT)],
        timeout=60,
        check=False,
        capture_output=True,
        text=True,
    )


async def test_a_received_round_committed_unsynced_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    run = _killed(path)
    assert run.returncode == -9, run.stderr
    words = run.stdout.split()
    assert words[:2] == ["unsynced", words[1]]
    assert int(words[1]) >= 1  # the received round was committed without an fsync
    assert words[2:] == ["syncs", "0"]
    async with await SqliteStore.open(path) as store:
        doc: Doc[Map[Any]] = Doc()
        update = await store.load("stoplist")
        assert update is not None
        doc.apply_update(update)
        assert doc.get("test", type=Map).get("k") == "v"
