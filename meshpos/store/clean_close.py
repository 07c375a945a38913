"""The clean-close stamp: proof that a database file is exactly the one a store closed cleanly.

``PRAGMA quick_check`` reads every page, so a start that ran it cost time in proportion to the history kept
(issue 18: months of closed days). A file can only have been damaged if something wrote it after our last
clean close: a crash (its WAL is then not empty, or the stamp was never written), another program, a
restore, a disk that lost writes. So :meth:`SqliteStore.close` stamps the file it closed cleanly (with no
WAL left) in its lock file, and the next open skips the check only if the file still matches that stamp in
everything a write or a replacement changes:

* device, inode and size: a replaced or truncated file;
* ``st_mtime_ns``: every write moves it. The kernel's clock for file times is coarse (a few ms), so a
  write in the same tick as our last one would leave it equal: the stamp first sets the file's mtime one
  nanosecond back, a value no later write can give it (writes set it to the current time);
* ``st_ctime_ns``: moved by every write and every metadata change and never settable, so a copy that
  forged the mtime (``cp -p``, ``touch -d``) still differs;
* the first 100 bytes (SQLite's header: change counter, page count, schema cookie).

A stamp is read once, when the lock is taken, and taking the lock overwrites it: a store that opens the
file and then crashes leaves no stamp, and its next start checks.
"""

from __future__ import annotations

import os
from pathlib import Path

_PREFIX = "clean "


def wal_is_empty(path: Path) -> bool:
    """No ``-wal`` file next to ``path``, or an empty one: the main file alone is the database."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True


def _describe(path: Path) -> str | None:
    """The stamp line of ``path`` as it is now, or None if it cannot be read whole."""
    try:
        st = path.stat()
        with path.open("rb") as f:
            header = f.read(100)
    except OSError:
        return None
    if len(header) < 100:
        return None
    fields = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, header.hex())
    return _PREFIX + " ".join(str(f) for f in fields)


def stamp(path: Path) -> str | None:
    """After a clean close: set the file's mtime a nanosecond back and return the stamp line (None if
    there is a WAL left or the file cannot be stamped; the next open then checks)."""
    if not wal_is_empty(path):
        return None
    try:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1))
    except OSError:
        return None
    return _describe(path)


def matches(path: Path, stamp_line: str | None) -> bool:
    """True only if ``path`` is the file ``stamp_line`` describes and has no WAL beside it."""
    if not stamp_line or not stamp_line.startswith(_PREFIX) or not wal_is_empty(path):
        return False
    return _describe(path) == stamp_line


def stamp_of(lock_text: str) -> str | None:
    """The stamp line in a lock file's text (its lines after the holder's pid), if any."""
    return next((line for line in lock_text.splitlines() if line.startswith(_PREFIX)), None)
