"""Ways a database file is damaged behind its owner's back after a clean close, shared by the node
store's and the console's clean-close tests (each file checks its own refusal of every one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def garbage_page(path: Path) -> None:
    """A page (the third) overwritten with random bytes in place."""
    with path.open("r+b") as f:
        f.seek(2 * 4096)
        f.write(os.urandom(4096))


def garbage_page_same_mtime(path: Path) -> None:
    """Damaged in place, and its mtime put back as it was (``touch -r``, ``cp -p``): the ctime differs."""
    st = path.stat()
    garbage_page(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def replaced_by_a_damaged_copy(path: Path) -> None:
    """Another file of the same size (a restore, a copy from another disk) moved in its place."""
    other = path.with_name("other.db")
    shutil.copy2(path, other)  # copy2 keeps the mtime too
    garbage_page(other)
    os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(other, path)
