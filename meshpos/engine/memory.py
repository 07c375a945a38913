"""Giving memory back to the operating system after a business day is unloaded.

Dropping a day's documents frees pycrdt's (Rust) allocations and the Python objects that referred to
them, but glibc keeps freed heap pages mapped for reuse, so the process's RSS would stay at its high-water
mark: a register that unloaded a day of 100,000 sales would look as big as while it held it. A full
garbage collection (reference cycles between the model's objects and their documents) followed by
glibc's ``malloc_trim(0)`` returns the freed pages. Other C libraries (musl, macOS) have no
``malloc_trim``; there the collection alone runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from functools import cache

log = logging.getLogger("meshpos.engine")


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> bool:
    """Collect garbage and return freed heap pages to the OS; True if ``malloc_trim`` ran.

    Blocking (a full collection walks every object): the engine runs it in a thread after an unload.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
