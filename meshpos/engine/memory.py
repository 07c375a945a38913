"""Giving freed memory back to the operating system after a business day or a venue is unloaded.

pycrdt documents are Rust allocations: dropping a document frees them to glibc's allocator, which keeps
the pages (RSS stays where it was) until ``malloc_trim``. One home for that, used by the engine when a
day closes and by the console when a venue's hub unloads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from functools import lru_cache
from typing import Any

log = logging.getLogger("meshpos.engine")


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect cycles, then return freed heap pages to the OS (glibc; a no-op elsewhere)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
