"""Giving memory back to the operating system after a business day is unloaded.

Dropping a day's documents frees pycrdt's (Rust) allocations and the Python objects that referred to
them, but glibc keeps freed heap pages mapped for reuse, so the process's RSS would stay at its high-water
mark: a register that unloaded a day of 100,000 sales would look as big as while it held it. A full
garbage collection (reference cycles between the model's objects and their documents) followed by
glibc's ``malloc_trim(0)`` returns the freed pages. Other C libraries (musl, macOS) have no
``malloc_trim``; there the collection alone runs. ``malloc_trim`` walks every glibc arena, the store's
connection threads' included, so which thread calls it does not matter.

No allocator tuning is applied at process start, because none measurably helps (``meshpos bench leak``
at 100,000 sales, docs/benchmarks.md, leak): with the store keeping nothing of a closed day, a closed day
leaves 7-10 MB over a fresh node, and ``MALLOC_ARENA_MAX=2`` or a fixed ``M_MMAP_THRESHOLD`` (so glibc
stops raising it after big frees) left 8-9 MB: noise. What is left is Python's small-object allocator:
it returns a 1 MiB arena only once every object in it is freed, and the few long-lived objects made while
the day was loaded (the closed day's summary, SQLite's cached statements, a timer handle) sit among the
day's objects and keep ~9 arenas. ``PYTHONMALLOC=malloc`` removes that (1.8 MB left) but must be set
before the interpreter starts; it is not worth re-executing the node for while the target (20 MB) holds.
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
