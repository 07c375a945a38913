"""How much room the disk holding a store has, in words: what a start refused by SQLite on a full disk
says, and where ``meshpos doctor`` draws its line.

SQLite reports a full disk at open as ``disk I/O error`` (it cannot grow the WAL index), which sent an
operator to look for a broken disk; a running store's commit says ``database or disk is full``.
**Changed** (outside, sixth round; the twentieth session): a store that cannot be prepared says how
little room is left where it is, and what to do (tests/outside/test_full_disk_start.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

DISK_PROBLEM_BYTES = 64 << 20
"""Below this much free space the store may soon refuse commits (a sale is a few kB): doctor's problem."""


def low_disk_words(path: Path) -> str:
    """``" (only N free ...)"`` when the disk holding ``path`` has under ``DISK_PROBLEM_BYTES`` free,
    else "" (and "" when even that cannot be looked at: the caller's error stands on its own)."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    if free >= DISK_PROBLEM_BYTES:
        return ""
    return f" (the disk holding it has only {free:,} bytes free: free disk space and start again)"
